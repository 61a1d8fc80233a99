"""``python -m bench.capacity``: how many visitors one Space holds. The app runs as on a Space (``SYSTEM=spaces``,
``SPACE_ID``) behind nginx configured as the platform proxies (bench/nginx.py); each simulated visitor connects from
its own 127.0.x.y, so the app tells them apart exactly as it tells Space visitors apart (the hop nginx appends).

Photo visitors, ramped (``--visitors``): each is one page visit (one Gradio session) sending the page's own events: a
photo into the Upload tab (upload → event → answer stream), "Why this emotion?" (the occlusion map, ~65
classifications) after one photo in four, the model switched to fast (the same photo answered again) after another one
in four, and reads each answer for ``--think-s`` seconds (uniform between half and one and a half times) before the
next. The photo answer's time runs from the upload's first byte to the answer. Live webcams, ramped separately
(``--webcams``): each opens a live stream and sends 640×480 JPEG frames of a moving face at the page's rate (one every
0.1 s, the next once the previous is answered). Per level: answers, p50/p95/max of a photo answer (frame answer for
webcams), frames per second per webcam, errors (an answer with an error code), unanswered (no answer at all), the
app's RSS. The knee: the first level whose photo p95 passes 1 s and 2 s.

The per-minute allowances are off for the run (every visitor does the full work); the queue and stream shares per
visitor are the app's defaults. ``--env NAME=VALUE`` passes a setting to the app (e.g. ``EMOTION_CONCURRENCY=3``);
``--app-dir`` (repeatable) measures other checkouts one after another in the same run (before/after); ``--out`` writes
the tables to a file. The webcam table says what share of live frames the fast model read (``EMOTION_LIVE_FAST_FROM``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import random
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from bench.attacks import ASTRONAUT_PATH, EXAMPLES, Wire, cpu_s, data_url, path_entry, rss_mb
from bench.nginx import nginx_proxy
from bench.photos import photo_bytes
from bench.server import ROOT, running_app
from bench.soak import LiveStream
from bench.webcam import frames as webcam_frames

SPACE_ENV = dict(SYSTEM="spaces", SPACE_ID="bench/capacity", EMOTION_RATE_LIMIT="0", EMOTION_FRAME_LIMIT="0",
                 EMOTION_BATCH_PHOTO_LIMIT="0", EMOTION_FLOOD_LIMIT="0", EMOTION_UPLOAD_MB_PER_MINUTE="0")
FRAME_INTERVAL_S = 0.1  # the page's live rate (web/ui.py: stream_every=0.1)
SHED_MARK = "many cameras live"  # in a live answer the fast model read because of the load (web/ui.py LIVE_SHED_NOTE)


@dataclass
class Level:
    """What one level of load measured."""
    load: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # photo answers (or live frame answers)
    outcomes: Counter = field(default_factory=Counter)
    fps: list[float] = field(default_factory=list)  # per webcam
    why_latencies: list[float] = field(default_factory=list)  # "Why" answers (photo visitors)
    fast_frames: int = 0  # live frames the app moved to the fast model (EMOTION_LIVE_FAST_FROM)
    rss_mb: float = 0.0
    app_cpu: float = 0.0  # the app's CPU over the level, in cores (2.0 = both cores of a free Space)
    client_cpu: float = 0.0  # this bench's own (the simulated visitors, on the same machine), in cores

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")

    @property
    def errors(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k not in ("ok", "no_face_detected") and not k.startswith("no answer"))

    @property
    def unanswered(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.startswith("no answer"))


def source_of(k: int) -> str:
    return f"127.0.{20 + k // 250}.{1 + k % 250}"


def page_event(wire: Wire, fn: str, data: list, session: str) -> tuple[str, list | None]:
    """One of the page's own events (what a click sends), in the visitor's session: ("ok" or why not, its outputs)."""
    reply, out, final = wire.run(fn, data, session)
    if reply.status != 200:
        return f"no answer: join HTTP {reply.status} {reply.error}", None
    if out is None:
        return f"no answer: {str(final.get('output', {}).get('error') or final.get('title') or 'stream ended')[:60]}", None
    result = next((o for o in out if isinstance(o, dict) and "success" in o), None)  # the answer's JSON, when it has one
    if result is not None and not result["success"]:
        return str(result.get("error")), out
    return ("ok" if result is not None or out[0] is not None else "no answer: empty"), out


def photo_visitor(base: Wire, k: int, photos: list[tuple[str, bytes]], until: float, measure_from: float,
                  think_s: float, level: Level, lock: threading.Lock) -> None:
    """One page visit: photos into the Upload tab; "Why" (the occlusion map) after one in four; the model switched
    to fast after another one in four; a pause to read each answer. All in one Gradio session, as the page."""
    wire = Wire(base.url, fns=base.fns, arity=base.arity, source=source_of(k), timeout=120)
    rng = random.Random(k)
    i = rng.randrange(4)
    session = f"visitor{k:04d}{rng.getrandbits(32):08x}"
    while time.monotonic() < until:
        name, data = photos[i % len(photos)]
        t0 = time.perf_counter()
        try:
            outcome, out = page_event(wire, "analyse_upload", [path_entry(wire.upload(name, data)), "accurate"], session)
        except Exception as e:  # noqa: BLE001 - any failure to get an answer is counted, not raised
            outcome, out = f"no answer: {type(e).__name__}", None
        took, extra, why_s = time.perf_counter() - t0, [], None
        if outcome == "ok" and i % 4 in (0, 2):
            shown = out[6]  # the photo box now holds the upright preview, as on the page
            t1 = time.perf_counter()
            try:
                extra.append(page_event(wire, "explain_face", [0, shown, "accurate"], session)[0] if i % 4 == 0
                             else page_event(wire, "reanswer", [shown, "fast"], session)[0])
            except Exception as e:  # noqa: BLE001
                extra.append(f"no answer: {type(e).__name__}")
            why_s = time.perf_counter() - t1 if i % 4 == 0 and extra[-1] == "ok" else None
        if time.monotonic() >= measure_from:
            with lock:
                level.latencies.append(took)
                level.outcomes.update([outcome, *extra])
                if why_s is not None:
                    level.why_latencies.append(why_s)
        i += 1
        time.sleep(think_s * rng.uniform(0.5, 1.5))


def webcam(base: Wire, k: int, frames: list[dict], until: float, measure_from: float, level: Level,
           lock: threading.Lock) -> None:
    wire = Wire(base.url, fns=base.fns, arity=base.arity, source=source_of(500 + k), timeout=60)
    try:
        stream = LiveStream(wire, frames)
    except Exception as e:  # noqa: BLE001
        with lock:
            level.outcomes[f"no answer: stream refused ({str(e)[:40]})"] += 1
        return
    answered, fast, lat, outcomes = 0, 0, [], Counter()
    started = None
    while time.monotonic() < until:
        t0 = time.monotonic()
        outcome = stream.frame()
        if outcome == "ended":  # the stream's time limit: the page opens a new one
            stream.close()
            stream = LiveStream(wire, frames)
            continue
        if t0 >= measure_from:
            started = started or t0
            answered += outcome == "ok"
            fast += outcome == "ok" and SHED_MARK in stream.last
            lat.append(time.monotonic() - t0)
            outcomes["ok" if outcome == "ok" else "no answer: frame"] += 1
        time.sleep(max(0.0, FRAME_INTERVAL_S - (time.monotonic() - t0)))
    stream.close()
    with lock:
        level.fps.append(answered / max(1e-9, time.monotonic() - (started or time.monotonic())))
        level.fast_frames += fast
        level.latencies.extend(lat)
        level.outcomes.update(outcomes)


def run_level(target, count: int, seconds: float, warmup_s: float, pid: int, base: Wire, *extra) -> Level:
    """``count`` threads of ``target`` (``photo_visitor`` or ``webcam``) for ``warmup_s`` + ``seconds``; what they saw."""
    level, lock = Level(count, seconds), threading.Lock()
    now = time.monotonic()
    app_cpu0, client_cpu0 = cpu_s(pid), time.process_time()
    until, measure_from = now + warmup_s + seconds, now + warmup_s
    if target is webcam:
        threads = [threading.Thread(target=webcam, args=(base, k, *extra, until, measure_from, level, lock), daemon=True)
                   for k in range(count)]
    else:
        photos, think_s = extra
        threads = [threading.Thread(target=photo_visitor, daemon=True,
                                    args=(base, k, photos, until, measure_from, think_s, level, lock)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=warmup_s + seconds + 180)
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        level.outcomes["no answer: visitor still waiting at the end"] += stuck
    level.rss_mb = rss_mb(pid)
    wall = time.monotonic() - now
    level.app_cpu, level.client_cpu = (cpu_s(pid) - app_cpu0) / wall, (time.process_time() - client_cpu0) / wall
    return level


def photo_table(levels: list[Level]) -> str:
    rows = ["| visitors | photo answers | p50 s | p95 s | max s | Why + switch answers | Why p50 · p95 s | errors | unanswered "
            "| RSS MB | app CPU (cores) | visitors' CPU (cores) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for lv in levels:
        extra = sum(lv.outcomes.values()) - len(lv.latencies)
        why = f"{np.percentile(lv.why_latencies, 50):.2f} · {np.percentile(lv.why_latencies, 95):.2f}" if lv.why_latencies else "–"
        rows.append(f"| {lv.load} | {len(lv.latencies)} | {lv.pct(50):.2f} | {lv.pct(95):.2f} | {max(lv.latencies, default=float('nan')):.2f} "
                    f"| {extra} | {why} | {lv.errors} | {lv.unanswered} | {lv.rss_mb:.0f} | {lv.app_cpu:.2f} | {lv.client_cpu:.2f} |")
    return "\n".join(rows)


def webcam_table(levels: list[Level]) -> str:
    rows = ["| webcams | frames/s per webcam (min · mean) | frame answer p95 s | read by the fast model | errors | unanswered "
            "| RSS MB | app CPU (cores) | visitors' CPU (cores) |", "|---|---|---|---|---|---|---|---|---|"]
    for lv in levels:
        fps = lv.fps or [0.0]
        share = lv.fast_frames / max(1, len(lv.latencies))
        rows.append(f"| {lv.load} | {min(fps):.1f} · {np.mean(fps):.1f} | {lv.pct(95):.2f} | {share:.0%} | {lv.errors} | {lv.unanswered} "
                    f"| {lv.rss_mb:.0f} | {lv.app_cpu:.2f} | {lv.client_cpu:.2f} |")
    return "\n".join(rows)


def knee(levels: list[Level], limit_s: float) -> str:
    over = [lv.load for lv in levels if lv.pct(95) > limit_s]
    return f"{over[0]} visitors" if over else f"not reached (≤ {levels[-1].load} visitors)"


def jpeg_frames(n: int = 12) -> list[dict]:
    out = []
    for f in webcam_frames(n):
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, "JPEG", quality=80)
        out.append(data_url(buf.getvalue(), "image/jpeg"))
    return out


def measure(app_dir: str, env: dict[str, str], visitors: list[int], webcams: list[int], seconds: float, warmup_s: float,
            think_s: float) -> tuple[list[Level], list[Level]]:
    """One checkout's app behind nginx: the photo levels, then the webcam levels (printed as they finish)."""
    photos = [("astronaut.jpg", ASTRONAUT_PATH.read_bytes()), ("grace_hopper.jpg", (EXAMPLES / "grace_hopper.jpg").read_bytes()),
              ("photo_2mp.jpg", photo_bytes(2.0)[0])]
    frames = jpeg_frames()
    photo_levels, cam_levels = [], []
    with tempfile.TemporaryDirectory() as tmp, running_app(tmp, app_dir=app_dir, **env) as (app_url, proc, _), \
            nginx_proxy(app_url, f"{tmp}/nginx") as url:
        base = Wire(url)
        print(f"app: {app_dir}; think time {think_s:g} s; {seconds:g} s per level", flush=True)
        for n in visitors:
            photo_levels.append(run_level(photo_visitor, n, seconds, warmup_s, proc.pid, base, photos, think_s))
            print(photo_table(photo_levels).splitlines()[-1], flush=True)
        for n in webcams:
            cam_levels.append(run_level(webcam, n, seconds, warmup_s, proc.pid, base, frames))
            print(webcam_table(cam_levels).splitlines()[-1], flush=True)
    return photo_levels, cam_levels


def report(app_dir: str, photo_levels: list[Level], cam_levels: list[Level]) -> str:
    out = [f"### {app_dir}"]
    if photo_levels:
        out += ["", photo_table(photo_levels), "",
                f"knee: photo p95 passes 1 s at {knee(photo_levels, 1.0)}; passes 2 s at {knee(photo_levels, 2.0)}",
                f"outcomes: {dict(sum((lv.outcomes for lv in photo_levels), Counter()))}"]
    if cam_levels:
        out += ["", webcam_table(cam_levels), "", f"outcomes: {dict(sum((lv.outcomes for lv in cam_levels), Counter()))}"]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.splitlines()[0])
    p.add_argument("--visitors", default="1,5,10,15,20,25,30", help="photo visitor levels, comma-separated")
    p.add_argument("--webcams", default="1,2,4,6,8", help="live webcam levels (EMOTION_STREAMS_TOTAL is 8)")
    p.add_argument("--seconds", type=float, default=30, help="measured seconds per level")
    p.add_argument("--warmup-s", type=float, default=5, help="unmeasured seconds at the start of each level")
    p.add_argument("--think-s", type=float, default=3.0, help="a visitor's mean pause between photos")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for the app")
    p.add_argument("--app-dir", action="append", default=[], help="the checkout whose app.py runs; repeat it to measure "
                                                                   "several (another revision's: before/after, one run)")
    p.add_argument("--out", help="also write the tables here (Markdown), with the command and the machine's load")
    a = p.parse_args()
    env = {**SPACE_ENV, **dict(kv.split("=", 1) for kv in a.env)}
    levels = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    load0 = os.getloadavg()
    reports = [report(d, *measure(d, env, levels(a.visitors), levels(a.webcams), a.seconds, a.warmup_s, a.think_s))
               for d in a.app_dir or [str(ROOT)]]
    text = "\n\n".join(reports)
    print("\n" + text)
    if a.out:
        head = (f"Made by `python -m bench.capacity {' '.join(sys.argv[1:])}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                f"{os.cpu_count()} CPUs; settings: {' '.join(a.env) or '(defaults)'}; load average before "
                f"{load0[0]:.2f}, after {os.getloadavg()[0]:.2f}.\n\n")
        Path(a.out).write_text(head + text + "\n")


if __name__ == "__main__":
    main()
