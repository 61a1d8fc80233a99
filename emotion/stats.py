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

    def latencies(self) -> np.ndarray:
        with self._lock:
            return np.asarray(self.latencies_ms, dtype=np.float64)
