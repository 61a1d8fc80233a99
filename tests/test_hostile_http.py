"""Hostile clients against a real server: nothing a client sends may freeze it, exhaust it, or read its files.

Each case is bounded in time (HTTP timeouts of a few seconds). Clients are told apart by X-Forwarded-For, which this
server trusts from 127.0.0.1 only (FORWARDED_ALLOW_IPS), as it would from the proxy in front of a Space.
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.attacks import (Wire, bmp, bomb_png, chunk_bomb_png, data_url, float_tiff, health_s, idle_sockets,
                           many_tracks_mkv, noise_png, path_entry, raw_request, rss_mb, sample_index_mp4, scan_bomb_jpeg,
                           still_open, trickle, trickled_bodies, watch)
from tests.conftest import EXAMPLES
from bench.server import running_app
from web.config import ServerConfig

ASTRONAUT = (EXAMPLES / "astronaut.jpg").read_bytes()
TTL_S = 3
CONN_TIMEOUT_S = 2
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    temp_dir, log = tmp / "gradio_tmp", tmp / "server.log"
    temp_dir.mkdir()
    env = dict(FORWARDED_ALLOW_IPS="127.0.0.1", EMOTION_RETENTION_S="2", EMOTION_JANITOR_INTERVAL_S="0.5",
               EMOTION_FACE_VIEW_TTL_S=str(TTL_S), EMOTION_RATE_LIMIT="30", EMOTION_HEADER_TIMEOUT_S=str(CONN_TIMEOUT_S),
               EMOTION_BODY_TIMEOUT_S=str(CONN_TIMEOUT_S),
               # nothing may leave the machine: Gradio's URL fetch (and its DNS-over-HTTPS lookup) would hit a closed port
               HTTP_PROXY=DEAD_PROXY, HTTPS_PROXY=DEAD_PROXY, ALL_PROXY=DEAD_PROXY, NO_PROXY="127.0.0.1,localhost")
    with running_app(temp_dir, log, **env) as (url, proc, _):
        yield {"url": url, "proc": proc, "temp_dir": temp_dir, "log": log}
    assert proc.poll() is None or proc.returncode in (0, -15), "the server died"


def _alive_and_serving(server, ip: str) -> None:
    assert server["proc"].poll() is None
    assert health_s(server["url"], timeout=5) < 1.0
    result = Wire(server["url"], ip).predict_file("face.jpg", ASTRONAUT)
    assert result is not None and result["success"], result


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


# 1. Any file by path ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["/etc/hostname", "/dev/zero", "/proc/self/environ"])
def test_a_path_outside_the_upload_folder_is_refused_unread(server, target):
    wire = Wire(server["url"], "10.1.0.1")
    for reply in (wire.post("/gradio_api/call/predict", {"data": [path_entry(target)]}, timeout=5),
                  wire.join("predict", [path_entry(target)])[0],
                  wire.join("analyse_upload", [path_entry(target)])[0],
                  wire.post("/gradio_api/call/predict_batch", {"data": [[path_entry(str(EXAMPLES / "astronaut.jpg")),
                                                                         path_entry(target)]]}, timeout=5)):
        assert reply.status == 400 and reply.error == "invalid_image" and reply.seconds < 2, reply
    _alive_and_serving(server, "10.1.0.2")


def test_a_symlink_in_the_upload_folder_does_not_lead_out(server):
    link = server["temp_dir"] / "innocent" / "photo.jpg"
    link.parent.mkdir(exist_ok=True)
    link.symlink_to("/etc/hostname")
    reply = Wire(server["url"], "10.1.1.1").post("/gradio_api/call/predict", {"data": [path_entry(str(link))]}, timeout=5)
    assert reply.status == 400 and reply.error == "invalid_image"


# 2. Pixel bombs ---------------------------------------------------------------------------------------------------
def test_pixel_bombs_are_refused_from_the_header_on_every_event(server):
    wire = Wire(server["url"], "10.2.0.1")
    bomb, big = bomb_png(13000), bomb_png(9400)
    before = rss_mb(server["proc"].pid)
    with watch(server["url"], server["proc"].pid) as seen, ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(wire.run, "analyse_frame", [data_url(bomb)]) for _ in range(2)]
        jobs += [pool.submit(Wire(server["url"], f"10.2.1.{i}").run, "analyse_frame", [data_url(big)]) for i in range(3)]
        jobs += [pool.submit(Wire(server["url"], f"10.2.2.{i}").predict_file, "bomb.png", big) for i in range(3)]
        outcomes = [j.result(timeout=60) for j in jobs]
    for out in outcomes[:5]:
        _, data, _ = out
        assert data is not None and "too large" in data[1], out  # the snapshot's verdict carries our message
    for out in outcomes[5:]:
        assert out == {"success": False, "error": "invalid_image", "message": out["message"]} and "too large" in out["message"]
    assert seen["peak_rss_mb"] - before < 300, seen
    assert seen["max_health_s"] < 1.0, seen


# 3. Holding the queue ---------------------------------------------------------------------------------------------
def test_one_client_cannot_hold_the_queue_with_live_streams(server):
    attacker = Wire(server["url"], "10.3.0.1")
    frame = data_url(ASTRONAUT, "image/jpeg")
    opened, refused = [], []
    for _ in range(66):
        reply, session = attacker.join("stream_frame", [frame, None])
        (opened if reply.status == 200 else refused).append(reply if reply.status != 200 else reply.body["event_id"])
    try:
        assert len(opened) <= 2 and len(refused) >= 64
        assert all(r.status == 429 and r.error == "busy" and "retry-after" in r.headers for r in refused)
        _alive_and_serving(server, "10.3.0.2")
    finally:
        for event_id in opened:
            httpx.post(f"{server['url']}/gradio_api/stream/{event_id}/close", timeout=5)


def test_many_clients_share_a_bounded_number_of_streams_and_get_our_busy(server):
    frame = data_url(ASTRONAUT, "image/jpeg")
    opened, replies = [], []
    for i in range(12):
        reply, _ = Wire(server["url"], f"10.3.1.{i}").join("stream_frame", [frame, None])
        replies.append(reply)
        if reply.status == 200:
            opened.append(reply.body["event_id"])
    try:
        refused = [r for r in replies if r.status != 200]
        assert refused and all(r.status == 503 and r.error == "busy" and r.headers.get("retry-after") for r in refused)
        _alive_and_serving(server, "10.3.1.200")  # one-shot requests keep their own slots
    finally:
        for event_id in opened:
            httpx.post(f"{server['url']}/gradio_api/stream/{event_id}/close", timeout=5)


# 4. Floods in one request ------------------------------------------------------------------------------------------
def test_a_request_with_thousands_of_files_is_refused_unparsed(server):
    entry = path_entry("/tmp/x.jpg")
    url = server["url"]
    body = ('{"data": [[' + ",".join(['{"path": "/tmp/x.jpg", "meta": {"_type": "gradio.FileData"}}'] * 40_000) + "]]}").encode()
    status, seconds = raw_request(url, f"POST /gradio_api/call/predict_batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                       f"Content-Length: {len(body)}\r\n", body[:1000])
    assert status == 413 and seconds < 1
    reply = Wire(url, "10.4.0.1").post("/gradio_api/call/predict_batch", {"data": [[entry] * 25]})
    assert reply.status == 413 and reply.error == "too_many_files"
    reply = Wire(url, "10.4.0.1").post("/gradio_api/call/predict", {"data": [[entry] * 2]})
    assert reply.status == 413 and reply.error == "too_many_files"
    _alive_and_serving(server, "10.4.0.2")


def test_oversized_and_unsized_bodies_are_refused_before_reading(server):
    url = server["url"]
    for path in ("/gradio_api/queue/join", "/gradio_api/call/predict", "/gradio_api/upload", "/gradio_api/component_server"):
        status, seconds = raw_request(url, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                           f"Content-Length: 2000000000\r\n", b"{")
        # a route the app does not use is refused before its size is even looked at
        assert status == (404 if path.endswith("component_server") else 413) and seconds < 1, path
    status, _ = raw_request(url, "POST /gradio_api/queue/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 "Transfer-Encoding: chunked\r\n", b"1\r\n{\r\n")
    assert status == 411
    over = ServerConfig().max_image_bytes * 4 // 3 + 2**20  # an inline frame over the photo limit, base64-encoded
    reply = Wire(url, "10.4.1.1").post("/gradio_api/queue/join", {"data": [data_url(noise_png(over))], "fn_index": 0,
                                                                   "session_hash": "x"}, timeout=10)
    assert reply.status == 413 and reply.error == "file_too_large"
    _alive_and_serving(server, "10.4.1.2")


# 5. The page's own events follow the public rules -------------------------------------------------------------------
@pytest.mark.parametrize("payload, mime", [(float_tiff, "image/tiff"), (bmp, "image/bmp")])
def test_private_webcam_events_refuse_what_predict_refuses(server, payload, mime):
    wire = Wire(server["url"], "10.5.0.1")
    _, data, _ = wire.run("analyse_frame", [data_url(payload(), mime)])
    assert data is not None and "Unsupported file type" in data[1]
    assert wire.predict_file("x.jpg", payload())["error"] == "unsupported_format"


def test_webcam_events_share_the_per_client_limit_with_predict(server):
    wire = Wire(server["url"], "10.5.1.1")
    tiny = data_url(bomb_png(64))
    codes = [wire.predict_file("tiny.png", bomb_png(64))["error"] for _ in range(30)]
    assert codes == ["no_face_detected"] * 30
    assert wire.predict_file("tiny.png", bomb_png(64))["error"] == "rate_limited"
    _, data, _ = wire.run("analyse_frame", [tiny])
    assert "Too many requests" in data[1]
    _alive_and_serving(server, "10.5.1.2")  # another visitor is not affected


# 6. Privacy --------------------------------------------------------------------------------------------------------
def test_live_frames_never_touch_the_disk(server):
    wire = Wire(server["url"], "10.6.0.1")
    before = set(_files(server["temp_dir"]))
    frame = data_url(ASTRONAUT, "image/jpeg")
    reply, session = wire.join("stream_frame", [frame, None])
    assert reply.status == 200
    event_id = reply.body["event_id"]
    outputs = []
    with httpx.stream("GET", f"{server['url']}/gradio_api/queue/data?session_hash={session}", timeout=30) as r:
        sent = 0
        for line in r.iter_lines():
            if '"process_streaming"' in line or '"process_completed"' in line:
                outputs.append(line)
                if sent < 20:
                    wire.frame(event_id, session, frame)
                    sent += 1
                elif sent == 20:
                    httpx.post(f"{server['url']}/gradio_api/stream/{event_id}/close", timeout=5)
                    sent += 1
            if '"process_completed"' in line:
                break
    assert len(outputs) >= 10 and all("data:image/jpeg;base64," in o for o in outputs[:10])
    assert set(_files(server["temp_dir"])) - before == set()


def test_the_face_picker_forgets_after_its_time(server):
    from PIL import Image

    from bench.attacks import encode

    pair = Image.new("RGB", (1024, 600), "white")
    pair.paste(Image.open(EXAMPLES / "astronaut.jpg").convert("RGB"), (0, 44))
    pair.paste(Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB"), (512, 0))
    wire = Wire(server["url"], "10.6.1.1")
    path = wire.upload("pair.jpg", encode(pair, "JPEG", quality=92))
    _, out, _ = wire.run("analyse_upload", [path_entry(path)], session="picker-session")
    assert out is not None and out[5]["face_count"] >= 2
    _, now, _ = wire.run("pick_face", ["Face 2"], session="picker-session")
    assert now[4]["success"] and now[4]["emotion"]
    _, other, _ = Wire(server["url"], "10.6.1.2").run("pick_face", ["Face 2"], session="someone-else")
    assert other is None or other[4]["success"] is False
    time.sleep(TTL_S + 0.5)
    _, later, _ = wire.run("pick_face", ["Face 2"], session="picker-session")
    assert later[4]["success"] is False and "no longer kept" in later[4]["message"]


def test_an_upload_named_like_an_example_is_deleted_and_examples_still_served(server):
    wire = Wire(server["url"], "10.6.2.1")
    path = Path(wire.upload("grace_hopper.jpg", (EXAMPLES / "grace_hopper.jpg").read_bytes()))
    assert path.is_file()
    deadline = time.time() + 8
    while path.exists() and time.time() < deadline:
        time.sleep(0.25)
    assert not path.exists()
    r = httpx.get(f"{server['url']}/gradio_api/file={EXAMPLES / 'grace_hopper.jpg'}", timeout=5)
    assert r.status_code == 200 and r.content == (EXAMPLES / "grace_hopper.jpg").read_bytes()
    assert not [p for p in _files(server["temp_dir"]) if p.name in {"astronaut.jpg", "chelsea.jpg"}]


# 7. Quiet errors ---------------------------------------------------------------------------------------------------
def test_errors_show_no_paths_versions_or_traces(server):
    wire = Wire(server["url"], "10.7.0.1")
    logged = len(Path(server["log"]).read_text())
    for fn_index in (9999, -1, "x", None):
        reply = wire.post("/gradio_api/queue/join", {"data": [], "fn_index": fn_index, "session_hash": "s"})
        assert reply.status == 400 and reply.error == "invalid_request"
    assert "Traceback" not in Path(server["log"]).read_text()[logged:]  # a client's mistake is not a server error
    _, data, final = wire.run("predict", [{"not": "a file"}])  # malformed input inside Gradio: a generic error
    assert data is None and final.get("success") is False
    text = str(final)
    assert "Traceback" not in text and "site-packages" not in text and "gradio" not in text.lower().replace("gradio_api", "")


def test_rest_rate_limit_answers_429_with_retry_after(server):
    headers = {"X-Forwarded-For": "10.8.0.1"}
    tiny = bomb_png(64)
    codes = [httpx.post(server["url"] + "/api/predict", files={"file": ("t.png", tiny)}, headers=headers, timeout=10).status_code
             for _ in range(30)]
    assert codes == [422] * 30
    r = httpx.post(server["url"] + "/api/predict", files={"file": ("t.png", tiny)}, headers=headers, timeout=10)
    assert r.status_code == 429 and r.json()["error"] == "rate_limited" and 1 <= int(r.headers["retry-after"]) <= 60


# 8. Connections and decoding cost (hostile clients, round 2) --------------------------------------------------------
def test_idle_and_half_sent_connections_cannot_lock_others_out(server):
    """B1: 600 sockets from one address that send nothing or half a head: it keeps at most its share, everyone else
    is served at once, and the server closes them all after the header deadline."""
    held = idle_sockets(server["url"], 300, "127.0.0.5") + idle_sockets(server["url"], 300, "127.0.0.5", half_head=True)
    try:
        time.sleep(0.3)
        assert still_open(held) <= ServerConfig().connections_per_client
        assert health_s(server["url"], timeout=5) < 1.0
        _alive_and_serving(server, "10.9.0.1")
        time.sleep(CONN_TIMEOUT_S + 1.5)
        assert still_open(held) == 0
    finally:
        for s in held:
            s.close()


def test_a_withheld_last_byte_is_dropped_after_the_body_timeout(server):
    """B4's connection part: a body missing its last byte does not hold a connection (or its buffer) forever."""
    body = b"x" * 100_000
    held = idle_sockets(server["url"], 1, "127.0.0.6")
    try:
        held[0].sendall(f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                        f"Content-Length: {len(body) + 1}\r\n\r\n".encode() + body)
        time.sleep(CONN_TIMEOUT_S + 1.5)
        assert still_open(held) == 0
    finally:
        held[0].close()
    _alive_and_serving(server, "10.9.1.1")


def test_a_progressive_jpeg_scan_bomb_is_refused_before_decoding(server):
    """B2: a 2,000-scan progressive JPEG (64 MP, under the pixel limit) would take a minute to decode."""
    bomb = scan_bomb_jpeg(8000, 2000)
    t0 = time.perf_counter()
    r = httpx.post(server["url"] + "/api/predict", files={"file": ("bomb.jpg", bomb)}, headers={"X-Forwarded-For": "10.9.2.1"},
                   timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "invalid_image" and "scans" in r.json()["message"]
    assert time.perf_counter() - t0 < 2
    out = Wire(server["url"], "10.9.2.2").predict_file("bomb.jpg", bomb)
    assert out["error"] == "invalid_image"
    _alive_and_serving(server, "10.9.2.3")


def test_an_upload_waiting_to_be_read_is_not_served_back(server):
    """B12: a pending upload is the client's raw file (GPS included): nobody fetches it by its path."""
    from tests.corpus import gps_jpeg

    wire = Wire(server["url"], "10.9.3.1")
    path = wire.upload("gps.jpg", gps_jpeg())
    assert Path(path).is_file()  # not read yet
    for url in (f"{server['url']}/gradio_api/file={path}", f"{server['url']}/gradio_api/file/{path.lstrip('/')}"):
        r = httpx.get(url, timeout=5)
        assert r.status_code == 404 and r.json()["error"] == "invalid_request", url
    r = httpx.get(f"{server['url']}/gradio_api/file={EXAMPLES / 'astronaut.jpg'}", timeout=5)
    assert r.status_code == 200  # the examples are still served


# Round 3 (issue #33) ----------------------------------------------------------------------------------------------
def test_a_sample_index_bomb_is_refused_from_its_bytes(server):
    """A 2.4 KB MP4 declaring 3 × 80 M samples cost FFmpeg 5.8 GB to open: refused before it is opened."""
    bomb, mkv = sample_index_mp4(tracks=3), many_tracks_mkv(990)
    before = rss_mb(server["proc"].pid)
    with watch(server["url"], server["proc"].pid) as seen:
        replies = [httpx.post(server["url"] + "/api/predict_video", files={"file": ("clip.mp4", bomb, "video/mp4")},
                              headers={"X-Forwarded-For": "10.33.1.1"}, timeout=20),
                   httpx.post(server["url"] + "/api/predict_video", files={"file": ("clip.mkv", mkv, "video/webm")},
                              headers={"X-Forwarded-For": "10.33.1.2"}, timeout=20)]
    assert (replies[0].status_code, replies[0].json()["error"]) == (422, "video_too_long"), replies[0].text
    assert (replies[1].status_code, replies[1].json()["error"]) == (415, "unsupported_video"), replies[1].text
    assert seen["peak_rss_mb"] - before < 100, seen
    _alive_and_serving(server, "10.33.1.3")


def test_a_file_target_that_is_a_url_is_refused_unfetched(server):
    """Gradio fetched and relayed any URL given as /file=; the server is started with proxies pointing at a closed
    local port, so even a regression could not reach out (nor ask a DNS-over-HTTPS service)."""
    for target in ("http://example.com/big", "https://93.184.216.34/x", "//example.com/x", "HTTP://example.com/x"):
        for route in ("file=", "file/"):
            r = httpx.get(f"{server['url']}/gradio_api/{route}{target}", timeout=5)
            assert r.status_code == 404 and r.json()["error"] == "invalid_request", (route, target, r.text)
    example = f"{server['url']}/gradio_api/file={EXAMPLES / 'astronaut.jpg'}"
    r = httpx.get(example, headers={"Range": "bytes=0-9,20-29"}, timeout=5)  # several ranges: Gradio answered 500
    assert r.status_code == 200 and r.content == ASTRONAUT
    r = httpx.get(example, headers={"Range": "bytes=0-9"}, timeout=5)
    assert r.status_code == 206 and r.content == ASTRONAUT[:10]


def test_long_session_ids_are_refused(server):
    long = "s" * 60_000
    r = httpx.get(f"{server['url']}/gradio_api/queue/data", params={"session_hash": long}, timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = httpx.post(f"{server['url']}/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": long}, timeout=5)
    assert r.status_code == 400 and "session_hash" in r.json()["message"]
    assert Wire(server["url"], "10.33.2.1").join("predict", [path_entry(str(EXAMPLES / "astronaut.jpg"))])[0].status == 200


def _multipart(parts: list[bytes]) -> bytes:
    return b"".join(b"--b\r\n" + p + b"\r\n" for p in parts) + b"--b--\r\n"


def test_uploads_are_scanned_part_by_part_before_gradio_writes_them(server):
    thousand = _multipart([b'Content-Disposition: form-data; name="files"; filename="f%d.jpg"\r\n\r\nx' % i
                           for i in range(1000)])
    cases = [(thousand, 413, "too_many_files"),
             (_multipart([b'Content-Disposition: form-data; name="files"\r\n\r\ntext']), 400, "invalid_request"),
             (_multipart([b'Content-Disposition: form-data; name="files"; filename=""\r\n\r\nx']), 400, "invalid_request")]
    for body, status, code in cases:
        r = httpx.post(f"{server['url']}/gradio_api/upload", content=body, timeout=10,
                       headers={"Content-Type": "multipart/form-data; boundary=b", "X-Forwarded-For": "10.33.3.1"})
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
    written = [p.name for p in _files(server["temp_dir"]) if re.fullmatch(r"f\d+\.jpg|tmp[0-9a-f]{10}", p.name)]
    assert not written  # Gradio wrote none of them (its name for a part without a file name is tmp + 10 hex digits)
    long = "x" * 300  # a boundary over RFC 2046's 70 characters: the REST parser answered 500
    r = httpx.post(f"{server['url']}/api/predict", content=f"--{long}\r\n".encode(),
                   headers={"Content-Type": f"multipart/form-data; boundary={long}", "X-Forwarded-For": "10.33.3.2"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "Exception in ASGI application" not in server["log"].read_text()  # no 500 with a traceback


def test_a_png_of_countless_chunks_is_refused_before_pillow(server):
    bomb = chunk_bomb_png(200_000)
    t0 = time.perf_counter()
    r = httpx.post(server["url"] + "/api/predict", files={"file": ("bomb.png", bomb)}, timeout=30,
                   headers={"X-Forwarded-For": "10.33.4.1"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_image" and "chunks" in r.json()["message"]
    assert time.perf_counter() - t0 < 2


def test_declared_bodies_that_never_arrive_do_not_starve_others(server):
    """12 bodies from 6 clients declaring 512 MB − 64 B in all (the whole in-flight budget), a byte sent of each: they
    cost what arrived, so another client is served (it got 503 busy for as long as they were held); each is cut once
    it falls under the minimum rate."""
    held = trickled_bodies(server["url"], 12, (512 * 2**20 - 64) // 12, clients=6, prefix="10.33.5")
    stop = threading.Event()

    def keep_trickling():  # a byte every 0.5 s: never a gap as long as the body timeout, far under the minimum rate
        while not stop.wait(0.5):
            trickle(held)

    threading.Thread(target=keep_trickling, daemon=True).start()
    try:
        _alive_and_serving(server, "10.33.5.200")
        time.sleep(CONN_TIMEOUT_S + 1.5)  # the grace is the body timeout; then each body is cut at its next byte
        stop.set()
        for sock in held:
            sock.settimeout(5)
            assert sock.recv(200).startswith(b"HTTP/1.1 408 ")  # cut, with our answer
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    text = server["log"].read_text()  # each cut body: one line, no ClientDisconnect traceback
    assert "Exception in ASGI application" not in text and "starlette.requests.ClientDisconnect" not in text
