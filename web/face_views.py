"""The last result of each page session, kept in memory so the face picker can switch faces without re-uploading.

Gradio's own session state outlives a closed tab by an hour, and anyone holding the session hash can read it back
through the picker's event. This store holds a result for ``ttl_s`` at most, forgets it when the tab closes
(``drop``, wired to the page's unload event), and keeps at most ``capacity`` results (oldest dropped first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class ExpiringStore(Generic[T]):
    def __init__(self, ttl_s: float = 120.0, capacity: int = 200, clock: Callable[[], float] = time.monotonic):
        self.ttl_s, self.capacity, self.clock = ttl_s, capacity, clock
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (self.clock(), value)
            self._expire()
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get(self, key: str) -> T | None:
        with self._lock:
            self._expire()
            item = self._items.get(key)
            return item[1] if item else None

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        now = self.clock()
        while self._items:
            key, (t, _) = next(iter(self._items.items()))
            if now - t < self.ttl_s:
                break
            del self._items[key]
