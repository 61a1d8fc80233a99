"""``python -m bench.soak --requests 10000``: a long mixed load (REST ``/api/predict``, the Gradio API ``/predict`` and
live webcam frames) against a fresh server, with its RSS sampled every 500 requests after a warm-up, to find what
grows. Prints the RSS trace, the growth after warm-up, and the outcome counts.

Each client thread is its own visitor (X-Forwarded-For, trusted from 127.0.0.1 for the run); per-minute limits are
off, so every request does the full work.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import itertools
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.attacks import ASTRONAUT_PATH, EXAMPLES, Wire, data_url, encode, path_entry, rss_mb
from bench.photos import photo_bytes
from bench.server import running_app

MIX = ("rest", "rest", "gradio", "gradio", "live")  # 40 % REST, 40 % Gradio API, 20 % live frames


class LiveStream:
    """One open live-webcam stream: each ``frame()`` sends a frame and waits for its answer."""

    def __init__(self, wire: Wire, frames: list[dict]):
        self.wire, self.frames, self.n, self.last = wire, frames, 0, ""
        reply, self.session = wire.join("stream_frame", [frames[0], None])
        if reply.status != 200:
            raise RuntimeError(f"stream refused: {reply.status} {reply.body}")
        self.event_id = reply.body["event_id"]
        self._lines = wire.http.stream("GET", f"{wire.url}/gradio_api/queue/data?session_hash={self.session}", timeout=60)
        self._it = self._lines.__enter__().iter_lines()
        self._next_answer()

    def _next_answer(self) -> str:
        for line in self._it:
            if '"process_streaming"' in line:
                self.last = line  # the answer's event line (what the page would show)
                return "ok"
            if '"process_completed"' in line:  # the stream reached its time limit (EMOTION_STREAM_TIME_LIMIT_S)
                return "ended"
        return "failed"

    def frame(self) -> str:
        """"ok", "ended" (the stream's time limit: a new one is opened) or "failed"."""
        self.n += 1
        if self.wire.frame(self.event_id, self.session, self.frames[self.n % len(self.frames)]).status != 200:
            return "failed"
        return self._next_answer()

    def close(self) -> None:
        self.wire.http.post(f"{self.wire.url}/gradio_api/stream/{self.event_id}/close", timeout=5)
        self._lines.__exit__(None, None, None)


def gradio_predict(wire: Wire, name: str, data: bytes) -> str:
    """A normal Gradio API /predict (upload, join, read the event stream), and why it failed when it did: "ok", the
    result's error code, or "no answer: <where>" (upload, join refused, stream ended early, event failed)."""
    try:
        path = wire.upload(name, data)
    except httpx.HTTPStatusError as e:
        return f"no answer: upload HTTP {e.response.status_code} {e.response.text[:60]!r}"
    except httpx.HTTPError as e:
        return f"no answer: upload {type(e).__name__}"
    reply, out, final = wire.run("predict", [path_entry(path)])
    if reply.status != 200:
        return f"no answer: join HTTP {reply.status} {reply.error}"
    if not final:
        return "no answer: stream ended without a result"
    if out is None:
        return f"no answer: event failed ({str(final.get('output', {}).get('error') or final.get('title') or '')[:60]})"
    d = out[0]
    return "ok" if d.get("success") or d.get("error") == "no_face_detected" else d["error"]


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--every", type=int, default=500, help="sample RSS every this many requests")
    a = p.parse_args()

    from PIL import Image

    photos = [("astronaut.jpg", ASTRONAUT_PATH.read_bytes()), ("grace_hopper.jpg", (EXAMPLES / "grace_hopper.jpg").read_bytes()),
              ("photo_1mp.jpg", photo_bytes(1.0)[0]), ("chelsea.jpg", (EXAMPLES / "chelsea.jpg").read_bytes())]
    im = Image.open(ASTRONAUT_PATH).convert("RGB").resize((320, 320))
    frames = [data_url(encode(im.rotate(i - 4), "JPEG", quality=85), "image/jpeg") for i in range(9)]
    counter = itertools.count()
    outcomes: Counter = Counter()
    trace: list[tuple[int, float]] = []
    lock = threading.Lock()
    total = a.warmup + a.requests

    with tempfile.TemporaryDirectory() as tmp, running_app(tmp, FORWARDED_ALLOW_IPS="127.0.0.1", EMOTION_RATE_LIMIT="0",
                                                           EMOTION_FRAME_LIMIT="0", EMOTION_FLOOD_LIMIT="0",
                                                           EMOTION_UPLOAD_MB_PER_MINUTE="0") as (url, proc, _):
        base = Wire(url)
        rss_start = rss_mb(proc.pid)

        def worker(k: int) -> None:
            wire = replace(base, ip=f"10.50.0.{k}")
            rest = httpx.Client(base_url=url, headers={"X-Forwarded-For": wire.ip}, timeout=60)
            live = None
            while (i := next(counter)) < total:
                kind = MIX[i % len(MIX)]
                name, data = photos[i % len(photos)]
                try:
                    if kind == "rest":
                        r = rest.post("/api/predict", files={"file": (name, data)})
                        outcome = "ok" if r.status_code in (200, 422) else f"http {r.status_code} {r.json().get('error')}"
                    elif kind == "gradio":
                        outcome = gradio_predict(wire, name, data)
                    else:
                        live = live or LiveStream(wire, frames)
                        outcome = live.frame()
                        if outcome != "ok":
                            live.close()
                            live = None
                except Exception as e:  # noqa: BLE001 - counted, the soak goes on
                    outcome = type(e).__name__
                with lock:
                    outcomes[f"{kind}:{outcome}"] += 1
                    done = i + 1
                    if done >= a.warmup and (done - a.warmup) % a.every == 0:
                        trace.append((done - a.warmup, rss_mb(proc.pid)))
            if live:
                live.close()
            rest.close()

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        time.sleep(1)
        trace.append((a.requests, rss_mb(proc.pid)))

    trace.sort()
    base = trace[0][1]
    print(f"{a.requests} requests after {a.warmup} warm-up ({a.clients} clients; mix REST 40 %, Gradio API 40 %, live "
          f"frames 20 %) in {wall:.0f} s; RSS at start-up {rss_start:.0f} MB")
    print("| requests after warm-up | " + " | ".join(str(n) for n, _ in trace) + " |")
    print("|---|" + "---|" * len(trace))
    print("| RSS MB | " + " | ".join(f"{r:.0f}" for _, r in trace) + " |")
    print(f"growth after warm-up: {trace[-1][1] - base:+.0f} MB (max {max(r for _, r in trace) - base:+.0f} MB)")
    print("outcomes:", dict(sorted(outcomes.items())), '("live:ended" = a stream reached its time limit and was reopened)')


if __name__ == "__main__":
    main()
