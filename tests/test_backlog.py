"""web.backlog: undelivered answers are bounded per session and expire (issue #33, break 3)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from web.backlog import BoundedBacklog


class FakeQueue:
    """The two parts of Gradio's queue that the backlog touches."""

    def __init__(self):
        self.pending_messages_per_session: dict[str, asyncio.Queue] = {}

    def send_message(self, event, message):
        self.pending_messages_per_session.setdefault(event.session_hash, asyncio.Queue()).put_nowait(message)


def test_a_session_keeps_at_most_its_bound_and_the_newest_messages():
    queue, now = FakeQueue(), [0.0]
    backlog = BoundedBacklog(queue, max_messages=5, ttl_s=60, clock=lambda: now[0]).install()
    for i in range(30):
        queue.send_message(SimpleNamespace(session_hash="s"), i)
    pending = queue.pending_messages_per_session["s"]
    assert pending.qsize() == 5 and [pending.get_nowait() for _ in range(5)] == [25, 26, 27, 28, 29]
    assert backlog.dropped == 25


def test_unread_messages_expire_and_read_ones_are_forgotten():
    queue, now = FakeQueue(), [0.0]
    backlog = BoundedBacklog(queue, max_messages=50, ttl_s=60, clock=lambda: now[0]).install()
    for i in range(3):
        queue.send_message(SimpleNamespace(session_hash="idle"), i)
    queue.send_message(SimpleNamespace(session_hash="reader"), "a")
    queue.pending_messages_per_session["reader"].get_nowait()  # its page read it
    now[0] = 30.0
    queue.send_message(SimpleNamespace(session_hash="idle"), 3)
    assert backlog.sweep() == 0 and "reader" not in backlog.stamps  # nothing waits for the reader
    now[0] = 61.0
    assert backlog.sweep() == 3  # the three from t = 0; the one from t = 30 is still within its minute
    assert queue.pending_messages_per_session["idle"].get_nowait() == 3
    now[0] = 200.0
    assert backlog.sweep() == 0 and not backlog.stamps


def test_the_timer_sweeps_without_new_messages():
    async def run():
        queue = FakeQueue()
        backlog = BoundedBacklog(queue, ttl_s=0.2).install()
        queue.send_message(SimpleNamespace(session_hash="s"), "answer")
        await asyncio.sleep(0.5)
        return queue.pending_messages_per_session["s"].qsize(), backlog.stamps

    assert asyncio.run(run()) == (0, {})
