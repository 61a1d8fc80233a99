"""``python -m train.offset_sweep --model models/emotion_classifier.onnx --class fear``: what raising class logits does
to a shipped model, on validation data only (PublicTest: accuracy, the class's recall, FER+ majority accuracy; the
real-photo dev crops: accuracy, the class's recall). Chooses the class-prior shifts that ``train.export --logit-offset``
and ``train.ensemble --logit-offset`` bake in:

- one class, ``--min-recall`` / ``--keep-recall-of``: the smallest offset whose PublicTest recall of the class is at
  least the bar (e.g. the previous model's, so a class is not given up for the others);
- ``--choose`` over one or more classes (every combination of ``--offsets``): the shipping rule of ``train.ensemble``
  (dev accuracy + 0.5 · FER+ accuracy, PublicTest ≥ ``--min-publictest``), without letting any ``--keep`` class's
  PublicTest recall fall below its bar. Because the dev set both chooses and scores here, the choice is repeated on
  random halves of the dev crops and scored on the other halves (``--halves``): the gain that is not fitted noise."""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np

from emotion.classes import CLASSES
from emotion.classifier import OnnxEmotionClassifier
from emotion.preprocess import preprocess_faces
from train import dev_crops, ferplus
from train.data import load_fer2013

PREVIOUS_PUBLICTEST = 0.6899  # model 1.2.0's PublicTest accuracy, the floor train.ensemble keeps (PrivateTest 70.02 %)


def shift_of(offsets: dict[str, float]) -> np.ndarray:
    """The per-class logit shift for ``{class: offset}``, shape (7,)."""
    shift = np.zeros(len(CLASSES), np.float32)
    for cls, value in offsets.items():
        shift[CLASSES.index(cls)] += value
    return shift


def score(val: np.ndarray, val_labels: np.ndarray, dev: np.ndarray, devset: dev_crops.DevCrops, shift: np.ndarray,
          major: np.ndarray | None = None) -> dict:
    """Validation scores of logits moved by ``shift``: PublicTest accuracy (``val_acc``), every class's PublicTest and
    dev recall (``recall_<class>``, ``dev_recall_<class>``), dev accuracy per dataset and ``all``, FER+ accuracy."""
    pv, pd = (val + shift).argmax(1), (dev + shift).argmax(1)
    row = {"val_acc": float((pv == val_labels).mean()), **dev_crops.accuracies(pd, devset)}
    for k, cls in enumerate(CLASSES):
        row[f"recall_{cls}"] = float((pv[val_labels == k] == k).mean()) if (val_labels == k).any() else float("nan")
        row[f"dev_recall_{cls}"] = float((pd[devset.labels == k] == k).mean()) if (devset.labels == k).any() else float("nan")
    if major is not None:
        row["ferplus"] = float((pv[major >= 0] == major[major >= 0]).mean())
    return row


def shifted(val: np.ndarray, val_labels: np.ndarray, dev: np.ndarray, devset: dev_crops.DevCrops, cls: str,
            offsets: list[float] | tuple[float, ...], major: np.ndarray | None = None) -> list[dict]:
    """``score`` with ``cls``'s logit raised by each offset; ``recall``/``dev_recall`` are that class's."""
    rows = []
    for off in offsets:
        row = score(val, val_labels, dev, devset, shift_of({cls: off}), major)
        rows.append({"offset": off, **row, "recall": row[f"recall_{cls}"], "dev_recall": row[f"dev_recall_{cls}"]})
    return rows


def rule_score(dev_all: float, ferplus: float) -> float:
    """The shipping rule's score, for ensemble weights and class priors alike: real photos first, then the FER+ crowd
    (the issue's order of authority; FER-2013's own labels enter as the PublicTest floor)."""
    return dev_all + 0.5 * ferplus


def rule_value(row: dict) -> float:
    """``rule_score`` of a ``score`` row."""
    return rule_score(row["all"], row["ferplus"])


def choose(val: np.ndarray, val_labels: np.ndarray, dev: np.ndarray, devset: dev_crops.DevCrops, major: np.ndarray,
           classes: list[str], offsets: list[float], keep: dict[str, float], min_publictest: float) -> tuple[dict, list[dict]]:
    """Every combination of ``offsets`` over ``classes`` scored; the one the rule picks among those with PublicTest ≥
    ``min_publictest`` and each ``keep`` class's PublicTest recall ≥ its bar (ties: the smallest total shift; each row
    says whether it was ``allowed``). The all-zero shift is always allowed, so a model that no shift improves keeps its
    answers."""
    rows = []
    for combo in itertools.product(offsets, repeat=len(classes)):
        chosen = dict(zip(classes, combo))
        rows.append({"offsets": chosen, **score(val, val_labels, dev, devset, shift_of(chosen), major)})
    zero = next(r for r in rows if not any(r["offsets"].values()))

    def allowed(r: dict) -> bool:
        return r is zero or (r["val_acc"] >= min_publictest and all(r[f"recall_{c}"] >= bar - 1e-9 for c, bar in keep.items()))

    for r in rows:
        r["allowed"] = allowed(r)
    best = max((r for r in rows if r["allowed"]), key=lambda r: (round(rule_value(r), 9), -sum(r["offsets"].values())))
    return best, rows


def held_out_gains(val: np.ndarray, val_labels: np.ndarray, dev: np.ndarray, devset: dev_crops.DevCrops,
                   major: np.ndarray, classes: list[str], offsets: list[float], keep: dict[str, float],
                   min_publictest: float, halves: int, seed: int = 0) -> list[tuple[dict, float]]:
    """For each of ``halves`` random splits of the dev crops: the shift chosen on one half and the dev accuracy it adds
    on the other half (points of accuracy, vs no shift)."""
    out = []
    for a in dev_crops.random_halves(len(devset.labels), halves, seed):
        best, _ = choose(val, val_labels, dev[a], devset.subset(a), major, classes, offsets, keep, min_publictest)
        b = devset.subset(~a)
        gain = (score(val, val_labels, dev[~a], b, shift_of(best["offsets"]))["all"]
                - score(val, val_labels, dev[~a], b, shift_of({}))["all"])
        out.append((best["offsets"], gain))
    return out


def validation(data: str, votes: str, dev_path: str):
    """PublicTest (faces, model input, FER-2013 labels, FER+ majority labels) and the dev crops: all that chooses,
    loaded once for every model scored on it."""
    val = load_fer2013(data)["val"]
    return (val, preprocess_faces(val.images), val.labels, ferplus.majority_labels(val.sources, ferplus.load_votes(votes)),
            dev_crops.load(dev_path))


def batched_logits(clf: OnnxEmotionClassifier, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """A model's logits on prepared inputs, a batch at a time (an ensemble's activations on 3,589 faces at once would
    take gigabytes)."""
    return np.concatenate([clf.logits(x[i:i + batch]) for i in range(0, len(x), batch)])


def validation_logits(model: str, x_val: np.ndarray, devset: dev_crops.DevCrops) -> tuple[np.ndarray, np.ndarray, dict]:
    """A shipped ONNX model's logits (as the app answers: any baked-in shift included) on PublicTest and the dev crops,
    and the shift it already has."""
    clf = OnnxEmotionClassifier(model, threads=2)
    return batched_logits(clf, x_val), batched_logits(clf, devset.inputs()), dict(clf.metadata.get("logit_offset") or {})


def sweep(model: str, cls: str, checked: tuple, offsets: list[float]) -> list[dict]:
    """``shifted`` for a shipped ONNX model on ``checked`` (``validation``'s output)."""
    _, x_val, y, major, devset = checked
    val, dev, _ = validation_logits(model, x_val, devset)
    return shifted(val, y, dev, devset, cls, offsets, major)


def main(argv: list[str] | None = None) -> dict | list[dict]:
    p = argparse.ArgumentParser(prog="python -m train.offset_sweep", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--class", dest="classes", nargs="+", choices=CLASSES, required=True)
    p.add_argument("--data", default="../shared/fer2013")
    p.add_argument("--ferplus", default="../shared/fer2013/ferplus_votes.csv")
    p.add_argument("--dev-crops", default="runs/dev_crops.npz")
    p.add_argument("--offsets", default="0,0.1,0.2,0.3,0.4,0.5,0.6")
    p.add_argument("--min-recall", type=float, default=None, help="the PublicTest recall of --class to keep")
    p.add_argument("--keep-recall-of", default=None, help="an earlier model (ONNX): keep its PublicTest recall of --class "
                   "(with --choose: of every --keep class)")
    p.add_argument("--choose", action="store_true", help="pick the shift of all --class together by the shipping rule")
    p.add_argument("--keep", nargs="*", default=["disgust", "fear"], choices=CLASSES,
                   help="with --choose: classes whose PublicTest recall may not fall (bar: --keep-recall-of's, else "
                   "this model's own)")
    p.add_argument("--min-publictest", type=float, default=PREVIOUS_PUBLICTEST)
    p.add_argument("--halves", type=int, default=10, help="with --choose: random dev halves for the held-out check")
    a = p.parse_args(argv)
    offsets = [float(o) for o in a.offsets.split(",")]
    if a.choose:
        return _choose(a, offsets)
    if len(a.classes) != 1:
        p.error("several --class need --choose")
    cls = a.classes[0]
    checked = validation(a.data, a.ferplus, a.dev_crops)
    if a.keep_recall_of:
        a.min_recall = sweep(a.keep_recall_of, cls, checked, [0.0])[0]["recall"]
    rows = sweep(a.model, cls, checked, offsets)
    print(f"| {cls} logit offset | PublicTest FER | {cls} recall | PublicTest FER+ | dev all | dev {cls} recall |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['offset']:+.2f} | {r['val_acc']:.2%} | {r['recall']:.3f} | {r['ferplus']:.2%} | {r['all']:.2%} | {r['dev_recall']:.3f} |")
    if a.min_recall is not None:
        ok = [r for r in rows if r["recall"] >= a.min_recall]
        print(f"smallest offset keeping {cls} recall ≥ {a.min_recall:.4f}: " + (f"{ok[0]['offset']:g}" if ok else "none on the grid"))
    return rows


def _choose(a: argparse.Namespace, offsets: list[float]) -> dict:
    _, x_val, y, major, devset = validation(a.data, a.ferplus, a.dev_crops)
    val, dev, baked = validation_logits(a.model, x_val, devset)
    bar_val, bar_dev, _ = validation_logits(a.keep_recall_of, x_val, devset) if a.keep_recall_of else (val, dev, None)
    bars = score(bar_val, y, bar_dev, devset, shift_of({}), major)
    keep = {c: bars[f"recall_{c}"] for c in a.keep if not np.isnan(bars[f"recall_{c}"])}  # a class PublicTest lacks has no bar
    best, rows = choose(val, y, dev, devset, major, a.classes, offsets, keep, a.min_publictest)
    zero = next(r for r in rows if not any(r["offsets"].values()))
    heads = " | ".join(a.classes)
    print(f"| {heads} | PublicTest | FER+ | dev all | frl_london | muxspace | rule | "
          + " | ".join(f"PT/dev {c} recall" for c in CLASSES) + " |")
    print("|" + "---|" * (len(a.classes) + 6 + len(CLASSES)))
    top = sorted(rows, key=rule_value, reverse=True)[:8]
    shown = [zero] + ([best] if best is not zero else []) + [r for r in top if r is not best and r is not zero]
    for r in shown:
        mark = (" (none, chosen)" if r is best else " (none)") if r is zero else (
            " (chosen)" if r is best else "" if r["allowed"] else " (breaks a bar)")
        print("| " + " | ".join(f"{r['offsets'][c]:+.2f}" for c in a.classes)
              + f"{mark} | {r['val_acc']:.2%} | {r['ferplus']:.2%} | {r['all']:.2%} | {r.get('frl_london', float('nan')):.2%} | "
              f"{r.get('muxspace', float('nan')):.2%} | {rule_value(r):.4f} | "
              + " | ".join(f"{r[f'recall_{c}']:.3f}/{r[f'dev_recall_{c}']:.3f}" for c in CLASSES) + " |")
    print("bars kept: " + ", ".join(f"{c} PublicTest recall ≥ {v:.3f}" for c, v in keep.items())
          + f"; PublicTest ≥ {a.min_publictest:.4f}")
    if a.halves:
        gains = held_out_gains(val, y, dev, devset, major, a.classes, offsets, keep, a.min_publictest, a.halves)
        g = np.array([x[1] for x in gains])
        picks = sorted({json.dumps(x[0], sort_keys=True) for x in gains})
        print(f"held out: chosen on half the dev crops, scored on the other half, {a.halves} splits: dev accuracy "
              f"{g.mean():+.2%} on average (min {g.min():+.2%}, max {g.max():+.2%}); picks {', '.join(picks)}")
        if best is zero:
            print("no shift on the grid beats the model as it is under the bars")
        elif g.mean() <= 0:
            print("the held-out halves gain nothing: the choice fits the dev set's noise; keep the model as it is")
    total = {c: round(baked.get(c, 0.0) + best["offsets"].get(c, 0.0), 4) for c in sorted(set(baked) | set(a.classes))}
    flags = " ".join(f"--logit-offset {c}={v:g}" for c, v in total.items() if v)
    print(f"chosen shift {json.dumps(best['offsets'])} on top of the model's own {json.dumps(baked)}: rebuild with {flags or '(no offset)'}")
    return {"chosen": best, "total": total}


if __name__ == "__main__":
    main()
