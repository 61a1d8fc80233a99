"""Hostile clients, as code: each attack of the hostile-clients issue against a running server, and the probes that
say whether the service held (``/health`` latency, a normal ``/predict`` from another client, server RSS).

Used by ``tests/test_hostile_http.py`` (assertions) and ``bench/attack.py`` (before/after table). Clients tell the
server who they are with ``X-Forwarded-For``, which the server trusts only when started with
``FORWARDED_ALLOW_IPS=127.0.0.1``; an app that ignores the header sees one client.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ASTRONAUT_PATH = EXAMPLES / "astronaut.jpg"
FILE = {"_type": "gradio.FileData"}


# -- payloads -----------------------------------------------------------------------------------------------------
def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def bomb_png(side: int = 13000) -> bytes:
    """A 1-bit PNG of side×side pixels that compresses to a few KB."""
    return encode(Image.new("1", (side, side)), "PNG", optimize=True)


def chunk_bomb_png(chunks: int = 1_460_000) -> bytes:
    """The astronaut as a PNG with ``chunks`` empty private chunks after its header (12 bytes each, valid CRCs): ~17 MB
    under the 20 MB limit, one ordinary photo to every pixel check, ~7 s of Python in Pillow's chunk walk."""
    import zlib

    png = encode(Image.open(ASTRONAUT_PATH).convert("RGB"), "PNG")
    empty = (0).to_bytes(4, "big") + b"zzZz" + zlib.crc32(b"zzZz").to_bytes(4, "big")
    ihdr_end = 8 + 25  # signature, then IHDR's length, type, 13 bytes and CRC
    return png[:ihdr_end] + empty * chunks + png[ihdr_end:]


def float_tiff(side: int = 500) -> bytes:
    """A 32-bit float TIFF (1 MB at 500×500)."""
    return encode(Image.fromarray(np.zeros((side, side), np.float32)), "TIFF")


def bmp() -> bytes:
    return encode(Image.open(EXAMPLES / "astronaut.jpg").convert("RGB"), "BMP")


def noise_png(nbytes: int) -> bytes:
    """A PNG of random pixels of about ``nbytes`` (incompressible)."""
    side = int((nbytes / 3) ** 0.5) + 1
    return encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side, 3), np.uint8)), "PNG", compress_level=0)


def scan_bomb_jpeg(side: int = 8000, scans: int = 2000) -> bytes:
    """A flat grey progressive JPEG whose last (refinement) scan is repeated until it has ``scans`` scans: a few hundred
    KB, under every pixel limit, yet each scan is one more pass over all side² pixels' blocks when decoded."""
    data = encode(Image.new("L", (side, side), 128), "JPEG", progressive=True, quality=90)
    last = data.rfind(b"\xff\xda")
    body, scan = data[:-2], data[last:-2]
    have = data.count(b"\xff\xda")
    return body + scan * max(0, scans - have) + b"\xff\xd9"


def flat_png(side: int = 6000) -> bytes:
    """A valid side×side RGB photo of one flat colour: 36 MP (108 MB decoded) in about 120 KB of PNG."""
    return encode(Image.new("RGB", (side, side), (120, 130, 140)), "PNG", compress_level=9)


def mp4_clip(side: int, fps: int, seconds: float) -> bytes:
    """An MP4 (mp4v) clip of ``seconds`` at ``fps`` of a still side×side grey frame: every frame is a full decode for
    the reader, yet the file is small (a still picture: the frames between key frames are near-empty)."""
    import tempfile
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "clip.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (side, side))
        frame = np.full((side, side, 3), 128, np.uint8)
        frame[side // 4: side // 2, side // 4: side // 2] = 200  # something to encode
        for _ in range(int(fps * seconds)):
            writer.write(frame)
        writer.release()
        return Path(path).read_bytes()


def _box_at(data: bytes | bytearray, path: list[bytes]) -> int:
    """Offset of the first box along ``path`` (e.g. moov, trak, …) of an ISO-BMFF file."""
    start, end, at = 0, len(data), -1
    for kind in path:
        i = start
        while i + 8 <= end and data[i + 4:i + 8] != kind:
            i += int.from_bytes(data[i:i + 4], "big")
        if i + 8 > end:
            raise KeyError(kind)
        at, start, end = i, i + 8, i + int.from_bytes(data[i:i + 4], "big")
    return at


def sample_index_mp4(tracks: int = 3, samples: int = 80_000_000) -> bytes:
    """A valid ~1 KB MP4 whose sample tables now declare ``samples`` samples (stsz with a constant sample size, so no
    table follows; stts and stsc agree), its track repeated ``tracks`` times: a few KB that FFmpeg indexes at ~24
    bytes a declared sample while merely opening it (issue #33's break 1)."""
    d = bytearray(mp4_clip(64, 10, 1))
    stbl = [b"moov", b"trak", b"mdia", b"minf", b"stbl"]
    for box, at, value in ((b"stsz", 12, 1), (b"stsz", 16, samples),  # a constant sample size, ``samples`` of them
                           (b"stts", 16, samples),  # the one time-to-sample entry's sample count
                           (b"stsc", 20, samples)):  # samples per chunk of the one chunk
        i = _box_at(d, stbl + [box]) + at
        d[i:i + 4] = value.to_bytes(4, "big")
    moov, trak = _box_at(d, [b"moov"]), _box_at(d, [b"moov", b"trak"])
    size = int.from_bytes(d[trak:trak + 4], "big")
    d[trak + size:trak + size] = bytes(d[trak:trak + size]) * (tracks - 1)
    d[moov:moov + 4] = (int.from_bytes(d[moov:moov + 4], "big") + size * (tracks - 1)).to_bytes(4, "big")
    return bytes(d)


def _ebml(eid: int, payload: bytes) -> bytes:
    """One EBML element with an 8-byte size."""
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + (0x01 << 56 | len(payload)).to_bytes(8, "big") + payload


def _ebml_children(data: bytes, start: int, end: int):
    """(id, raw element bytes, payload) of each element in [start, end)."""
    i = start
    while i < end:
        n = 8 - data[i].bit_length() + 1
        m = 8 - data[i + n].bit_length() + 1
        size = int.from_bytes(data[i + n:i + n + m], "big") & ((1 << (7 * m)) - 1)
        a = i + n + m
        yield int.from_bytes(data[i:i + n], "big"), data[i:a + size], data[a:a + size]
        i = a + size


def many_tracks_mkv(tracks: int = 990) -> bytes:
    """A valid WebM (VP8) clip whose Tracks element holds ``tracks`` copies of its video track (numbered 1…N), each
    given a copy of the first key frame (~200 KB in all): FFmpeg sets up a stream and a decoder for each while opening it."""
    import tempfile
    from bench.video import make_clip

    with tempfile.TemporaryDirectory() as tmp:
        data = make_clip(Path(tmp) / "clip.webm", 1, 10, (64, 64), fourcc="VP80").read_bytes()
    (_, ebml_head, _), (seg_id, _, segment) = list(_ebml_children(data, 0, len(data)))[:2]
    children = list(_ebml_children(segment, 0, len(segment)))
    out, first_cluster = [], True
    for eid, raw, payload in children:
        if eid == 0x1654AE6B:  # Tracks: its first TrackEntry, renumbered, ``tracks`` times
            entry = next(p for i, _, p in _ebml_children(payload, 0, len(payload)) if i == 0xAE)
            fields = list(_ebml_children(entry, 0, len(entry)))
            copies = [_ebml(0xAE, b"".join(_ebml(0xD7, k.to_bytes(2, "big")) if i == 0xD7 else
                                           _ebml(0x73C5, k.to_bytes(8, "big")) if i == 0x73C5 else r
                                           for i, r, _ in fields)) for k in range(1, tracks + 1)]
            raw = _ebml(eid, b"".join(copies))
        elif eid == 0x1F43B675 and first_cluster:  # the first Cluster: its first SimpleBlock again for every other track
            first_cluster = False
            parts = list(_ebml_children(payload, 0, len(payload)))
            block = next(p for i, _, p in parts if i == 0xA3)
            extra = [_ebml(0xA3, (0x4000 | k).to_bytes(2, "big") + block[1:]) for k in range(2, tracks + 1)]
            raw = _ebml(eid, b"".join(r for _, r, _ in parts) + b"".join(extra))
        elif eid == 0x114D9B74:  # the SeekHead's positions would be wrong now: FFmpeg finds the rest by walking
            continue
        out.append(raw)
    return ebml_head + _ebml(seg_id, b"".join(out))


def empty_parts(nbytes: int, boundary: str = "b") -> bytes:
    """A multipart/form-data body of about ``nbytes`` made of empty parts (about 50 bytes each): no file, all parser."""
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n\r\n'.encode()
    return part * (nbytes // len(part)) + f"--{boundary}--\r\n".encode()


def tiny_objects(nbytes: int, fn_index: int) -> bytes:
    """A /gradio_api/queue/join body of about ``nbytes`` whose first input is a list of tiny JSON objects (8 bytes each)."""
    items = b",".join([b'{"a":0}'] * (nbytes // 8))
    return (b'{"data": [[' + items + b'], null], "fn_index": ' + str(fn_index).encode()
            + b', "session_hash": "objects", "event_data": null, "trigger_id": null}')


def idle_sockets(url: str, n: int, source: str, half_head: bool = False) -> list[socket.socket]:
    """``n`` TCP connections from ``source`` (a loopback address: 127.x.y.z) that send nothing, or half a request
    head; the caller closes them. Stops early when the server refuses or resets a connection."""
    u = urlparse(url)
    out = []
    for _ in range(n):
        s = socket.socket()
        s.bind((source, 0))
        try:
            s.connect((u.hostname, u.port))
            if half_head:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            s.close()
            break
        out.append(s)
    return out


def trickled_bodies(url: str, n: int, length: int, path: str = "/api/predict_video", clients: int = 6,
                    prefix: str = "10.66.20") -> list[socket.socket]:
    """``n`` requests (from 127.0.0.1, as ``clients`` clients by X-Forwarded-For) each declaring a ``length``-byte
    body and sending its first byte only; the caller trickles more with ``trickle`` and closes them."""
    u = urlparse(url)
    out = []
    for i in range(n):
        s = socket.create_connection((u.hostname, u.port), timeout=5)
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {prefix}.{i % clients}\r\n"
                  f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n-".encode())
        out.append(s)
    return out


def trickle(sockets: list[socket.socket]) -> None:
    """One more byte on each socket still open."""
    for s in sockets:
        try:
            s.sendall(b"-")
        except OSError:
            pass


def still_open(sockets: list[socket.socket]) -> int:
    """How many of ``sockets`` the server has not closed (no EOF or reset pending)."""
    n = 0
    for s in sockets:
        s.setblocking(False)
        try:
            n += s.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def data_url(data: bytes, mime: str = "image/png") -> dict:
    return {"path": None, "url": f"data:{mime};base64," + base64.b64encode(data).decode(), "meta": FILE}


def path_entry(path: str) -> dict:
    return {"path": path, "meta": FILE}


_SOURCE_CLIENTS: dict[str, httpx.Client] = {}


def source_client(source: str) -> httpx.Client:
    """One kept-alive client per local address (127.0.x.y): a visitor's own connections, as a browser keeps them."""
    if source not in _SOURCE_CLIENTS:
        _SOURCE_CLIENTS[source] = httpx.Client(transport=httpx.HTTPTransport(local_address=source),
                                               limits=httpx.Limits(max_connections=16))
    return _SOURCE_CLIENTS[source]


# -- the wire -----------------------------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    body: dict | str
    headers: dict
    seconds: float

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


@dataclass
class Wire:
    """Gradio's HTTP protocol spoken by hand, as one client (``ip``, sent as X-Forwarded-For; or ``source``, the local
    address its connections come from, as a visitor behind a proxy is told apart)."""

    url: str
    ip: str | None = None
    fns: dict[str, int] = field(default_factory=dict)
    timeout: float = 30.0
    arity: dict[int, int] = field(default_factory=dict)  # event index → how many inputs it takes
    source: str | None = None

    def __post_init__(self):
        if not self.fns:
            config = self.http.get(self.url + "/config", timeout=10).json()
            self.fns = {d.get("api_name"): d["id"] for d in config["dependencies"] if d.get("api_name")}
            self.arity = {d["id"]: len(d.get("inputs", [])) for d in config["dependencies"]}

    @property
    def headers(self) -> dict:
        return {"X-Forwarded-For": self.ip} if self.ip else {}

    @property
    def http(self):
        """httpx's module (a new connection per request), or a kept-alive client bound to ``source``."""
        return source_client(self.source) if self.source else httpx

    def post(self, path: str, body, timeout: float = 20) -> Reply:
        t0 = time.perf_counter()
        try:
            r = self.http.post(self.url + path, json=body, headers=self.headers, timeout=timeout)
        except httpx.HTTPError as e:
            return Reply(0, repr(e), {}, time.perf_counter() - t0)
        try:
            parsed = r.json()
        except ValueError:
            parsed = r.text
        return Reply(r.status_code, parsed, dict(r.headers), time.perf_counter() - t0)

    def inputs(self, fn: str, data: list) -> list:
        """``data`` padded with None to the event's number of inputs: inputs left out take their defaults."""
        return list(data) + [None] * (self.arity.get(self.fns[fn], len(data)) - len(data))

    def frame(self, event_id: str, session: str, frame: dict) -> Reply:
        """The next frame of an open live stream."""
        return self.post(f"/gradio_api/stream/{event_id}", {"data": self.inputs("stream_frame", [frame, None]),
                                                            "fn_index": self.fns["stream_frame"], "session_hash": session})

    def join(self, fn: str, data: list, session: str | None = None) -> tuple[Reply, str]:
        session = session or uuid.uuid4().hex[:12]
        body = {"data": self.inputs(fn, data), "fn_index": self.fns[fn], "session_hash": session, "event_data": None, "trigger_id": None}
        return self.post("/gradio_api/queue/join", body), session

    def run(self, fn: str, data: list, session: str | None = None, timeout: float | None = None) -> tuple[Reply, list | None, dict]:
        """Join and read the event stream to the end: (join reply, output data or None, the final message)."""
        reply, session = self.join(fn, data, session)
        if reply.status != 200:
            return reply, None, {}
        final = {}
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data?session_hash={session}", headers=self.headers,
                          timeout=timeout or self.timeout) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    m = json.loads(line[5:])
                    if m.get("msg") == "process_completed":
                        final = m
                        break
        data_out = (final.get("output") or {}).get("data") if final.get("success") else None
        return reply, data_out, final

    def upload(self, name: str, data: bytes) -> str:
        r = self.http.post(self.url + "/gradio_api/upload", files={"files": (name, data)}, headers=self.headers, timeout=self.timeout)
        r.raise_for_status()
        return r.json()[0]

    def predict_file(self, name: str, data: bytes) -> dict | None:
        """A normal /predict: upload, then the event; the result JSON (None when the service did not answer)."""
        try:
            path = self.upload(name, data)
            _, out, _ = self.run("predict", [path_entry(path)])
            return out[0] if out else None
        except httpx.HTTPError:
            return None


def raw_request(url: str, head: str, body: bytes = b"", read_timeout: float = 10) -> tuple[int, float]:
    """Send a request's head and the first bytes of its body over a socket; (status, seconds to the answer).
    For bodies the server should refuse without reading (a 200 MB Content-Length)."""
    u = urlparse(url)
    t0 = time.perf_counter()
    with socket.create_connection((u.hostname, u.port), timeout=read_timeout) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, time.perf_counter() - t0


# -- probes -------------------------------------------------------------------------------------------------------
def health_s(url: str, timeout: float = 10) -> float:
    """Seconds for /health to answer (``timeout`` when it does not)."""
    t0 = time.perf_counter()
    try:
        httpx.get(url + "/health", timeout=timeout).raise_for_status()
    except httpx.HTTPError:
        return timeout
    return time.perf_counter() - t0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def watch(url: str, pid: int, every_s: float = 0.05):
    """While the block runs: peak RSS (MB) and the slowest /health (s), sampled in background threads."""
    seen = {"peak_rss_mb": rss_mb(pid), "max_health_s": 0.0}
    stop = threading.Event()

    def rss_loop():
        while not stop.is_set():
            try:
                seen["peak_rss_mb"] = max(seen["peak_rss_mb"], rss_mb(pid))
            except OSError:
                return
            stop.wait(every_s)

    def health_loop():
        while not stop.is_set():
            seen["max_health_s"] = max(seen["max_health_s"], health_s(url, timeout=5))
            stop.wait(0.25)

    threads = [threading.Thread(target=rss_loop, daemon=True), threading.Thread(target=health_loop, daemon=True)]
    for t in threads:
        t.start()
    try:
        yield seen
    finally:
        stop.set()
        for t in threads:
            t.join(6)
