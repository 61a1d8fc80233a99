"""``python -m train.recalibrate --model models/emotion_classifier.onnx --by-class``: refit a shipped model's
calibration (temperature and "uncertain" threshold) on PublicTest + the real-photo dev crops, and rewrite only its
metadata: the graph, and so every logit and every answer, stays as it was (checked).

``--by-class`` fits one temperature per *predicted* class (``train.calibration.fit_class_temperatures``) instead of one
for all: a model's over-confidence is not the same for every answer (1.5.0 says "neutral" too surely and "surprise" not
surely enough), and keying on the prediction keeps every argmax. The single temperature stays in the metadata as
``temperature`` (for display, and as the member coefficient if this model is ever put into an ensemble, which then
calibrates itself). PrivateTest is never loaded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import onnx

from emotion.classes import CLASSES
from emotion.classifier import OnnxEmotionClassifier, softmax
from train import dev_crops
from train.calibration import fit_class_temperatures, fit_temperature, nll, per_source_ece, uncertain_threshold
from train.data import load_fer2013
from train.evaluate import model_logits


def write_metadata(path: Path, out: Path, updates: dict) -> dict:
    """The model file at ``out`` with ``updates`` merged into its metadata (graph untouched), and its sidecar JSON."""
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in updates.items()})
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(model, str(out), save_as_external_data=False)
    sidecar = path.with_suffix(".json")
    data = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    data.update(updates)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    return data


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.recalibrate", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("models/emotion_classifier.onnx"))
    p.add_argument("--data", required=True, help="FER-2013 (PublicTest calibrates; PrivateTest is not read)")
    p.add_argument("--dev-crops", default="runs/dev_crops.npz", help="python -m train.dev_crops output")
    p.add_argument("--by-class", action="store_true", help="one temperature per predicted class (else one for all)")
    p.add_argument("--min-count", type=int, default=50, help="a class predicted fewer times keeps the single temperature")
    p.add_argument("--certain-accuracy", type=float, default=None, help="accuracy wanted above the 'uncertain' threshold "
                   "(default: the model's own)")
    p.add_argument("--out", type=Path, default=None, help="default: rewrite --model in place")
    p.add_argument("--model-version", default=None, help="a new version for the model (its probabilities change; its "
                   "answers do not); default: keep it")
    a = p.parse_args(argv)
    out = a.out or a.model

    clf = OnnxEmotionClassifier(a.model, threads=2)
    accuracy = a.certain_accuracy or float(clf.metadata.get("certain_accuracy", 0.8))
    val, devset = load_fer2013(a.data)["val"], dev_crops.load(a.dev_crops)
    logits = np.concatenate([model_logits(clf, val.images), model_logits(clf, devset.crops)])  # crops: already at input size
    labels = np.concatenate([val.labels, devset.labels])
    sources = np.concatenate([np.full(len(val.labels), "publictest"), devset.datasets.astype(str)])

    temperature = fit_temperature(logits, labels)
    temperatures = fit_class_temperatures(logits, labels, a.min_count, temperature) if a.by_class else temperature
    threshold = uncertain_threshold(softmax(logits, temperatures), labels, accuracy)
    before, after = ({k: round(v, 4) for k, v in per_source_ece(probs, labels, sources).items()}
                     for probs in (clf.calibrate(logits), softmax(logits, temperatures)))
    print(f"{a.model}: NLL {nll(logits, labels, clf.temperatures):.4f} → {nll(logits, labels, temperatures):.4f}; "
          f"uncertain below {clf.uncertain_threshold} → {threshold}")
    print("ECE before → after: " + ", ".join(f"{k} {before[k]:.3f} → {after[k]:.3f}" for k in after))
    if a.by_class:
        print("temperature by predicted class: " + ", ".join(f"{c} {t:.3f}" for c, t in zip(CLASSES, temperatures))
              + f" (single: {temperature:.3f})")

    updates = {
        "temperature": round(temperature, 5),
        "temperature_by_class": {c: round(float(t), 5) for c, t in zip(CLASSES, temperatures)} if a.by_class else None,
        "calibrated_on": "publictest+dev", "certain_accuracy": accuracy, "uncertain_threshold": threshold,
        "uncertain_rule": f"lowest confidence above which {accuracy:.0%} of publictest+dev predictions are right",
        "calibration": {"method": ("temperature per predicted class (min "
                                   f"{a.min_count} faces, else the single one)") if a.by_class else "one temperature",
                        "ece_before": before, "ece_after": after, "faces": int(len(labels))},
        "recalibrate_command": "python -m train.recalibrate " + " ".join(shlex.quote(s) for s in (argv or sys.argv[1:])),
        "recalibrated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    validation = dict(clf.metadata.get("validation") or {})
    if "ece" in validation:  # the ECE the model reports is the one of the calibration now in force
        updates["validation"] = {**validation, "ece": after}
    if a.model_version:
        updates["model_version"] = a.model_version
    data = write_metadata(a.model, out, updates)

    new = OnnxEmotionClassifier(out, threads=2)  # the graph is untouched: same logits, same answers
    check = val.images[:256]  # the first rows of ``logits``
    delta = float(np.abs(model_logits(new, check) - logits[:len(check)]).max())
    if delta > 0 or not np.allclose(new.calibrate(logits), softmax(logits, temperatures), atol=1e-6):
        raise SystemExit(f"error: {out} answers differently after recalibration (max |Δlogit| {delta})")
    print(f"wrote {out} (logits unchanged on {len(check)} PublicTest faces; argmax of every face unchanged by construction)")
    return data


if __name__ == "__main__":
    main()
