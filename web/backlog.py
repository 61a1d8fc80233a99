"""Answers nobody reads: a bound on the messages Gradio keeps for a session until its page reads ``/queue/data``.

Gradio queues every message of an event (estimation, start, progress, the answer with its outputs) per session and
keeps it until the session's event stream reads it, for as long as the session is among its 2,000 most recent. One
client that sent 30 photos and never read its stream kept 83 MB (each answer carries the inline preview), and
10 × 15 such events kept 370 MB after the attack. This wraps the queue's ``send_message``: a session keeps at most
``max_messages`` undelivered messages (the oldest go first), and undelivered messages older than ``ttl_s`` are
dropped (checked as messages are sent and by a timer on the event loop while any are waiting). A page that reads its
stream gets every message within milliseconds, far inside both bounds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Callable

log = logging.getLogger("web.backlog")


class BoundedBacklog:
    def __init__(self, queue, max_messages: int = 48, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.queue, self.max_messages, self.ttl_s, self.clock = queue, max_messages, ttl_s, clock
        self.stamps: dict[str, deque[float]] = {}  # per session: when each still-queued message was queued, oldest first
        self._send = queue.send_message
        self._timer: asyncio.TimerHandle | None = None
        self.dropped = 0

    def install(self) -> "BoundedBacklog":
        self.queue.send_message = self.send_message  # an instance attribute: only this app's queue is wrapped
        return self

    def send_message(self, event, message) -> None:
        self._send(event, message)
        session = getattr(event, "session_hash", None)
        pending = self.queue.pending_messages_per_session.get(session) if session is not None else None
        if pending is None:
            return
        stamps = self._trimmed(session, pending)
        stamps.append(self.clock())
        while pending.qsize() > self.max_messages:
            self._drop_one(session, pending)
        self.sweep()
        self._arm()

    def _trimmed(self, session: str, pending) -> deque[float]:
        """The session's stamps, less those of messages its stream has read since (it reads the oldest first)."""
        stamps = self.stamps.setdefault(session, deque())
        while len(stamps) > pending.qsize():
            stamps.popleft()
        return stamps

    def _drop_one(self, session: str, pending) -> None:
        try:
            pending.get_nowait()
        except asyncio.QueueEmpty:
            return
        stamps = self.stamps.get(session)
        if stamps:
            stamps.popleft()
        self.dropped += 1

    def sweep(self) -> int:
        """Drop every undelivered message older than ``ttl_s``; forget sessions with nothing waiting. On the loop."""
        now, dropped = self.clock(), 0
        sessions = self.queue.pending_messages_per_session
        for session in list(self.stamps):
            pending = sessions.get(session)
            stamps = self._trimmed(session, pending) if pending is not None else deque()
            while stamps and now - stamps[0] > self.ttl_s:
                self._drop_one(session, pending)
                dropped += 1
            if not stamps:
                self.stamps.pop(session, None)
        if dropped:
            log.info("dropped %d answer(s) nobody read in %.0f s", dropped, self.ttl_s)
        return dropped

    def _arm(self) -> None:
        """A sweep after ``ttl_s`` while messages wait (so memory comes back even when no new message is sent)."""
        if self._timer is not None or not self.stamps:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def tick():
            self._timer = None
            self.sweep()
            self._arm()

        self._timer = loop.call_later(self.ttl_s / 2, tick)
