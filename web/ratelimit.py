"""Per-client sliding-window rate limit (in memory, one process): over the limit → a clear error, not a hang."""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class RateLimiter:
    def __init__(self, per_minute: int = 30, clock=time.monotonic, window_s: float = 60.0):
        self.per_minute, self.clock, self.window_s = per_minute, clock, window_s
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, cost: int = 1) -> bool:
        """Count ``cost`` requests for ``client``; False (nothing counted) when that would exceed ``per_minute``
        in the last window."""
        if self.per_minute <= 0:
            return True
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) + cost > self.per_minute:
                return False
            hits.extend([now] * cost)
            if len(self._hits) > 10_000:  # forget idle clients so memory stays bounded
                for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= self.window_s]:
                    del self._hits[key]
            return True

    def would_allow(self, client: str, cost: int = 1) -> bool:
        """What ``allow`` would answer now, without counting anything."""
        if self.per_minute <= 0:
            return True
        now = self.clock()
        with self._lock:
            recent = sum(1 for t in self._hits.get(client, ()) if now - t < self.window_s)
        return recent + cost <= self.per_minute

    def retry_after(self, client: str, cost: int = 1) -> int:
        """Whole seconds until ``cost`` more requests from ``client`` would be allowed (at least 1)."""
        now = self.clock()
        with self._lock:
            hits = list(self._hits.get(client, ()))
        over = len(hits) + cost - self.per_minute
        if over <= 0 or not hits:
            return 1
        oldest_needed = hits[min(over, len(hits)) - 1]
        return max(1, math.ceil(self.window_s - (now - oldest_needed)))
