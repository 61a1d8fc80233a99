"""The web layer's parts, in process: configuration, the request guard's rules, the proxy rule, the stores."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from web.proxy import ClientFromProxy

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
    return ClientFromProxy(guard, tuple(trusted or ()))


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


@pytest.mark.parametrize("environ, trusted", [({}, ()), ({"SYSTEM": "spaces", "SPACE_ID": "me/app"}, ("*",)),
                                              ({"SPACE_ID": "me/app"}, ("*",)), ({"SYSTEM": "linux"}, ()),
                                              ({"SYSTEM": "spaces", "FORWARDED_ALLOW_IPS": "10.0.0.0/8"}, ("10.0.0.0/8",))])
def test_a_space_trusts_its_proxy_without_settings(environ, trusted):
    c = ServerConfig.from_env(environ)
    assert c.trusted_proxies == trusted and c.connection_limits.trusted == trusted


@pytest.mark.parametrize("environ, distinct", [({}, False), ({"SYSTEM": "spaces", "SPACE_ID": "me/app"}, True)])
def test_on_a_space_each_visitor_is_the_hop_the_proxy_appended(tmp_path, environ, distinct):
    """Behind the Space's proxy (the peer) visitors are told apart by the address it appended, and a visitor who
    writes X-Forwarded-For itself stays who the proxy says it is (what it wrote stands left and is ignored)."""
    app = _guard(tmp_path, _Events(), trusted=list(ServerConfig.from_env(environ).trusted_proxies), flood_per_minute=2)
    post = lambda xff: _post(app, "/gradio_api/call/predict", {"data": [None]}, {"X-Forwarded-For": xff}).status_code
    assert [post(f"9.9.9.{i}") for i in range(3)] == ([200, 200, 200] if distinct else [200, 200, 429])
    forged = [post(f"6.6.6.{i}, 8.8.8.8") for i in range(3)]  # one visitor (8.8.8.8) choosing a new name each time
    assert forged == ([200, 200, 429] if distinct else [429, 429, 429])


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
    assert store.read(api) == b"a" * 80 and not api.exists()
    # its (now empty) folder stays for the janitor: another client may be uploading the same photo into it right now
    assert api.parent.is_dir() and not any(api.parent.iterdir())
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


def test_the_client_is_the_rightmost_untrusted_hop_even_when_every_proxy_is_trusted(tmp_path):
    """B9: with FORWARDED_ALLOW_IPS=* a client that writes its own X-Forwarded-For entries cannot pick its identity."""
    from web.proxy import client_address

    assert client_address("1.2.3.4, 5.6.7.8, 10.0.0.7", ("10.0.0.0/8",)) == "5.6.7.8"
    assert client_address("forged, 5.6.7.8", ()) == "5.6.7.8"
    app = _guard(tmp_path, _Events(), trusted=["*"], flood_per_minute=2)
    codes = [_post(app, "/gradio_api/call/predict", {"data": [None]}, {"X-Forwarded-For": f"9.9.9.{i}, 8.8.8.8"}).status_code
             for i in range(3)]
    assert codes == [200, 200, 429]  # the forged leftmost entries changed nothing: 8.8.8.8 is over its limit


def test_only_the_gradio_routes_the_app_uses_are_reachable(tmp_path):
    """B8, B11: /run/, /api/, process_recording, component_server, run history, login … never reach Gradio."""
    app = _guard(tmp_path, _Events())
    for path in ("/gradio_api/run/predict", "/gradio_api/api/predict", "/gradio_api/process_recording",
                 "/gradio_api/component_server", "/gradio_api/run-history/connect", "/gradio_api/vibe-edit", "/login"):
        r = _post(app, path, {"data": [None], "fn_index": 0})
        assert r.status_code == 404 and r.json()["error"] == "invalid_request", path

    async def get(path):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5000)), base_url="http://t") as c:
            return await c.get(path)
    for path in ("/gradio_api/runs", "/gradio_api/proxy=http://x", "/monitoring", "/gradio_api/dev/reload"):
        assert asyncio.run(get(path)).status_code == 404, path
    for path in ("/", "/config", "/gradio_api/info", "/gradio_api/queue/data", "/gradio_api/heartbeat/abc", "/health",
                 "/gradio_api/file=/tmp/x.jpg", "/assets/index.js"):
        assert asyncio.run(get(path)).status_code == 200, path
    assert _post(app, "/gradio_api/call/predict", {"data": [None]}).status_code == 200


def test_concurrent_requests_cannot_all_pass_the_share_check(tmp_path):
    """B7: places are reserved atomically when a request passes, until it is answered (queued)."""
    gate = asyncio.Event()

    async def slow_app(scope, receive, send):
        await gate.wait()
        await _ok_app(scope, receive, send)

    events = _Events()
    rules = {0: EventRule("predict")}
    guard = RequestGuard(slow_app, rules_by_fn=rules, fn_by_api_name={"predict": 0}, read_roots=[tmp_path],
                         queue_events=lambda: events.items, queue_size=64, max_json_bytes=4096, max_image_json_bytes=8192,
                         max_upload_bytes=10_000, events_per_client=4, streams_per_client=1, streams_total=2)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guard, client=("127.0.0.1", 5000)), base_url="http://t") as c:
            jobs = [asyncio.create_task(c.post("/gradio_api/call/predict", json={"data": [None]})) for _ in range(24)]
            await asyncio.sleep(0.2)
            gate.set()
            return [r.status_code for r in await asyncio.gather(*jobs)]
    codes = asyncio.run(go())
    assert codes.count(200) == 4 and codes.count(429) == 20
    assert guard.pending == {} and guard.inflight == {} and guard.inflight_total == 0  # all released


def test_bodies_in_flight_are_bounded_per_client_and_json_object_floods_refused_unparsed(tmp_path):
    """B3, B4: many tiny objects are counted before parsing; bytes being received count against a budget."""
    app = _guard(tmp_path, _Events(), max_image_json_bytes=2**20)
    flood = {"data": [[{}] * 30_000], "fn_index": 1, "session_hash": "s"}
    r = _post(app, "/gradio_api/queue/join", flood)
    assert r.status_code == 413 and r.json()["error"] == "invalid_request"
    big = {"data": ["x" * 10_000], "fn_index": 0, "session_hash": "s"}  # over the JSON limit for an event without frames
    assert _post(app, "/gradio_api/queue/join", big).status_code == 413
    tight = _guard(tmp_path, _Events(), inflight_per_client=1000)
    r = _post(tight, "/gradio_api/call/predict", {"data": ["x" * 2000]})
    assert r.status_code == 429 and r.json()["error"] == "busy" and r.headers["retry-after"]


def test_rate_limiter_can_be_asked_without_counting():
    from web.ratelimit import RateLimiter

    t = [0.0]
    rl = RateLimiter(2, clock=lambda: t[0])
    assert rl.would_allow("a") and rl.would_allow("a", cost=2) and not rl.would_allow("a", cost=3)
    assert rl.allow("a") and rl.allow("a") and not rl.would_allow("a")
    t[0] = 61.0
    assert rl.would_allow("a", cost=2)


def test_a_multipart_body_of_many_parts_is_refused_before_parsing():
    from emotion.errors import ImageRejected
    from web.rest import MAX_PARTS, file_field

    body = b"".join(b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n" for _ in range(MAX_PARTS + 5)) + b"--b--\r\n"
    with pytest.raises(ImageRejected) as e:
        file_field(body, "multipart/form-data; boundary=b")
    assert "too many parts" in e.value.message
    ok = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nDATA\r\n--b--\r\n'
    assert file_field(ok, "multipart/form-data; boundary=b") == b"DATA"


def test_decoding_cost_is_counted_in_pixels():
    import io as _io

    from PIL import Image as _Image

    from emotion.validation import decode_cost

    def png(w, h):
        buf = _io.BytesIO()
        _Image.new("L", (w, h)).save(buf, "PNG")
        return buf.getvalue()
    assert decode_cost(png(100, 100)) == 1
    assert decode_cost(png(6000, 4000)) == 2  # 24 MP of PNG: two photos of the allowance
    assert decode_cost(b"not an image") == 1


def test_live_slots_are_shared_fairly_once_half_are_taken(tmp_path):
    """B12: while slots are plentiful a client may hold two streams; past half of them, one each."""
    events = _Events()
    app = _guard(tmp_path, events, trusted=["127.0.0.1"], streams_per_client=2, streams_total=6)
    join = lambda ip: _post(app, "/gradio_api/queue/join", {"data": [None], "fn_index": 1}, {"X-Forwarded-For": ip})  # noqa: E731
    assert join("1.1.1.1").status_code == 200
    events.add("1.1.1.1", stream=True)
    assert join("1.1.1.1").status_code == 200  # a second one: 1 of 6 slots taken
    events.add("1.1.1.1", stream=True)
    events.add("2.2.2.2", stream=True)
    r = join("2.2.2.2")  # 3 of 6 taken: one each from now on
    assert r.status_code == 429 and r.json()["error"] == "busy"
    assert join("3.3.3.3").status_code == 200


def test_call_v2_keywords_are_checked_before_gradio_sees_them(tmp_path):
    """B11's log noise: an unknown keyword is our 400, not Gradio's 500 with a traceback; files are still counted."""
    events = _Events()
    rules = {0: EventRule("predict"), 2: EventRule("batch", max_files=3)}
    guard = RequestGuard(_ok_app, rules_by_fn=rules, fn_by_api_name={"predict": 0, "batch": 2}, read_roots=[tmp_path],
                         queue_events=lambda: events.items, queue_size=10, max_json_bytes=4096, max_image_json_bytes=8192,
                         max_upload_bytes=10_000, events_per_client=2, streams_per_client=1, streams_total=2,
                         keyword_args={"predict": {"image_file", "model"}, "batch": {"image_files"}})
    r = _post(guard, "/gradio_api/call/v2/predict", {"image_file": None, "bogus": 1})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request" and "image_file" in r.json()["message"]
    assert _post(guard, "/gradio_api/call/v2/predict", {"image_file": None, "model": "fast"}).status_code == 200
    entry = {"path": str(tmp_path / "x.jpg")}
    r = _post(guard, "/gradio_api/call/v2/batch", {"image_files": [entry] * 4})
    assert r.status_code == 413 and r.json()["error"] == "too_many_files"


def test_the_about_tab_names_the_models_class_priors():
    from web.ui_text import model_info_md

    text = model_info_md({"architecture": "ensemble", "model_version": "1.6.0", "classes": ["fear", "surprise"],
                          "temperature": 0.93, "logit_offset": {"fear": 0.6, "surprise": 0.6}})
    assert "Class priors (added to the scores, chosen on validation photos): fear +0.6, surprise +0.6" in text
    assert "Class priors" not in model_info_md({"architecture": "lite0", "logit_offset": {}})


def test_the_page_gets_its_loading_message_and_stylesheets_that_do_not_block_painting():
    """web.delivery.with_splash: the message first in <body>; a stylesheet link loads as "print" until it has arrived
    (one with its own media is left alone); a response that is not a page passes unchanged."""
    from web.delivery import with_splash

    page = (b'<html><head><link rel="stylesheet" crossorigin href="./assets/a.css"><link rel="stylesheet" href="p.css" '
            b'media="print"></head><body style="x"><gradio-app></gradio-app></body></html>')
    out = with_splash(page, '<div id="page-splash">Loading</div>')
    assert out.index(b'<div id="page-splash">') > out.index(b"<body") and out.index(b'<div id="page-splash">') < out.index(b"<gradio-app")
    assert b'href="./assets/a.css" media="print" onload="this.media=\'all\'">' in out
    assert out.count(b' media="') == 2 and b'href="p.css" media="print">' in out
    assert with_splash(b'{"not": "a page"}', "<div>Loading</div>") == b'{"not": "a page"}'
