"""``python -m bench.latency``: end-to-end ``predict`` time by photo size with the per-stage breakdown, the
classifier alone by batch size, and the app's start-up time (process start → first /predict answer).

Each detector in ``--strategies`` (``emotion.faces.STRATEGIES``: ``full`` is the detector before issue 11,
``multi`` the default) is timed in the same run, interleaved photo by photo, so the after/before ratio is not
skewed by the shared machine's load drifting between two runs."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.group_photo import make_group_photo
from bench.photos import photo_bytes
from emotion import EmotionRecognizer


def _stats(xs: list[float]) -> tuple[float, float]:
    return float(np.median(xs)), float(np.percentile(xs, 95))


def _photos() -> list[tuple[str, bytes]]:
    photos = []
    for mp in (0.3, 1, 4, 12):
        data, (w, h) = photo_bytes(mp)
        photos.append((f"{w}×{h} ({w * h / 1e6:.1f} MP, {len(data) / 1e6:.2f} MB)", data))
    group = make_group_photo()
    photos.append((f"group photo {group.size[0]}×{group.size[1]}, {len(group.faces)} faces ({len(group.jpeg) / 1e6:.2f} MB)", group.jpeg))
    return photos


def end_to_end(recs: dict[str, EmotionRecognizer], runs: int) -> dict[str, list[dict]]:
    """Per strategy, per photo: median/p95 of ``predict`` and the median of each stage; strategies alternate run by run."""
    rows: dict[str, list[dict]] = {name: [] for name in recs}
    for label, data in _photos():
        for rec in recs.values():
            for _ in range(5):
                rec.predict(data)
        total = {name: [] for name in recs}
        stages = {name: {"decode": [], "detect": [], "classify": []} for name in recs}
        faces = {}
        for _ in range(runs):
            for name, rec in recs.items():
                t0 = time.perf_counter()
                r = rec.predict(data)
                total[name].append((time.perf_counter() - t0) * 1e3)
                faces[name] = len(r.faces) if r.success else 0
                if not r.success:  # only the group photo may lose every face (the old detector): time still counts
                    continue
                for k in stages[name]:
                    stages[name][k].append(r.timings_ms[k])
        for name in recs:
            med, p95 = _stats(total[name])
            rows[name].append({"photo": label, "median": med, "p95": p95, "faces": faces[name],
                               **{k: float(np.median(v)) if v else float("nan") for k, v in stages[name].items()}})
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

    from bench.server import running_app

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
    p.add_argument("--strategies", default="full,multi", help="detectors timed in this run (first = baseline)")
    a = p.parse_args()
    recs = {name: EmotionRecognizer(strategy=name) for name in a.strategies.split(",")}
    rec = recs[next(reversed(recs))]
    print(f"model {rec.classifier.path.name}: flip-TTA in graph {rec.metadata.get('flip_tta')}, onnxruntime threads "
          f"{rec.settings.ort_threads}\n")
    rows = end_to_end(recs, a.runs)
    for name, table in rows.items():
        print(f"End-to-end predict (bytes → result), detector `{name}`, warm, {a.runs} runs each; stage columns are medians")
        print("| photo | faces found | median ms | p95 ms | decode+validate | detect | crop+classify |\n|---|---|---|---|---|---|---|")
        for r in table:
            print(f"| {r['photo']} | {r['faces']} | {r['median']:.1f} | {r['p95']:.1f} | {r['decode']:.1f} | {r['detect']:.1f} | {r['classify']:.1f} |")
        print()
    if len(rows) > 1:
        base, *others = rows
        print(f"Median end-to-end time against `{base}`, same run (issue 11's cost targets: 1 MP ≤ 1.3×, 12 MP ≤ 2×)")
        print("| photo | " + " | ".join(f"`{o}` / `{base}`" for o in others) + " |\n|---|" + "---|" * len(others))
        for i, r in enumerate(rows[base]):
            print(f"| {r['photo']} | " + " | ".join(f"{rows[o][i]['median']:.1f} / {r['median']:.1f} ms = **{rows[o][i]['median'] / r['median']:.2f}×**"
                                                   for o in others) + " |")
    print(f"\nClassifier alone (onnxruntime, preprocessed input), {a.runs * 4} runs each")
    print("| batch | median ms | p95 ms | ms per face |\n|---|---|---|---|")
    for r in classifier_only(rec, a.runs * 4):
        print(f"| {r['batch']} | {r['median']:.2f} | {r['p95']:.2f} | {r['per_face']:.2f} |")
    if not a.no_startup:
        health, first = startup_seconds()
        print(f"\nApp start-up: process start → /health answers {health:.1f} s; → first /predict answered {first:.1f} s")


if __name__ == "__main__":
    main()
