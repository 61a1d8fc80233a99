"""The web layer's parts, in process: configuration, the request guard's rules, the proxy rule, the stores."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tests.conftest import ROOT
from web.config import ServerConfig, markdown_table
from web.face_views import ExpiringStore
from web.guard import EventRule, RequestGuard
from web.ratelimit import RateLimiter


def test_the_documented_configuration_is_the_code():
    assert markdown_table() in (ROOT / "docs" / "API.md").read_text()


def test_config_reads_every_variable_once_and_refuses_nonsense():
    c = ServerConfig.from_env({"EMOTION_RATE_LIMIT": "7", "EMOTION_MAX_FILE_MB": "12", "EMOTION_MULTI_FACE": "Largest",
                               "FORWARDED_ALLOW_IPS": "10.0.0.1", "EMOTION_STREAMS_TOTAL": "3"})
    assert (c.rate_limit_per_minute, c.pipeline.max_file_mb, c.pipeline.multi_face, c.streams_total) == (7, 12.0, "largest", 3)
    assert c.forwarded_allow_ips == "10.0.0.1" and c.max_image_bytes == 12 * 2**20
    assert ServerConfig.from_env({}) == ServerConfig()
    with pytest.raises(ValueError, match="EMOTION_RATE_LIMIT"):
        ServerConfig.from_env({"EMOTION_RATE_LIMIT": "many"})


class _Events:
    """A stand-in for Gradio's queue: events with a client and a connection type."""

    def __init__(self):
        self.items = []

    def add(self, host: str, stream: bool):
        req = type("R", (), {"client": type("C", (), {"host": host})()})()
        fn = type("F", (), {"connection": "stream" if stream else "sse"})()
        self.items.append(type("E", (), {"request": req, "fn": fn})())


async def _ok_app(scope, receive, send):
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps({"echo": len(body)}).encode()})


def _guard(tmp_path: Path, events: _Events, trusted: list[str] | None = None, **kw):
    rules = {0: EventRule("predict"), 1: EventRule("live", data_urls=True, stream=True), 2: EventRule("batch", max_files=3)}
    opts = dict(max_json_bytes=4096, max_image_json_bytes=64 * 1024, max_upload_bytes=10_000, events_per_client=2,
                streams_per_client=1, streams_total=2, flood_per_minute=1000)
    opts.update(kw)
    guard = RequestGuard(_ok_app, rules_by_fn=rules, fn_by_api_name={"predict": 0, "batch": 2}, read_roots=[tmp_path],
                         queue_events=lambda: events.items, queue_size=10, **opts)
    return ProxyHeadersMiddleware(guard, trusted_hosts=trusted or [])


def _post(app, path: str, body, headers=None) -> httpx.Response:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5000)), base_url="http://t") as c:
            return await c.post(path, json=body, headers=headers or {})
    return asyncio.run(go())


def test_guard_admits_only_files_in_its_roots(tmp_path):
    ok = tmp_path / "upload" / "a.jpg"
    ok.parent.mkdir()
    ok.write_bytes(b"x")
    (tmp_path / "escape.jpg").symlink_to("/etc/hostname")
    app, file = _guard(tmp_path, _Events()), lambda p: {"path": str(p), "meta": {"_type": "gradio.FileData"}}
    assert _post(app, "/gradio_api/call/predict", {"data": [file(ok)]}).status_code == 200
    for bad in ("/etc/hostname", "/dev/zero", tmp_path / "escape.jpg", f"{tmp_path}/../etc/hostname", "http://127.0.0.1/x.jpg"):
        r = _post(app, "/gradio_api/call/predict", {"data": [file(bad)]})
        assert r.status_code == 400 and r.json()["error"] == "invalid_image", bad
    r = _post(app, "/gradio_api/call/predict", {"data": [{"url": "data:image/png;base64,AAAA", "path": None}]})
    assert r.status_code == 400  # inline images only where the event takes webcam frames
    assert _post(app, "/gradio_api/queue/join", {"data": [{"url": "data:image/png;base64,AAAA"}], "fn_index": 1,
                                                 "session_hash": "s"}).status_code == 200


def test_guard_counts_files_and_bounds_bodies(tmp_path):
    app, entry = _guard(tmp_path, _Events()), {"path": str(tmp_path / "missing.jpg")}
    assert _post(app, "/gradio_api/call/batch", {"data": [[entry] * 4]}).json()["error"] == "too_many_files"
    assert _post(app, "/gradio_api/call/predict", {"data": ["x" * 5000]}).status_code == 413
    assert _post(app, "/gradio_api/call/nope", {"data": []}).status_code == 404
    for fn_index in (7, "0", True, None):
        assert _post(app, "/gradio_api/queue/join", {"data": [], "fn_index": fn_index}).json()["error"] == "invalid_request"


def test_guard_shares_the_queue_between_clients(tmp_path):
    events = _Events()
    app = _guard(tmp_path, events, trusted=["127.0.0.1"])
    for _ in range(2):
        events.add("1.1.1.1", stream=False)
    r = _post(app, "/gradio_api/queue/join", {"data": [None], "fn_index": 0}, {"X-Forwarded-For": "1.1.1.1"})
    assert r.status_code == 429 and r.json()["error"] == "busy" and r.headers["retry-after"]
    assert _post(app, "/gradio_api/queue/join", {"data": [None], "fn_index": 0}, {"X-Forwarded-For": "2.2.2.2"}).status_code == 200
    events.add("3.3.3.3", stream=True)
    assert _post(app, "/gradio_api/queue/join", {"data": [None], "fn_index": 1}, {"X-Forwarded-For": "3.3.3.3"}).status_code == 429
    events.add("4.4.4.4", stream=True)
    r = _post(app, "/gradio_api/queue/join", {"data": [None], "fn_index": 1}, {"X-Forwarded-For": "5.5.5.5"})
    assert r.status_code == 503 and r.json()["error"] == "busy"


@pytest.mark.parametrize("trusted, distinct", [([], False), (["127.0.0.1"], True)])
def test_forwarded_address_is_trusted_only_from_configured_proxies(tmp_path, trusted, distinct):
    app = _guard(tmp_path, _Events(), trusted=trusted, flood_per_minute=2)
    codes = [_post(app, "/gradio_api/call/predict", {"data": [None]}, {"X-Forwarded-For": f"9.9.9.{i}"}).status_code
             for i in range(3)]
    assert codes == ([200, 200, 200] if distinct else [200, 200, 429])


def test_rate_limiter_says_when_to_come_back():
    now = [0.0]
    rl = RateLimiter(per_minute=3, clock=lambda: now[0])
    assert rl.allow("a", cost=2) and not rl.allow("a", cost=2) and rl.allow("a")
    now[0] = 15.0
    assert rl.retry_after("a") == 45 and rl.retry_after("b") == 1


def test_face_views_expire_and_are_dropped():
    now = [0.0]
    store: ExpiringStore[str] = ExpiringStore(ttl_s=10, capacity=2, clock=lambda: now[0])
    store.put("s1", "a")
    store.put("s2", "b")
    store.put("s3", "c")  # over capacity: the oldest goes
    assert store.get("s1") is None and store.get("s2") == "b"
    store.drop("s2")
    assert store.get("s2") is None
    now[0] = 10.0
    assert store.get("s3") is None and len(store) == 0


def test_uploads_leave_the_disk_when_read_and_stay_in_memory_only_as_long_as_needed(tmp_path):
    from emotion.errors import ImageRejected
    from web.uploads import UploadStore

    now = [0.0]
    store = UploadStore(tmp_path, max_file_bytes=100, linger_s=5, owner_ttl_s=60, max_bytes=250, clock=lambda: now[0])

    def upload(name: str, data: bytes) -> Path:
        p = tmp_path / name.split(".")[0] / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        return p

    api, page = upload("a.jpg", b"a" * 80), upload("b.jpg", b"b" * 80)
    assert store.read(api) == b"a" * 80 and not api.exists() and not api.parent.exists()
    assert store.read(page, owner="tab-1") == b"b" * 80 and not page.exists()
    assert store.read(api) == b"a" * 80  # a second request naming the same shared upload, within the linger time
    now[0] = 6.0
    with pytest.raises(ImageRejected, match="no longer on the server"):
        store.read(api)
    assert store.read(page, owner="tab-1") == b"b" * 80  # the page re-runs its batch a minute later
    store.forget("tab-1")
    with pytest.raises(ImageRejected, match="no longer"):
        store.read(page, owner="tab-1")
    for i in range(4):  # the memory cap: the oldest go first
        store.read(upload(f"c{i}.jpg", bytes([i]) * 80), owner="tab-2")
    assert store.bytes_held <= 250
    with pytest.raises(ImageRejected, match="uploaded to this server"):
        store.read("/etc/hostname")
    with pytest.raises(ImageRejected, match="too large"):
        store.read(upload("big.jpg", b"x" * 101))


def test_the_same_photo_sent_by_several_clients_at_once_reaches_each_of_them(tmp_path):
    """Gradio stores identical uploads at one path: every request naming it gets the bytes, whichever reads (and
    deletes) the file first, and also a request that waited a while in the queue."""
    import threading

    from web.uploads import UploadStore

    now = [0.0]
    store = UploadStore(tmp_path, max_file_bytes=10**6, clock=lambda: now[0])
    path = tmp_path / "hash" / "photo.jpg"
    path.parent.mkdir()
    path.write_bytes(b"p" * 100_000)
    got, errors, start = [], [], threading.Barrier(8)

    def client():
        start.wait()
        try:
            got.append(store.read(path))
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            errors.append(e)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors and got == [b"p" * 100_000] * 8 and not path.exists()
    now[0] = 30.0  # a ninth client queued behind a busy server
    assert store.read(path) == b"p" * 100_000


def test_an_oversized_upload_is_refused_and_deleted(tmp_path):
    from emotion.errors import ImageRejected
    from web.uploads import UploadStore

    big = tmp_path / "x" / "big.jpg"
    big.parent.mkdir()
    big.write_bytes(b"\xff\xd8\xff" + b"0" * 200)
    with pytest.raises(ImageRejected, match="too large"):
        UploadStore(tmp_path, max_file_bytes=100).read(big)
    assert not big.exists()


def test_example_photos_are_read_but_never_deleted(tmp_path):
    from web.uploads import UploadStore

    shared = tmp_path / "examples"
    shared.mkdir()
    (shared / "a.jpg").write_bytes(b"abc")
    store = UploadStore(tmp_path / "uploads", max_file_bytes=100, shared=(shared,))
    assert store.read(shared / "a.jpg") == b"abc" and (shared / "a.jpg").exists()
