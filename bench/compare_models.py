"""``python -m bench.compare_models``: the accurate and the fast model side by side, every number from one run.

FER-2013 PrivateTest (accuracy, macro-F1, ECE after temperature scaling; through ``train.evaluate``'s functions),
the real-photo benchmark (``bench.real_photos``: the whole pipeline, one face detector shared by both models, the
largest face of each photo), the classifier's time per face (onnxruntime, one thread, batch 1 and 8, the models
interleaved run by run so the shared machine's load drifts for both alike) and the file size. Prints a Markdown table
and the verdict against issue 15's bar (the fast model within 1.5 points of the accurate one on both benchmarks and at
least 2× faster per face), and writes the table as JSON into each model's sidecar (``"comparison"``: what the app's
About tab shows) and into ``--json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from bench.real_photos import by_dataset, load_photos, summarise
from bench.real_photos import Outcome
from emotion import EmotionRecognizer, PredictionResult, Settings
from emotion.classes import CLASSES
from train.data import load_fer2013
from train.evaluate import ferplus_metrics, model_logits, split_metrics
from train.ferplus import load_votes, majority_labels
from train.quantize import ms_per_face

ROOT = Path(__file__).resolve().parent.parent
MAX_ACCURACY_DROP_PT = 1.5
MIN_SPEEDUP = 2.0


def fer_metrics(rec: EmotionRecognizer, data: Path) -> dict[str, dict]:
    """Per model: PrivateTest (and PublicTest accuracy) through the app's classifier and preprocessing."""
    ds = load_fer2013(data)
    votes_path = data / "ferplus_votes.csv"
    major = majority_labels(ds["test"].sources, load_votes(votes_path)) if votes_path.is_file() else None
    out = {}
    for name in rec.model_names:
        clf = rec.classifiers[name]
        test_logits = model_logits(clf, ds["test"].images)
        test = split_metrics(test_logits, ds["test"].labels, clf.temperatures, clf.uncertain_threshold)
        val = split_metrics(model_logits(clf, ds["val"].images), ds["val"].labels, clf.temperatures, clf.uncertain_threshold)
        out[name] = {"privatetest_accuracy": test["accuracy"], "privatetest_macro_f1": test["macro_f1"],
                     "privatetest_ece": test["ece_calibrated"], "privatetest_ece_raw": test["ece_raw"],
                     "privatetest_nll": test["nll_calibrated"], "publictest_accuracy": val["accuracy"],
                     "privatetest_uncertain_share": test["uncertain"]["uncertain_share"],
                     "privatetest_images": test["images"],
                     "privatetest_recall": {c: v["recall"] for c, v in test["per_class"].items()}}
        if major is not None:
            fp = ferplus_metrics(test_logits, ds["test"].labels, major)
            out[name].update({"ferplus_privatetest_accuracy": fp["accuracy"], "ferplus_privatetest_macro_f1": fp["macro_f1"],
                              "ferplus_privatetest_images": fp["images"]})
        print(f"  FER-2013 {name}: PrivateTest {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f}, "
              f"ECE {test['ece_calibrated']:.4f}", flush=True)
    return out


def real_photo_metrics(rec: EmotionRecognizer, root: Path, limit: int) -> dict[str, dict]:
    """Per model: the real-photo benchmark, each photo's bytes through ``predict`` with each model in turn."""
    photos = load_photos(root)
    if not photos:
        raise SystemExit(f"no labelled photos under {root}")
    if limit:
        photos = photos[::limit]
    outcomes: dict[str, list[Outcome]] = {m: [] for m in rec.model_names}
    classify_ms: dict[str, list[float]] = {m: [] for m in rec.model_names}
    for photo in photos:
        data = photo.path.read_bytes()
        for name in rec.model_names:
            t0 = time.perf_counter()
            r = rec.predict(data, model=name)
            ms = (time.perf_counter() - t0) * 1e3
            ok = isinstance(r, PredictionResult)
            outcomes[name].append(Outcome(photo, np.array([r.faces[0].probabilities[c] for c in CLASSES]) if ok else None, ms))
            if ok:
                assert r.model == name
                classify_ms[name].append(r.timings_ms["classify"])
    out = {}
    for name, o in outcomes.items():
        s = summarise("all", o)
        out[name] = {"real_photos": s.n, "real_faces_found": s.found, "real_accuracy": s.accuracy,
                     "real_accuracy_e2e": s.accuracy_e2e, "real_macro_f1": s.macro_f1, "real_ece": s.ece,
                     "real_ece_if_calibrated": list(s.ece_if_calibrated),
                     "real_mean_confidence": s.mean_confidence, "real_classify_stage_ms": float(np.median(classify_ms[name])),
                     "real_recall": {k: float(v) for k, v in s.recall.items()},
                     "real_by_dataset": {d.name: {"photos": d.n, "found": d.found, "accuracy": d.accuracy, "ece": d.ece,
                                                  "ece_if_calibrated": list(d.ece_if_calibrated), "mean_confidence": d.mean_confidence, "macro_f1": d.macro_f1}
                                         for d in by_dataset(o) if d.name != "**all**"}}
        print(f"  real photos {name}: {s.found}/{s.n} faces, accuracy {s.accuracy:.4f} (no face = wrong: {s.accuracy_e2e:.4f}), "
              f"ECE {s.ece:.4f}", flush=True)
    return out


def latency(rec: EmotionRecognizer, runs: int) -> dict[str, dict]:
    sessions = {name: clf.session for name, clf in rec.classifiers.items()}
    size = rec.classifier.input_size
    b1 = ms_per_face(sessions, size, 1, runs, warmup=20)
    b8 = ms_per_face(sessions, size, 8, max(20, runs // 4), warmup=5)
    return {name: {"ms_per_face_batch1": b1[name], "ms_per_face_batch8": b8[name]} for name in sessions}


def verdict(rows: dict[str, dict], base: str = "accurate", fast: str = "fast") -> dict:
    a, f = rows[base], rows[fast]
    v = {"privatetest_drop_pt": 100 * (a["privatetest_accuracy"] - f["privatetest_accuracy"]),
         "real_photos_drop_pt": 100 * (a["real_accuracy"] - f["real_accuracy"]) if "real_accuracy" in a else None,
         "real_photos_e2e_drop_pt": 100 * (a["real_accuracy_e2e"] - f["real_accuracy_e2e"]) if "real_accuracy_e2e" in a else None,
         "speedup_batch1": a["ms_per_face_batch1"] / f["ms_per_face_batch1"],
         "speedup_batch8": a["ms_per_face_batch8"] / f["ms_per_face_batch8"],
         "max_accuracy_drop_pt": MAX_ACCURACY_DROP_PT, "min_speedup": MIN_SPEEDUP}
    drops = [d for d in (v["privatetest_drop_pt"], v["real_photos_drop_pt"], v["real_photos_e2e_drop_pt"]) if d is not None]
    v["passes"] = bool(all(d <= MAX_ACCURACY_DROP_PT for d in drops) and v["real_photos_drop_pt"] is not None
                       and min(v["speedup_batch1"], v["speedup_batch8"]) >= MIN_SPEEDUP)
    return v


def print_table(rows: dict[str, dict], v: dict) -> None:
    print("\n| model | FER-2013 PrivateTest accuracy | macro-F1 | ECE | real photos: accuracy (face found) | accuracy (no face = wrong) "
          "| real-photo ECE | ms per face (batch 1) | ms per face (batch 8) | size MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        real = (f"{r['real_accuracy']:.1%} | {r['real_accuracy_e2e']:.1%} | {r['real_ece']:.3f}" if "real_accuracy" in r else "– | – | –")
        print(f"| {name} ({r['description']}) | {r['privatetest_accuracy']:.2%} | {r['privatetest_macro_f1']:.3f} | "
              f"{r['privatetest_ece']:.3f} | {real} | {r['ms_per_face_batch1']:.2f} | {r['ms_per_face_batch8']:.2f} | {r['size_mb']:.1f} |")
    real = (f"{v['real_photos_drop_pt']:+.2f} pt on real photos ({v['real_photos_e2e_drop_pt']:+.2f} pt end to end)"
            if v["real_photos_drop_pt"] is not None else "real photos not measured")
    print(f"\nAccurate − fast: {v['privatetest_drop_pt']:+.2f} pt on PrivateTest, {real}; the fast model is "
          f"{v['speedup_batch1']:.2f}× faster per face at batch 1 and {v['speedup_batch8']:.2f}× at batch 8 (same run). "
          f"Bar: drop ≤ {MAX_ACCURACY_DROP_PT} pt on both, ≥ {MIN_SPEEDUP}× faster → "
          f"**{'passes: ship the fast model' if v['passes'] else 'fails: do not ship the fast model'}**.")


def describe(meta: dict) -> str:
    q = meta.get("quantization")
    kind = f"int8 {q.get('calibration', '')}".strip() if isinstance(q, dict) else "fp32"
    members = [m for m in meta.get("members", []) if m.get("weight")]
    if meta.get("flip_tta"):
        tta = "flip-TTA"
    elif members and all("flip_tta" in m for m in members):
        tta = f"flip-TTA in {sum(m['flip_tta'] for m in members)} of {len(members)} members"
    else:
        tta = "flip-TTA in some members" if members else "no TTA"
    return f"{kind}, {tta}"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.compare_models", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "fer2013", help="FER-2013 (PrivateTest is scored)")
    p.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "expressions_dev", help="the real-photo set")
    p.add_argument("--models", default="accurate,fast",
                   help="names (files from emotion.Settings) or name=path pairs, comma-separated; the first is the baseline")
    p.add_argument("--limit", type=int, default=0, help="every n-th real photo only (0: all), for a quick look")
    p.add_argument("--no-real-photos", action="store_true")
    p.add_argument("--runs", type=int, default=200, help="timed runs at batch 1 (a quarter of it at batch 8)")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "compare_models.json")
    p.add_argument("--no-update-sidecars", dest="update", action="store_false",
                   help="do not write the table into the models' JSON files")
    a = p.parse_args(argv)
    argv_used = argv if argv is not None else sys.argv[1:]
    command = "python -m bench.compare_models " + " ".join(shlex.quote(s) for s in argv_used)

    paths = Settings().model_paths
    models = {}
    for item in (m for m in a.models.split(",") if m):
        name, _, path = item.partition("=")
        models[name] = path or paths[name]
    rec = EmotionRecognizer(settings=Settings(ort_threads=1), models=models)
    print(f"# Accurate vs fast model\n\n`{command}` — {dt.date.today().isoformat()}, {platform.machine()} "
          f"{_cpu_name()}, onnxruntime 1 thread\n", flush=True)
    rows: dict[str, dict] = {}
    for name, clf in rec.classifiers.items():
        rows[name] = {"file": Path(clf.path).name, "description": describe(clf.metadata),
                      "model_version": clf.metadata.get("model_version"), "size_mb": Path(clf.path).stat().st_size / 1e6}
    for name, r in latency(rec, a.runs).items():  # first, on a quiet process: then the bigger jobs
        rows[name].update(r)
    for name, r in fer_metrics(rec, a.data).items():
        rows[name].update(r)
    if not a.no_real_photos:
        for name, r in real_photo_metrics(rec, a.photos, a.limit).items():
            rows[name].update(r)
    names = list(rows)
    v = verdict(rows, names[0], names[1]) if len(names) > 1 else {}
    if v:
        print_table(rows, v)
    result = {"command": command, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()} {_cpu_name()}", "onnxruntime_threads": 1,
              "real_photos": None if a.no_real_photos else f"{a.photos.name}" + (f" (every {a.limit}th)" if a.limit else ""),
              "models": rows, "verdict": v}
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    if a.update:
        for clf in rec.classifiers.values():
            sidecar = Path(clf.path).with_suffix(".json")
            if sidecar.is_file():
                meta = json.loads(sidecar.read_text())
                meta["comparison"] = result
                sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    return result


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
