"""Session statistics since start-up, in memory only (no personal data, nothing on disk)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np

from emotion.result import ErrorResult, PredictionResult


class SessionStats:
    def __init__(self, classes: tuple[str, ...], keep_latencies: int = 10_000):
        self.classes = classes
        self.started = time.time()
        self.requests = 0
        self.faces = 0
        self.emotions: Counter = Counter()
        self.errors: Counter = Counter()
        self.latencies_ms: deque = deque(maxlen=keep_latencies)
        self._lock = threading.Lock()

    def record(self, result: PredictionResult | ErrorResult) -> None:
        with self._lock:
            self.requests += 1
            if isinstance(result, ErrorResult):
                self.errors[result.error] += 1
                return
            self.faces += len(result.faces)
            self.emotions.update(f.emotion for f in result.faces)
            self.latencies_ms.append(result.inference_time_ms)

    def summary(self) -> dict:
        with self._lock:
            lat = np.asarray(self.latencies_ms, dtype=np.float64)
            pct = {f"p{q}": round(float(np.percentile(lat, q)), 2) for q in (50, 95, 99)} if len(lat) else {}
            return {"uptime_seconds": round(time.time() - self.started, 1), "requests": self.requests,
                    "predictions": self.requests - sum(self.errors.values()), "faces": self.faces,
                    "emotions": {c: self.emotions.get(c, 0) for c in self.classes}, "errors": dict(self.errors),
                    "latency_ms": pct}

    def latency_histogram(self, edges_ms: tuple[float, ...] = (0, 10, 20, 30, 50, 75, 100, 200, 500, 1000)) -> list[tuple[str, int]]:
        """(bin label, count) of end-to-end latencies; the last bin is open-ended."""
        lat = self.latencies()
        edges = list(edges_ms) + [np.inf]
        counts = np.histogram(lat, bins=edges)[0] if len(lat) else np.zeros(len(edges) - 1, int)
        labels = [f"{a:g}–{b:g}" if np.isfinite(b) else f"≥{a:g}" for a, b in zip(edges[:-1], edges[1:])]
        return list(zip(labels, (int(c) for c in counts)))

    def latencies(self) -> np.ndarray:
        with self._lock:
            return np.asarray(self.latencies_ms, dtype=np.float64)
