"""web.fairness: the video slot goes to the client that used it least, and a clip gives way after its slice while
another client waits (issue #33, break 7)."""

from __future__ import annotations

import threading
import time

from web.fairness import FairSlot


def _wait_for(condition, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_the_client_that_used_the_slot_least_goes_first():
    slot, order = FairSlot(1), []
    first = slot.hold("heavy")
    turn = first.__enter__()
    time.sleep(0.05)

    def clip(client: str) -> None:
        with slot.hold(client):
            order.append(client)

    threads = [threading.Thread(target=clip, args=("heavy",))]
    threads[0].start()
    _wait_for(lambda: len(slot._waiting) == 1)
    threads.append(threading.Thread(target=clip, args=("light",)))  # arrives later, has used nothing
    threads[1].start()
    _wait_for(lambda: len(slot._waiting) == 2)
    assert not turn.overdue()  # within its slice
    first.__exit__(None, None, None)
    for t in threads:
        t.join(5)
    assert order == ["light", "heavy"]


def test_a_turn_is_overdue_only_past_its_slice_while_another_client_waits():
    now = [0.0]
    slot = FairSlot(1, slice_s=30, clock=lambda: now[0])
    with slot.hold("a") as turn:
        now[0] = 40.0
        assert not turn.overdue()  # nobody waits: it may go on
        slot._waiting[99] = "a"
        assert not turn.overdue()  # its own next clip does not count
        slot._waiting[100] = "b"
        assert turn.overdue()
        now[0] = 20.0
        assert not turn.overdue()
        slot._waiting.clear()
    now[0] = 100.0
    assert slot.usage("a") == 20.0 and slot.usage("b") == 0.0  # held from 0 to 20
    now[0] = 500.0
    assert slot.usage("a") == 0.0  # outside the window
