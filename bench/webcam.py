"""``python -m bench.webcam``: frames per second of the live-webcam path (frame → detect → classify → EMA →
annotated frame), the same code the Gradio stream handler runs, on 640×480 frames of a moving face."""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from bench.photos import EXAMPLES
from emotion import EmotionRecognizer
from web.render import annotate
from web.service import EmotionService


def frames(n: int) -> list[np.ndarray]:
    face = Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB").resize((300, 352))
    out = []
    for i in range(n):
        canvas = Image.new("RGB", (640, 480), (60, 60, 70))
        canvas.paste(face, (170 + int(60 * np.sin(i / 10)), 60 + int(20 * np.cos(i / 7))))
        out.append(np.asarray(canvas))
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.webcam", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=200)
    a = p.parse_args()
    svc = EmotionService(EmotionRecognizer(), rate_limit_per_minute=0)
    clip = frames(a.frames)
    state, labels = None, []
    for f in clip[:10]:
        svc.stream_frame(f, None)
    t0 = time.perf_counter()
    for f in clip:
        result, state = svc.stream_frame(f, state)
        annotate(result)
        labels.append(result.faces[0].emotion if result.success else result.error)
    dt = time.perf_counter() - t0
    flips = sum(a != b for a, b in zip(labels, labels[1:]))
    print("| frames | processed frames/s | ms per frame | label changes (smoothed) |\n|---|---|---|---|")
    print(f"| {len(clip)} (640×480) | {len(clip) / dt:.1f} | {dt / len(clip) * 1e3:.1f} | {flips} |")


if __name__ == "__main__":
    main()
