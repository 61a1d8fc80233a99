"""``python -m train.offset_sweep --model models/emotion_classifier.onnx --class fear``: what raising one class's logit
does to a shipped model, on validation data only (PublicTest: accuracy, that class's recall, FER+ majority accuracy;
the real-photo dev crops: accuracy, that class's recall). Chooses the class-prior shift that ``train.export
--logit-offset`` and ``train.ensemble --logit-offset`` bake in: the smallest offset on the grid whose PublicTest recall
of the class is at least ``--min-recall`` (e.g. the previous model's, so a class is not given up for the others)."""

from __future__ import annotations

import argparse

import numpy as np

from emotion.classes import CLASSES
from emotion.classifier import OnnxEmotionClassifier
from emotion.preprocess import preprocess_faces
from train import dev_crops, ferplus
from train.data import load_fer2013


def class_shift(cls: str, value: float) -> np.ndarray:
    """The per-class logit shift that raises ``cls`` by ``value`` (a class-prior shift), shape (7,)."""
    shift = np.zeros(len(CLASSES), np.float32)
    shift[CLASSES.index(cls)] = value
    return shift


def shifted(val: np.ndarray, val_labels: np.ndarray, dev: np.ndarray, devset: dev_crops.DevCrops, cls: str,
            offsets: list[float] | tuple[float, ...], major: np.ndarray | None = None) -> list[dict]:
    """Scores of ``val``/``dev`` logits with ``cls``'s logit raised by each offset: PublicTest accuracy (``val_acc``),
    the class's recall there (and on the dev crops), dev accuracy per dataset and ``all``, FER+ accuracy with ``major``."""
    k, rows = CLASSES.index(cls), []
    for off in offsets:
        shift = class_shift(cls, off)
        pv, pd = (val + shift).argmax(1), (dev + shift).argmax(1)
        row = {"offset": off, "val_acc": float((pv == val_labels).mean()), "recall": float((pv[val_labels == k] == k).mean()),
               **dev_crops.accuracies(pd, devset), "dev_recall": float((pd[devset.labels == k] == k).mean())}
        if major is not None:
            row["ferplus"] = float((pv[major >= 0] == major[major >= 0]).mean())
        rows.append(row)
    return rows


def sweep(model: str, cls: str, data: str, votes: str, dev_path: str, offsets: list[float]) -> list[dict]:
    """``shifted`` for a shipped ONNX model (its calibrated pipeline's logits, as the app answers)."""
    val, dev = load_fer2013(data)["val"], dev_crops.load(dev_path)
    major = ferplus.majority_labels(val.sources, ferplus.load_votes(votes))
    clf = OnnxEmotionClassifier(model, threads=2)
    logits = lambda x: np.concatenate([clf.logits(x[i:i + 256]) for i in range(0, len(x), 256)])  # noqa: E731
    return shifted(logits(preprocess_faces(val.images, clf.input_size)), val.labels, logits(dev.inputs()), dev, cls,
                   offsets, major)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m train.offset_sweep", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--class", dest="cls", choices=CLASSES, required=True)
    p.add_argument("--data", default="../shared/fer2013")
    p.add_argument("--ferplus", default="../shared/fer2013/ferplus_votes.csv")
    p.add_argument("--dev-crops", default="runs/dev_crops.npz")
    p.add_argument("--offsets", default="0,0.1,0.2,0.3,0.4,0.5,0.6")
    p.add_argument("--min-recall", type=float, default=None, help="the PublicTest recall of --class to keep")
    p.add_argument("--keep-recall-of", default=None, help="an earlier model (ONNX): keep its PublicTest recall of --class")
    a = p.parse_args(argv)
    if a.keep_recall_of:
        a.min_recall = sweep(a.keep_recall_of, a.cls, a.data, a.ferplus, a.dev_crops, [0.0])[0]["recall"]
    rows = sweep(a.model, a.cls, a.data, a.ferplus, a.dev_crops, [float(o) for o in a.offsets.split(",")])
    print(f"| {a.cls} logit offset | PublicTest FER | {a.cls} recall | PublicTest FER+ | dev all | dev {a.cls} recall |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['offset']:+.2f} | {r['val_acc']:.2%} | {r['recall']:.3f} | {r['ferplus']:.2%} | {r['all']:.2%} | {r['dev_recall']:.3f} |")
    if a.min_recall is not None:
        ok = [r for r in rows if r["recall"] >= a.min_recall]
        print(f"smallest offset keeping {a.cls} recall ≥ {a.min_recall:.4f}: " + (f"{ok[0]['offset']:g}" if ok else "none on the grid"))
    return rows


if __name__ == "__main__":
    main()
