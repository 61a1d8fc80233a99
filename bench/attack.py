"""``python -m bench.attack [--before REV]``: each hostile-client attack against a fresh server, and what it did to
the service: peak server RSS, the slowest ``/health`` during the attack, whether a normal ``/predict`` from another
client still succeeded, and whether the process survived. ``--before REV`` runs the same attacks against another
revision's ``app.py`` (checked out with ``git worktree``) in the same run, for a before/after table.

Every server is started with ``FORWARDED_ALLOW_IPS=127.0.0.1`` (attacker and victim are told apart by
``X-Forwarded-For``; a revision that ignores the header sees them as one client) and a per-minute rate limit high
enough that only the attack itself can refuse the victim.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import httpx

from PIL import Image

from bench.attacks import ASTRONAUT_PATH, Wire, bomb_png, data_url, encode, path_entry, raw_request, watch
from bench.server import ROOT, running_app

ASTRONAUT = ASTRONAUT_PATH.read_bytes()
ATTACKER, VICTIM = "10.66.0.1", "10.77.0.1"
FNS: dict[str, Wire] = {}  # server URL → a client that has read its events once, before the attack


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


ATTACKS: dict[str, Callable[[str, Path], str]] = {
    "1 file by path (/etc/passwd, /dev/zero)": file_by_path, "2 pixel bombs": pixel_bombs,
    "3 66 live-stream joins": stream_joins, "4 40,000 file entries": file_flood, "5 huge JSON bodies": big_bodies,
    "6 100 live frames": live_frames_on_disk, "7 bad fn_index": bad_fn_index,
}


def run(app_dir: Path, label: str, names: list[str]) -> list[str]:
    rows = []
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            (tmp_path / "gradio").mkdir()
            with running_app(tmp_path / "gradio", tmp_path / "server.log", app_dir=app_dir, FORWARDED_ALLOW_IPS="127.0.0.1",
                             EMOTION_RATE_LIMIT="10000") as (url, proc, _):
                FNS[url] = Wire(url)
                with watch(url, proc.pid) as seen:
                    try:
                        what = ATTACKS[name](url, tmp_path)
                    except Exception as e:  # noqa: BLE001 - a client-side timeout is part of the finding
                        what = f"attack client gave up: {type(e).__name__}"
                    victim = _victim_ok(url)
                alive = proc.poll() is None
            rows.append(f"| {name} | {label} | {seen['peak_rss_mb']:.0f} | {seen['max_health_s']:.2f} | {victim} | "
                        f"{'yes' if alive else 'no'} | {what} |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.attack", description=__doc__.splitlines()[0])
    p.add_argument("--before", help="a git revision to attack too (e.g. the last commit before the guard)")
    p.add_argument("--only", nargs="*", choices=list(ATTACKS), help="run only these attacks")
    a = p.parse_args()
    names = a.only or list(ATTACKS)
    print("| attack | revision | peak RSS MB | slowest /health s (5 s = no answer) | victim /predict ok | alive | what happened |")
    print("|---|---|---|---|---|---|---|")
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
