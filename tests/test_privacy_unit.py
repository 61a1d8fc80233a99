import os
import time

from web.privacy import UploadJanitor
from web.ratelimit import RateLimiter


def test_janitor_deletes_old_files_keeps_fresh_ones_and_spares_nothing_by_name(tmp_path):
    old, fresh = tmp_path / "abc" / "upload.jpg", tmp_path / "def" / "new.jpg"
    example, leftover = tmp_path / "123" / "astronaut.jpg", tmp_path / "tmp_empty"
    for p, data in ((old, b"x" * 10), (fresh, b"y"), (example, b"z" * 7), (leftover, b"")):
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
    t = time.time()
    for p in (old, example, leftover, old.parent, example.parent):
        os.utime(p, (t - 100, t - 100))
    j = UploadJanitor(tmp_path, retention_s=30, interval_s=5)
    assert j.sweep(now=t) == 3
    assert not old.exists() and not leftover.exists()
    assert old.parent.is_dir()  # just emptied: a folder goes only after a whole retention empty (same-photo uploads)
    assert fresh.exists() and not example.exists()  # an upload named like an example is an upload
    j.sweep(now=time.time() + 31)
    assert not old.parent.exists()
    assert j.window_s == 35


def test_rate_limit_is_per_client_and_slides():
    now = [0.0]
    rl = RateLimiter(per_minute=3, clock=lambda: now[0])
    assert [rl.allow("a") for _ in range(4)] == [True, True, True, False]
    assert rl.allow("b")
    now[0] = 61.0
    assert rl.allow("a")
    assert RateLimiter(per_minute=0).allow("x")
