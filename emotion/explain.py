"""Why this emotion? Occlusion sensitivity: hide one patch of the face at a time and see how much the answer drops.

The classifier's class-activation map comes from its last feature map, 3×3 cells for a 96 px face: one blob that
barely moves between a smile and a neutral face. Occlusion works on the input instead, at any granularity, for any
model (the fast int8 one too) and measures what the model actually uses: a patch whose hiding lowers the predicted
class's probability is evidence for it. It costs one batch of views per face (64 views at the defaults: 16 px patches
every 12 px; every 8 px gave 121 views, twice the time, for the same regions — bench.explain), so the page computes it
on request, not for every upload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emotion.classifier import OnnxEmotionClassifier

INNER_FACE = (0.20, 0.95, 0.15, 0.85)  # rows and columns (fractions) of eyes, brows, nose and mouth in a FER crop


@dataclass(frozen=True)
class Explanation:
    heat: np.ndarray  # (S, S) float32 in [0, 1]: evidence for ``emotion`` at each pixel of the face crop
    emotion: str
    probability: float  # of ``emotion`` on the whole face
    views: int  # occluded copies classified

    def inner_share(self) -> float:
        """Share of the heat inside the inner face region (eyes, brows, nose, mouth)."""
        return inner_share(self.heat)


def occlusion(classifier: OnnxEmotionClassifier, face: np.ndarray, emotion: str | None = None, patch: int = 16,
              stride: int = 12, batch: int = 64) -> Explanation:
    """Evidence map for ``emotion`` (default: the predicted one) on ``face``, the classifier's input crop (uint8 or
    float grey S×S, S = the model's input size). Each pixel gets the mean drop in probability over the patches that
    hide it; negative drops (hiding helps) count as no evidence."""
    size = classifier.input_size
    x = np.asarray(face, np.float32)
    if x.max() > 1.0:
        x = x / 255.0
    if x.shape != (size, size):
        raise ValueError(f"face must be {size}×{size}, the classifier's input, got {x.shape}")
    base = classifier.probabilities(x[None, None])[0]
    target = classifier.classes.index(emotion) if emotion else int(base.argmax())
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    boxes = [(r, c) for r in starts for c in starts]
    fill = float(x.mean())  # a patch of the face's own average grey: hides detail without adding an edge of black
    drops = np.empty(len(boxes), np.float32)
    for i in range(0, len(boxes), batch):
        chunk = boxes[i:i + batch]
        views = np.repeat(x[None, None], len(chunk), axis=0)
        for k, (r, c) in enumerate(chunk):
            views[k, 0, r:r + patch, c:c + patch] = fill
        drops[i:i + len(chunk)] = base[target] - classifier.probabilities(views)[:, target]
    total, count = np.zeros((size, size), np.float32), np.zeros((size, size), np.float32)
    for (r, c), d in zip(boxes, drops):
        total[r:r + patch, c:c + patch] += max(float(d), 0.0)
        count[r:r + patch, c:c + patch] += 1
    heat = total / np.maximum(count, 1)
    heat = heat / heat.max() if heat.max() > 0 else heat
    return Explanation(heat.astype(np.float32), classifier.classes[target], float(base[target]), len(boxes))


def inner_share(heat: np.ndarray) -> float:
    """Share of a heat map's mass inside ``INNER_FACE`` (nan for an all-zero map)."""
    h, w = heat.shape
    r0, r1, c0, c1 = INNER_FACE
    inner = heat[int(r0 * h):int(r1 * h), int(c0 * w):int(c1 * w)].sum()
    total = heat.sum()
    return float(inner / total) if total > 0 else float("nan")
