"""Per-client sliding-window rate limit (in memory, one process): over the limit → a clear error, not a hang."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    def __init__(self, per_minute: int = 30, clock=time.monotonic):
        self.per_minute, self.clock = per_minute, clock
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        """Count one request for ``client``; False when it already made ``per_minute`` in the last 60 s."""
        if self.per_minute <= 0:
            return True
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] >= 60.0:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle clients so memory stays bounded
                for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= 60.0]:
                    del self._hits[key]
            return True
