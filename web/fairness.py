"""The video slot, shared fairly: clips are charged by the time they take, not by the request.

One clip is analysed at a time (its frames share the photo pipeline). A clip's cost is its work — frames × faces —
which its length alone does not tell: two 60 s clips with 14 faces a frame held the slot for 145 s each while another
client's 5 s clip waited more than 200 s. So:

- when the slot frees, the waiting client that used the least slot time in the last ``window_s`` goes first (ties:
  first come), so a client's second clip waits behind everyone else's first;
- while another client waits, a clip that has held the slot longer than ``slice_s`` is stopped at its next frame
  (``busy``: the client is told to send a shorter clip or try again), so nobody waits more than about ``slice_s``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator


@dataclass
class Turn:
    """A client's hold on the slot; ``overdue`` says whether it should give way now."""

    slot: "FairSlot"
    client: str
    started: float

    def elapsed(self) -> float:
        return self.slot.clock() - self.started

    def overdue(self) -> bool:
        return self.elapsed() > self.slot.slice_s and self.slot.others_waiting(self.client)


class FairSlot:
    def __init__(self, capacity: int = 1, slice_s: float = 30.0, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic):
        self.capacity, self.slice_s, self.window_s, self.clock = max(1, capacity), slice_s, window_s, clock
        self._cond = threading.Condition()
        self._holders = 0
        self._waiting: dict[int, str] = {}  # arrival number → client
        self._arrivals = itertools.count()
        self._used: dict[str, deque[tuple[float, float]]] = {}  # client → (ended at, seconds held), oldest first

    def usage(self, client: str) -> float:
        """Seconds ``client`` held the slot in the last ``window_s``."""
        spans = self._used.get(client)
        if not spans:
            return 0.0
        while spans and self.clock() - spans[0][0] > self.window_s:
            spans.popleft()
        if not spans:
            self._used.pop(client, None)
        return sum(s for _, s in spans)

    def others_waiting(self, client: str) -> bool:
        with self._cond:
            return any(c != client for c in self._waiting.values())

    def _first(self) -> int:
        return min(self._waiting, key=lambda n: (self.usage(self._waiting[n]), n))

    @contextmanager
    def hold(self, client: str) -> Iterator[Turn]:
        with self._cond:
            me = next(self._arrivals)
            self._waiting[me] = client
            try:
                while self._holders >= self.capacity or self._first() != me:
                    self._cond.wait(0.5)
            finally:
                del self._waiting[me]
            self._holders += 1
        turn = Turn(self, client, self.clock())
        try:
            yield turn
        finally:
            with self._cond:
                self._holders -= 1
                self._used.setdefault(client, deque()).append((self.clock(), turn.elapsed()))
                self._cond.notify_all()
