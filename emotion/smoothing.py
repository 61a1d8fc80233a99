"""Temporal smoothing for the live webcam: an exponential moving average of the probabilities, so the
label does not flicker between frames."""

from __future__ import annotations

import numpy as np


def ema(previous: np.ndarray | None, current: np.ndarray, alpha: float = 0.35) -> np.ndarray:
    """``alpha`` × current + (1 − alpha) × previous; the first frame (or a shape change) starts afresh."""
    current = np.asarray(current, dtype=np.float32)
    if previous is None or np.shape(previous) != current.shape:
        return current
    out = alpha * current + (1 - alpha) * np.asarray(previous, dtype=np.float32)
    return out / out.sum()
