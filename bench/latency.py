"""``python -m bench.latency``: end-to-end ``predict`` time by photo size with the per-stage breakdown, the
classifier alone by batch size, and the app's start-up time (process start → first /predict answer)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.photos import photo_bytes
from emotion import EmotionRecognizer


def _stats(xs: list[float]) -> tuple[float, float]:
    return float(np.median(xs)), float(np.percentile(xs, 95))


def end_to_end(rec: EmotionRecognizer, runs: int) -> list[dict]:
    rows = []
    for mp in (0.3, 1, 4, 12):
        data, (w, h) = photo_bytes(mp)
        for _ in range(5):
            rec.predict(data)
        total, stages = [], {"decode": [], "detect": [], "classify": []}
        for _ in range(runs):
            t0 = time.perf_counter()
            r = rec.predict(data)
            total.append((time.perf_counter() - t0) * 1e3)
            assert r.success, r
            for k in stages:
                stages[k].append(r.timings_ms[k])
        med, p95 = _stats(total)
        rows.append({"photo": f"{w}×{h} ({w * h / 1e6:.1f} MP, {len(data) / 1e6:.2f} MB)", "median": med, "p95": p95,
                     **{k: float(np.median(v)) for k, v in stages.items()}})
    return rows


def classifier_only(rec: EmotionRecognizer, runs: int) -> list[dict]:
    rows = []
    s = rec.classifier.input_size
    for batch in (1, 8, 32):
        x = np.random.default_rng(0).random((batch, 1, s, s), dtype=np.float32)
        for _ in range(10):
            rec.classifier.logits(x)
        t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            rec.classifier.logits(x)
            t.append((time.perf_counter() - t0) * 1e3)
        med, p95 = _stats(t)
        rows.append({"batch": batch, "median": med, "p95": p95, "per_face": med / batch})
    return rows


def startup_seconds() -> tuple[float, float]:
    from gradio_client import Client, handle_file

    from tests.server import running_app

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with running_app(tmp) as (url, _, health_s):
            Client(url, verbose=False).predict(handle_file(str(Path(__file__).resolve().parent.parent / "examples" / "astronaut.jpg")),
                                               api_name="/predict")
            return health_s, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--no-startup", action="store_true")
    a = p.parse_args()
    rec = EmotionRecognizer()
    print(f"model {rec.classifier.path.name}: flip-TTA in graph {rec.metadata.get('flip_tta')}, onnxruntime threads "
          f"{rec.settings.ort_threads}\n")
    print(f"End-to-end predict (bytes → result), warm, {a.runs} runs each; stage columns are medians")
    print("| photo | median ms | p95 ms | decode+validate | detect | crop+classify |\n|---|---|---|---|---|---|")
    for r in end_to_end(rec, a.runs):
        print(f"| {r['photo']} | {r['median']:.1f} | {r['p95']:.1f} | {r['decode']:.1f} | {r['detect']:.1f} | {r['classify']:.1f} |")
    print(f"\nClassifier alone (onnxruntime, preprocessed input), {a.runs * 4} runs each")
    print("| batch | median ms | p95 ms | ms per face |\n|---|---|---|---|")
    for r in classifier_only(rec, a.runs * 4):
        print(f"| {r['batch']} | {r['median']:.2f} | {r['p95']:.2f} | {r['per_face']:.2f} |")
    if not a.no_startup:
        health, first = startup_seconds()
        print(f"\nApp start-up: process start → /health answers {health:.1f} s; → first /predict answered {first:.1f} s")


if __name__ == "__main__":
    main()
