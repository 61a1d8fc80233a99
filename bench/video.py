"""How fast a clip is answered: ``python -m bench.video`` generates a 30 s 720p clip (a face moving across the frame,
the astronaut smiling for the first half, Grace Hopper for the second) and times ``emotion.video.analyse`` at 5
samples per second, end to end from the file's bytes, for each model. Target: at most 0.5× the clip's duration.

``make_clip`` is also what ``tests/test_video.py`` uses to make its small clips.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _face(name: str, side: int) -> np.ndarray:
    import cv2

    img = cv2.imread(str(EXAMPLES / name))
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)


def make_clip(path: str | os.PathLike, seconds: float = 3.0, fps: float = 10.0, size: tuple[int, int] = (320, 240),
              scene: Callable[[float], str | None] | None = None, face_side: int | None = None, fourcc: str = "mp4v",
              move: bool = True) -> Path:
    """A clip of ``seconds`` at ``fps`` and ``size`` (w, h): at time t, the example photo ``scene(t)`` (None: a
    blank grey frame) pasted as a square of ``face_side`` px, sliding left to right when ``move``."""
    import cv2

    w, h = size
    side = face_side or int(min(w, h) * 0.8)
    scene = scene or (lambda t: "astronaut.jpg")
    cache: dict[str, np.ndarray] = {}
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} to {path}")
    n = int(round(seconds * fps))
    try:
        for i in range(n):
            t = i / fps
            frame = np.full((h, w, 3), 128, np.uint8)
            name = scene(t)
            if name:
                if name not in cache:
                    cache[name] = _face(name, side)
                x = int((w - side) * (i / max(1, n - 1))) if move else (w - side) // 2
                y = (h - side) // 2
                frame[y:y + side, x:x + side] = cache[name]
            writer.write(frame)
    finally:
        writer.release()
    return Path(path)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--clip-fps", type=float, default=30.0)
    ap.add_argument("--fps", type=float, default=5.0, help="samples per second")
    ap.add_argument("--models", nargs="+", default=["accurate", "fast"])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-http", action="store_true", help="skip the REST measurement (a server on a free port)")
    args = ap.parse_args(argv)

    from emotion.config import Settings
    from emotion.recognizer import EmotionRecognizer
    from emotion.video import VideoLimits, analyse

    models = [m for m in args.models if m == "accurate" or Path(Settings().model_paths[m]).is_file()]
    rec = EmotionRecognizer(models=models)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        t0 = time.perf_counter()
        make_clip(path, args.seconds, args.clip_fps, (args.width, args.height), face_side=int(args.height * 0.6),
                  scene=lambda t: "astronaut.jpg" if t < args.seconds / 2 else "grace_hopper.jpg")
        made = time.perf_counter() - t0
        data = path.read_bytes()
    limits = VideoLimits(max_seconds=max(60.0, args.seconds + 1), max_mb=max(50.0, len(data) / 2**20 + 1), fps=args.fps)
    rec.predict(_face("astronaut.jpg", 256)[..., ::-1].copy())  # warm-up: models loaded, first-call costs paid
    print(f"# Video: {args.seconds:g} s clip, {args.width}×{args.height} at {args.clip_fps:g} fps (mp4v, "
          f"{len(data) / 2**20:.1f} MB, made in {made:.1f} s), sampled at {args.fps:g} per second")
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start; best of {args.runs}; `python -m bench.video`\n")
    print("| model | path | frames analysed | answer time | ratio to clip duration | target ≤ 0.5× | ms per frame | dominant | segments |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in models:
        best, result = None, None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result = analyse(data, rec, limits=limits, model=model)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        _row(model, "in process (`emotion.video.analyse`)", best, result.to_dict())
    if not args.no_http:
        _over_http(data, models, args.runs, args.seconds)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (2 cores shared with other work: timings vary up to 3× between runs)")


def _row(model: str, path: str, seconds: float, d: dict) -> None:
    if not d.get("success"):
        print(f"| {model} | {path} | error {d.get('error')}: {d.get('message')} | | | | | | |")
        return
    n = len(d["frames"])
    segs = ", ".join(f"{s['emotion']} {s['start']:g}–{s['end']:g} s" for s in d["summary"]["segments"])
    ratio = seconds / d["duration_s"]
    print(f"| {model} | {path} | {n} | {seconds:.2f} s | {ratio:.2f}× | {'yes' if ratio <= 0.5 else 'NO'} | "
          f"{seconds / n * 1e3:.0f} | {d['summary']['dominant_emotion']} | {segs} |")


def _over_http(data: bytes, models: list[str], runs: int, seconds: float) -> None:
    """The same clip through ``POST /api/predict_video`` of a real server (upload, queue, JSON included)."""
    import httpx

    from bench.server import running_app

    with tempfile.TemporaryDirectory() as tmp:
        with running_app(Path(tmp), None, EMOTION_RATE_LIMIT="0", EMOTION_VIDEO_MAX_S=str(max(60.0, seconds + 1))) as (url, _, _):
            for model in models:
                best, d = None, {}
                for _ in range(runs):
                    t0 = time.perf_counter()
                    r = httpx.post(f"{url}/api/predict_video?model={model}", files={"file": ("clip.mp4", data)}, timeout=600)
                    dt = time.perf_counter() - t0
                    d = r.json()
                    best = dt if best is None else min(best, dt)
                _row(model, "HTTP (`POST /api/predict_video`)", best, d)


if __name__ == "__main__":
    main()
