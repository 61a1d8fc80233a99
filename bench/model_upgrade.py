"""``python -m bench.model_upgrade --before 54d26f8``: the shipped classifier against an earlier one, every number from
one run, checked against the targets of the ensemble issue (#20; #12's before it).

``--before`` is a model file, or a git revision whose ``models/emotion_classifier.onnx`` is taken (written to a
temporary file); with ``--fast`` the fast models (``models/emotion_classifier_fast.onnx``) are compared against the
issue's fast-model targets. Both models go through ``bench.compare_models``' measurements: FER-2013 PrivateTest
(original labels and FER+ majority labels), the real-photo dev set through the whole pipeline (per dataset: accuracy,
ECE), and the classifier's time per face (onnxruntime, one thread, interleaved), a 1 MP photo end to end, and
per-class recall on both. Prints a Markdown table and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.compare_models import ROOT, _cpu_name, fer_metrics, latency, real_photo_metrics
from emotion import EmotionRecognizer, Settings

# name, how to read it from a row, at least / at most, the bar (issue #20's accurate-model targets)
TARGETS = [
    ("real photos, all faces found: accuracy", lambda r: r["real_accuracy"], ">=", 0.66),
    ("frl_london accuracy", lambda r: r["real_by_dataset"]["frl_london"]["accuracy"], ">=", 0.82),
    ("muxspace accuracy", lambda r: r["real_by_dataset"]["muxspace"]["accuracy"], ">=", 0.62),
    ("dev-set ECE (all faces)", lambda r: r["real_ece"], "<=", 0.05),
    ("frl_london ECE", lambda r: r["real_by_dataset"]["frl_london"]["ece"], "<=", 0.05),
    ("muxspace ECE", lambda r: r["real_by_dataset"]["muxspace"]["ece"], "<=", 0.05),
    ("FER-2013 PrivateTest accuracy", lambda r: r["privatetest_accuracy"], ">=", 0.725),
    ("FER-2013 PrivateTest macro-F1", lambda r: r["privatetest_macro_f1"], ">=", 0.70),
    ("FER-2013 PrivateTest ECE", lambda r: r["privatetest_ece"], "<=", 0.03),
    ("FER+ PrivateTest accuracy (majority)", lambda r: r["ferplus_privatetest_accuracy"], ">=", 0.80),
]
# issue #20's fast-model targets: the distilled student against the fast model it replaces
FAST_TARGETS = [
    ("real photos, all faces found: accuracy", lambda r: r["real_accuracy"], ">=", 0.613),
    ("dev-set ECE (all faces)", lambda r: r["real_ece"], "<=", 0.06),
    ("frl_london ECE", lambda r: r["real_by_dataset"]["frl_london"]["ece"], "<=", 0.06),
    ("muxspace ECE", lambda r: r["real_by_dataset"]["muxspace"]["ece"], "<=", 0.06),
    ("FER-2013 PrivateTest accuracy", lambda r: r["privatetest_accuracy"], ">=", 0.70),
]
# issue #37's targets (real photos in training): the shipped model against 1.6.0, held-out photo identities included
PHOTO_TARGETS = [
    ("frl_london accuracy", lambda r: r["real_by_dataset"]["frl_london"]["accuracy"], ">=", 0.85),
    ("real photos, all faces found: accuracy", lambda r: r["real_accuracy"], ">=", 0.66),
    ("FER-2013 PrivateTest accuracy", lambda r: r["privatetest_accuracy"], ">=", 0.70),
]
FAST_PHOTO_TARGETS = [
    ("frl_london accuracy", lambda r: r["real_by_dataset"]["frl_london"]["accuracy"], ">=", 0.82),
    ("FER-2013 PrivateTest accuracy", lambda r: r["privatetest_accuracy"], ">=", 0.70),
]
PHOTO_HOLDOUT_GAIN = 0.03  # held-out photo identities: at least 3 points over the model before
MAX_PHOTO_MODEL_COST = 1.2
MAX_COST = 3.0  # classifier time per face, batch 1, against the model before
MAX_FAST_COST = 1.1  # "at today's fast cost": the same network and op count; 10 % absorbs interleaved-timing noise
MAX_PHOTO_COST = 1.5  # a 1 MP photo end to end
MAX_SIZE_MB = 60.0


def model_at(revision: str, tmp: Path, name: str = "emotion_classifier") -> Path:
    """``revision`` as a file: a path as is, else the model file ``models/<name>.onnx`` of that git revision."""
    if Path(revision).is_file():
        return Path(revision)
    path = tmp / f"{name}@{revision}.onnx"
    path.write_bytes(subprocess.run(["git", "show", f"{revision}:models/{name}.onnx"], cwd=ROOT,
                                    check=True, capture_output=True).stdout)
    return path


def photo_ms(rec: EmotionRecognizer, runs: int = 30) -> dict[str, dict]:
    """Median ms for a 1 MP photo through the whole pipeline, the models interleaved run by run."""
    import time

    import numpy as np

    from bench.photos import photo_bytes

    data = photo_bytes(1.0)[0]
    times: dict[str, list[float]] = {m: [] for m in rec.model_names}
    for i in range(runs + 3):
        for m in rec.model_names:
            t0 = time.perf_counter()
            rec.predict(data, model=m)
            if i >= 3:
                times[m].append((time.perf_counter() - t0) * 1e3)
    return {m: {"photo_1mp_ms": float(np.median(t))} for m, t in times.items()}


def held_out_metrics(rec: EmotionRecognizer, pool_path: Path) -> dict[str, dict]:
    """Per model: the photo pool's held-out identities (``train.photo_pool``; crops cut by the app's own pipeline, so
    the classifier sees what it sees in serving): accuracy, happy and neutral recall, macro recall."""
    from train import photo_pool

    held = photo_pool.load(pool_path).split(held=True)
    out = {}
    for name in rec.model_names:
        probs = rec.classify_faces(list(held.crops), model=name)
        s = photo_pool.scores(probs, held)
        out[name] = {"holdout_photos": int(len(held.labels)), "holdout_identities": int(len(set(held.identities.tolist()))),
                     **s}
        print(f"  held-out photo identities {name}: {len(held.labels)} faces, accuracy {s['holdout_acc']:.4f}", flush=True)
    return out


def targets_for(fast: bool, issue: int) -> list:
    if issue == 37:
        return FAST_PHOTO_TARGETS if fast else PHOTO_TARGETS
    return FAST_TARGETS if fast else TARGETS


def table(rows: dict[str, dict], fast: bool = False, issue: int = 20) -> list[str]:
    before, after = rows["before"], rows["after"]
    lines = ["| measure | before | after | target | after meets it |", "|---|---|---|---|---|"]
    if "holdout_acc" in after:
        bar = before["holdout_acc"] + PHOTO_HOLDOUT_GAIN
        lines.append(f"| held-out photo identities ({after['holdout_photos']} faces, {after['holdout_identities']} people): "
                     f"accuracy | {before['holdout_acc']:.1%} | **{after['holdout_acc']:.1%}** | ≥ {bar:.1%} (before + 3) | "
                     f"{'yes' if after['holdout_acc'] >= bar else 'no'} |")
        for c in ("happy", "neutral"):
            lines.append(f"| held-out photo identities: recall {c} | {before[f'holdout_{c}_recall']:.3f} | "
                         f"{after[f'holdout_{c}_recall']:.3f} | – | – |")
    for name, get, op, bar in targets_for(fast, issue):
        b, a = get(before), get(after)
        ok = a >= bar if op == ">=" else a <= bar
        pct = "accuracy" in name
        fmt = (lambda x: f"{x:.1%}") if pct else (lambda x: f"{x:.3f}")
        lines.append(f"| {name} | {fmt(b)} | **{fmt(a)}** | {op.replace('>=', '≥').replace('<=', '≤')} {fmt(bar)} | {'yes' if ok else 'no'} |")
    lines.append(f"| real photos, all: accuracy on faces found | {before['real_accuracy']:.1%} | **{after['real_accuracy']:.1%}** | better | "
                 f"{'yes' if after['real_accuracy'] > before['real_accuracy'] else 'no'} |")
    lines.append(f"| real photos, all: mean confidence | {before['real_mean_confidence']:.3f} | {after['real_mean_confidence']:.3f} | – | – |")
    # The ECE targets against what sampling alone gives: a perfectly calibrated model's ECE on each set (median / 95 %).
    floors = {"dev set": (before["real_ece_if_calibrated"], after["real_ece_if_calibrated"])}
    floors.update({d: (before["real_by_dataset"][d]["ece_if_calibrated"], after["real_by_dataset"][d]["ece_if_calibrated"])
                   for d in after["real_by_dataset"]})
    for d, (b, a) in floors.items():
        lines.append(f"| {d}: ECE of a perfectly calibrated model with these confidences, median / 95 % | {b[0]:.3f} / {b[1]:.3f} "
                     f"| {a[0]:.3f} / {a[1]:.3f} | – | – |")
    cost = after["ms_per_face_batch1"] / before["ms_per_face_batch1"]
    cost8 = after["ms_per_face_batch8"] / before["ms_per_face_batch8"]
    max_cost = MAX_PHOTO_MODEL_COST if issue == 37 else MAX_FAST_COST if fast else MAX_COST
    lines.append(f"| classifier ms per face, batch 1 / 8 | {before['ms_per_face_batch1']:.2f} / {before['ms_per_face_batch8']:.2f} | "
                 f"{after['ms_per_face_batch1']:.2f} / {after['ms_per_face_batch8']:.2f} | ≤ {max_cost:g}× (batch 1) | "
                 f"{'yes' if cost <= max_cost else 'no'} ({cost:.2f}× / {cost8:.2f}×) |")
    photo = after["photo_1mp_ms"] / before["photo_1mp_ms"]
    lines.append(f"| 1 MP photo end to end, ms (median) | {before['photo_1mp_ms']:.1f} | {after['photo_1mp_ms']:.1f} | "
                 f"≤ {MAX_PHOTO_COST:g}× | {'yes' if photo <= MAX_PHOTO_COST else 'no'} ({photo:.2f}×) |")
    lines.append(f"| file size MB | {before['size_mb']:.1f} | {after['size_mb']:.1f} | ≤ {MAX_SIZE_MB:g} | "
                 f"{'yes' if after['size_mb'] <= MAX_SIZE_MB else 'no'} |")
    for c in before["privatetest_recall"]:
        lines.append(f"| recall {c}: FER-2013 PrivateTest / dev set | {before['privatetest_recall'][c]:.3f} / "
                     f"{before['real_recall'].get(c, float('nan')):.3f} | {after['privatetest_recall'][c]:.3f} / "
                     f"{after['real_recall'].get(c, float('nan')):.3f} | – | – |")
    return lines


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.model_upgrade", description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="a model file or a git revision (its models/emotion_classifier.onnx)")
    p.add_argument("--after", default=None, help="default: the shipped models/emotion_classifier(_fast).onnx")
    p.add_argument("--fast", action="store_true", help="the fast models (emotion_classifier_fast.onnx) and the fast targets")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "fer2013")
    p.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "expressions_dev")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--out", type=Path, default=None, help="default: bench/results/model_upgrade(_fast).md")
    p.add_argument("--photo-pool", type=Path, default=None, help="runs/photo_pool.npz (python -m train.photo_pool): "
                   "also score its held-out identities")
    p.add_argument("--issue", type=int, choices=(20, 37), default=20, help="whose targets to check: 20 (the ensemble) "
                   "or 37 (real photos in training)")
    a = p.parse_args(argv)
    name = "emotion_classifier_fast" if a.fast else "emotion_classifier"
    a.after = a.after or str(ROOT / "models" / f"{name}.onnx")
    a.out = a.out or ROOT / "bench" / "results" / f"model_upgrade{'_fast' if a.fast else ''}.md"
    command = "python -m bench.model_upgrade " + " ".join(shlex.quote(s) for s in (argv if argv is not None else sys.argv[1:]))
    with tempfile.TemporaryDirectory() as tmp:
        models = {"before": str(model_at(a.before, Path(tmp), name)), "after": a.after}
        rec = EmotionRecognizer(settings=Settings(ort_threads=1), models=models)
        rows: dict[str, dict] = {n: {"model_version": c.metadata.get("model_version"), "size_mb": Path(c.path).stat().st_size / 1e6}
                                 for n, c in rec.classifiers.items()}
        sources = [latency(rec, a.runs), photo_ms(rec), fer_metrics(rec, a.data), real_photo_metrics(rec, a.photos, 0)]
        if a.photo_pool:
            sources.append(held_out_metrics(rec, a.photo_pool))
        for source in sources:
            for name, r in source.items():
                rows[name].update(r)
    head = [f"# {'Fast classifier' if a.fast else 'Classifier'} before and after (issue {a.issue} {'fast-model ' if a.fast else ''}targets)", "",
            f"`{command}` — {dt.date.today().isoformat()}, {platform.machine()} {_cpu_name()}, onnxruntime 1 thread; "
            f"before = {rows['before']['model_version']}, after = {rows['after']['model_version']}. Real photos: the whole "
            f"pipeline on `{a.photos.name}` (largest face per photo); both models in this one run.", ""]
    text = "\n".join(head + table(rows, a.fast, a.issue)) + "\n"
    print(text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    a.out.with_suffix(".json").write_text(json.dumps({"command": command, "rows": rows}, indent=2, default=float) + "\n")
    return rows


if __name__ == "__main__":
    main()
