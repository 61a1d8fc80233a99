"""``python -m train.ensemble --members models/members/*.onnx --data ../shared/fer2013``: differently trained
members → one ONNX graph with the shipped model's contract (input ``image`` (N, 1, 96, 96); outputs ``logits`` and
``cam``), weights chosen and the result calibrated on validation data only (PublicTest and the real-photo dev set).

Each member is an ONNX file written by ``train.export`` (its own flip-TTA, FER+ head share and temperature ``T_i``).
The ensemble's logits are ``Σ w_i · logits_i / T_i``: a weighted geometric mean of the members' calibrated
probabilities (logits average linearly, so the class-activation maps average the same way and their spatial mean is
still the logits). The weights are chosen on a grid over the simplex by the order of authority decided for this
product: among the weightings whose PublicTest accuracy on FER-2013's labels is at least ``--min-publictest`` (the
floor that keeps FER-2013 where it was), the one with the best ``dev accuracy + 0.5 · FER+ PublicTest accuracy``
(real photos first, the FER+ crowd second). The temperature and the "uncertain" threshold are then fitted on PublicTest
+ dev as for a single model. PrivateTest is never loaded here.

Members are built from their ONNX files, not from checkpoints, so the ensemble can be rebuilt in any later session
from what the repository holds (``models/members/``).

A new member's FER+ head share β is chosen jointly with the weights, before it is exported: ``--choose`` takes
members as ONNX files (fixed) or as run checkpoints (``runs/m2/best.pt``: both heads' flip-TTA logits, any β on a grid
is exact since the folded head is linear in β), applies the same rule to every (β, weights) on the grids, and prints
the ``train.export`` command of each checkpoint at its β and the ``train.ensemble`` command that builds the result.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import compose, helper, numpy_helper
from scipy.special import softmax

from emotion.classes import CLASSES
from emotion.classifier import OnnxEmotionClassifier
from train import dev_crops
from train.calibration import fit_calibration, nll, per_source_ece
from train.export import parse_offsets
from train.offset_sweep import PREVIOUS_PUBLICTEST, batched_logits, rule_score, shift_of, validation

MODEL_VERSION = "1.7.0"  # 1.7.0: m9 (real photos in training, train.photo_pool) replaces m4; 1.6.0: a surprise prior (train.offset_sweep --choose); 1.5.0: members distilled from a FER-leaning teacher (m5 Lite1@96, m6 Lite0@80 plain); 1.4.0: the distilled student replaces m1; 1.3.0: the first ensemble (m1, m2, m3)


@dataclass
class Member:
    path: Path
    clf: OnnxEmotionClassifier
    val: np.ndarray  # calibrated logits (logits / T) on PublicTest
    dev: np.ndarray  # … on the dev crops

    @property
    def meta(self) -> dict:
        return self.clf.metadata


def load_members(paths: list[Path], x_val: np.ndarray, x_dev: np.ndarray) -> list[Member]:
    out = []
    for p in paths:
        clf = OnnxEmotionClassifier(p, threads=2)
        if tuple(clf.classes) != tuple(CLASSES) or clf.input_size != x_val.shape[-1]:
            raise SystemExit(f"error: {p} has classes {clf.classes} and input {clf.input_size}; the ensemble needs "
                             f"{list(CLASSES)} at {x_val.shape[-1]} px")
        out.append(Member(p, clf, batched_logits(clf, x_val) / clf.temperature, batched_logits(clf, x_dev) / clf.temperature))
    return out


def simplex(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector of ``n`` non-negative multiples of ``step`` that sum to 1."""
    k = round(1 / step)
    return [tuple(c / k for c in combo) + ((k - sum(combo)) / k,)
            for combo in itertools.product(range(k + 1), repeat=n - 1) if sum(combo) <= k]


def evaluate(val: np.ndarray, dev: np.ndarray, y_val: np.ndarray, major: np.ndarray, devset: dev_crops.DevCrops) -> dict:
    known = major >= 0
    out = {"publictest": float((val.argmax(1) == y_val).mean()),
           "ferplus_publictest": float((val[known].argmax(1) == major[known]).mean())}
    out.update({f"dev_{k}": v for k, v in dev_crops.accuracies(dev.argmax(1), devset).items()})
    return out


def choose(members: list[Member], y_val, major, devset, min_publictest: float, step: float,
           objective: str = "product") -> tuple[tuple[float, ...], list[dict]]:
    """Every weighting on the grid with its validation scores, and the one the rule picks. ``objective="teacher"``
    picks the best PublicTest accuracy on FER-2013's labels instead (FER+ breaks ties): a teacher whose targets lift a
    student's FER-2013 head, whose shortfall is what holds the shipped ensemble's weights back at the floor."""
    rows = []
    for w in simplex(len(members), step):
        val = sum(wi * m.val for wi, m in zip(w, members))
        dev = sum(wi * m.dev for wi, m in zip(w, members))
        s = evaluate(val, dev, y_val, major, devset)
        s["weights"], s["score"] = list(w), rule_score(s["dev_all"], s["ferplus_publictest"])
        rows.append(s)
    if objective == "teacher":
        best = max(rows, key=lambda r: (r["publictest"], r["ferplus_publictest"]))
        return tuple(best["weights"]), rows
    allowed = [r for r in rows if r["publictest"] >= min_publictest] or rows
    best = max(allowed, key=lambda r: (r["score"], r["publictest"]))
    return tuple(best["weights"]), rows


def choose_with_heads(paths: list[str], data: str, votes: str, dev_path: str, min_publictest: float, step: float,
                      beta_step: float = 0.1, plain: frozenset[str] = frozenset()) -> dict:
    """``--choose``: the best (β per checkpoint member, weights) by the rule, on PublicTest + dev; nothing exported.
    Checkpoints named in ``plain`` are scored without flip-TTA, as they will be exported (half their cost per face)."""
    from train.calibration import fit_temperature
    from train.tune import validation_logits

    val, x_val, y, major, devset = validation(data, votes, dev_path)
    options: list[list[tuple[float | None, np.ndarray, np.ndarray]]] = []  # per member: (β, val, dev) candidates
    for path in paths:
        if path.endswith(".onnx"):
            m = load_members([Path(path)], x_val, devset.inputs())[0]
            options.append([(None, m.val, m.dev)])
            continue
        _, _, _, (vm, va), (dm, da) = validation_logits(path, data, dev_path, flip=path not in plain)
        cands = []
        for beta in np.round(np.arange(0, 1 + 1e-9, beta_step), 3):
            v, d = (1 - beta) * vm + beta * va, (1 - beta) * dm + beta * da
            t = fit_temperature(np.concatenate([v, d]), np.concatenate([y, devset.labels]))  # as train.export fits it
            cands.append((float(beta), v / t, d / t))
        options.append(cands)
    best, grid = None, simplex(len(paths), step)
    for combo in itertools.product(*options):
        for w in grid:
            val_l = sum(wi * c[1] for wi, c in zip(w, combo))
            s = evaluate(val_l, sum(wi * c[2] for wi, c in zip(w, combo)), y, major, devset)
            score = rule_score(s["dev_all"], s["ferplus_publictest"])
            key = (s["publictest"] >= min_publictest, score, s["publictest"])
            if best is None or key > best[0]:
                best = (key, [c[0] for c in combo], list(w), s)
    _, betas, weights, scores = best
    return {"betas": betas, "weights": weights, "scores": scores, "floor_met": best[0][0]}


def cam_grid(member: Member) -> int:
    """The side of a member's class-activation map (its input side over its stride), from one run on a blank face."""
    side = member.clf.input_size
    return int(member.clf.logits_and_cam(np.zeros((1, 1, side, side), np.float32))[1].shape[-1])


def build_graph(members: list[Member], weights: tuple[float, ...], offset: np.ndarray | None = None) -> onnx.ModelProto:
    """One graph: the input ``image`` feeds every member (prefixed ``m{i}_``); logits and CAMs are summed with the
    coefficients ``w_i / T_i``, plus a per-class ``offset`` (a class-prior shift, added to every CAM cell too, so the
    CAM's spatial mean stays the logits). A member with a finer CAM grid (e.g. ``fer_vgg``: 6×6 against the
    EfficientNets' 3×3) is average-pooled to the coarsest one first. Members with no weight are left out."""
    used = [(m, w) for m, w in zip(members, weights) if w > 0]
    grids = [cam_grid(m) for m, _ in used]
    coarse = min(grids)
    for (m, _), g in zip(used, grids):
        if g % coarse:
            raise ValueError(f"{m.path.name}: its {g}×{g} class-activation grid is not a multiple of the coarsest "
                             f"member's {coarse}×{coarse}; the CAMs cannot be summed")
    nodes, inits, infos, opsets, cams = [], [], [], {}, []
    first = None
    for i, (m, w) in enumerate(used):
        model = onnx.load(str(m.path))
        if first is None:  # the contract (input, outputs) as the first member states it, before prefixing
            first, contract_in, contract_out = model, onnx.ValueInfoProto(), list(model.graph.output)
            contract_in.CopyFrom(model.graph.input[0])
        model = compose.add_prefix(model, f"m{i}_")
        g = model.graph
        nodes.append(helper.make_node("Identity", ["image"], [g.input[0].name], name=f"m{i}_feed"))
        nodes.extend(g.node)
        inits.extend(g.initializer)
        infos.extend(g.value_info)
        for op in model.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
        coef = np.array(w / m.clf.temperature, dtype=np.float32)
        inits.append(numpy_helper.from_array(coef, f"m{i}_coef"))
        nodes.append(helper.make_node("Mul", [f"m{i}_logits", f"m{i}_coef"], [f"m{i}_wlogits"], name=f"m{i}_wl"))
        nodes.append(helper.make_node("Mul", [f"m{i}_cam", f"m{i}_coef"], [f"m{i}_wcam"], name=f"m{i}_wc"))
        cams.append(f"m{i}_wcam")
        if (k := grids[i] // coarse) > 1:  # a finer grid (another stride): k×k average pooling keeps its mean, the logits
            nodes.append(helper.make_node("AveragePool", [cams[-1]], [f"m{i}_wcam_pooled"], name=f"m{i}_pool",
                                          kernel_shape=[k, k], strides=[k, k]))
            cams[-1] = f"m{i}_wcam_pooled"
    shifted = offset is not None and bool(np.any(offset))
    nodes.append(helper.make_node("Sum", [f"m{i}_wlogits" for i in range(len(used))], ["logits_sum" if shifted else "logits"], name="ensemble_logits"))
    nodes.append(helper.make_node("Sum", cams, ["cam_sum" if shifted else "cam"], name="ensemble_cam"))
    if shifted:
        inits.append(numpy_helper.from_array(np.asarray(offset, np.float32).reshape(1, -1), "class_offset"))
        inits.append(numpy_helper.from_array(np.asarray(offset, np.float32).reshape(1, -1, 1, 1), "class_offset_cam"))
        nodes.append(helper.make_node("Add", ["logits_sum", "class_offset"], ["logits"], name="ensemble_offset"))
        nodes.append(helper.make_node("Add", ["cam_sum", "class_offset_cam"], ["cam"], name="ensemble_cam_offset"))
    graph = helper.make_graph(nodes, "emotion_ensemble", [contract_in], contract_out, inits, value_info=infos)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                              producer_name="train.ensemble")
    model.ir_version = first.ir_version
    onnx.checker.check_model(model)
    return model


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.ensemble", description=__doc__.splitlines()[0])
    p.add_argument("--members", nargs="+", required=True, type=Path, help="member ONNX files (python -m train.export); "
                   "with --choose also run checkpoints (best.pt)")
    p.add_argument("--choose", action="store_true", help="choose each checkpoint member's β with the weights, print the "
                   "export and ensemble commands, build nothing")
    p.add_argument("--plain", nargs="*", default=[], help="with --choose: checkpoint members to score and export without "
                   "flip-TTA (half a member's cost, to keep the ensemble within its cost per face)")
    p.add_argument("--data", required=True, help="FER-2013 (PublicTest chooses the weights and calibrates)")
    p.add_argument("--ferplus", default="../shared/fer2013/ferplus_votes.csv", help="FER+ votes (majority labels)")
    p.add_argument("--dev-crops", default="runs/dev_crops.npz", help="python -m train.dev_crops output")
    p.add_argument("--out", default="models/emotion_classifier.onnx", type=Path)
    p.add_argument("--weights", nargs="*", type=float, help="fixed weights (default: chosen on the grid)")
    p.add_argument("--step", type=float, default=0.05, help="grid step of the weight search")
    p.add_argument("--min-publictest", type=float, default=PREVIOUS_PUBLICTEST)
    p.add_argument("--objective", choices=("product", "teacher"), default="product",
                   help="product: the shipping rule (real photos, then FER+, above the PublicTest floor); teacher: the "
                   "best PublicTest accuracy on FER-2013's labels, for a distillation teacher (python -m train --teacher)")
    p.add_argument("--certain-accuracy", type=float, default=0.8)
    p.add_argument("--logit-offset", action="append", default=[], metavar="CLASS=VALUE",
                   help="add VALUE to CLASS's logit (a class-prior shift; python -m train.offset_sweep chooses it); "
                   "repeat for several classes")
    a = p.parse_args(argv)
    if a.choose:
        c = choose_with_heads([str(m) for m in a.members], a.data, a.ferplus, a.dev_crops, a.min_publictest, a.step,
                              plain=frozenset(a.plain))
        print(json.dumps(c, indent=2))
        onnx_paths = []
        for m, beta in zip(a.members, c["betas"]):
            if beta is None:
                onnx_paths.append(str(m))
                continue
            out = f"models/members/{m.parent.name}.onnx"
            onnx_paths.append(out)
            # --flip-tta on/off as the choice scored it; "auto" may drop TTA and ship other logits than chosen
            flip = "off" if str(m) in a.plain else "on"
            print(f"python -m train.export --checkpoint {m} --data {a.data} --out {out} --head-mix {beta:g} --flip-tta {flip} "
                  f"--calibrate-on publictest+dev --dev-crops {a.dev_crops} --model-version {MODEL_VERSION}-{m.parent.name}")
        print(f"python -m train.ensemble --members {' '.join(onnx_paths)} --data {a.data} --dev-crops {a.dev_crops} "
              f"--weights {' '.join(f'{w:g}' for w in c['weights'])} --out {a.out}")
        return c

    _, x_val, y_val, major, devset = validation(a.data, a.ferplus, a.dev_crops)
    members = load_members(a.members, x_val, devset.inputs())
    for m in members:
        s = evaluate(m.val, m.dev, y_val, major, devset)
        print(f"member {m.path.name}: " + ", ".join(f"{k} {v:.4f}" for k, v in s.items()))
    if a.weights:
        if len(a.weights) != len(members) or abs(sum(a.weights) - 1) > 1e-6:
            raise SystemExit("error: --weights needs one weight per member, summing to 1")
        weights, rows = tuple(a.weights), []
    else:
        weights, rows = choose(members, y_val, major, devset, a.min_publictest, a.step, a.objective)
    spec = parse_offsets(a.logit_offset)
    offset = shift_of(spec)
    val_logits = sum(w * m.val for w, m in zip(weights, members)) + offset
    dev_logits = sum(w * m.dev for w, m in zip(weights, members)) + offset
    chosen = evaluate(val_logits, dev_logits, y_val, major, devset)
    print("weights " + ", ".join(f"{m.path.name} {w:.2f}" for m, w in zip(members, weights)) + ": "
          + ", ".join(f"{k} {v:.4f}" for k, v in chosen.items()))

    cal_logits, cal_labels = np.concatenate([val_logits, dev_logits]), np.concatenate([y_val, devset.labels])
    temperature, threshold = fit_calibration(cal_logits, cal_labels, a.certain_accuracy)
    sources = np.concatenate([np.full(len(y_val), "publictest"), devset.datasets.astype(str)])
    per_source = per_source_ece(softmax(cal_logits / temperature, 1), cal_labels, sources)
    print(f"temperature {temperature:.4f} on publictest+dev (NLL {nll(cal_logits, cal_labels):.4f} → "
          f"{nll(cal_logits, cal_labels, temperature):.4f}); uncertain below {threshold}; ECE "
          + ", ".join(f"{k} {v:.3f}" for k, v in per_source.items()))

    model = build_graph(members, weights, offset)
    used = [(m, w) for m, w in zip(members, weights) if w > 0]
    metadata = {
        "name": "emotion_classifier", "model_version": MODEL_VERSION, "architecture": "ensemble of " + ", ".join(
            f"{m.meta.get('architecture')}@{m.meta.get('net_size') or m.clf.input_size}" for m, _ in used),
        "classes": list(CLASSES), "input_name": "image", "input_size": members[0].clf.input_size,
        "input_layout": members[0].meta["input_layout"], "normalisation": members[0].meta["normalisation"],
        "outputs": {"logits": "(N, 7) Σ w_i · logits_i / T_i over the members", "cam": "(N, 7, h, w) the same sum of "
                    "the members' class-activation maps; spatial mean = logits"},
        "flip_tta": all(bool(m.meta.get("flip_tta")) for m, _ in used), "temperature": round(temperature, 5),
        "logit_offset": spec,
        "opset": max(op.version for op in model.opset_import if op.domain == ""),
        "calibrated_on": "publictest+dev", "certain_accuracy": a.certain_accuracy, "uncertain_threshold": threshold,
        "uncertain_rule": f"lowest confidence above which {a.certain_accuracy:.0%} of publictest+dev predictions are right",
        "members": [{"file": str(m.path), "sha256": sha256(m.path), "weight": w, "temperature": m.clf.temperature,
                     "architecture": m.meta.get("architecture"), "net_size": m.meta.get("net_size"),
                     "head_mix": m.meta.get("head_mix"), "flip_tta": bool(m.meta.get("flip_tta")), "seed": m.meta.get("seed"),
                     "training_command": m.meta.get("training_command"), "train_cpu_hours": m.meta.get("train_cpu_hours")}
                    for m, w in zip(members, weights)],
        "weight_rule": "given" if a.weights else (
            f"largest PublicTest accuracy among grid weights (step {a.step}), FER+ PublicTest breaking ties (a teacher)"
            if a.objective == "teacher" else f"largest dev accuracy + 0.5 · FER+ PublicTest accuracy among grid weights "
            f"(step {a.step}) with PublicTest accuracy ≥ {a.min_publictest}"),
        "export_command": "python -m train.ensemble " + " ".join(shlex.quote(s) for s in (argv or sys.argv[1:])),
        "data": {"dataset": "FER-2013 (Goodfellow et al., 2013), Kaggle folder layout; FER+ votes (Barsoum et al., 2016)",
                 "splits": {"train": "Training (28,709): members", "validation": "PublicTest (3,589) + real-photo dev set: "
                            "weights, temperature, threshold", "test": "PrivateTest (3,589): reported only"}},
        "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    photos = {m.path.name: m.meta["data"]["photos"] for m, _ in used if isinstance(m.meta.get("data"), dict)
              and "photos" in m.meta["data"]}
    if photos:  # members that also learned from real photos (train.photo_pool): the source, pin and exclusions
        metadata["data"]["photos"] = photos
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(a.out), save_as_external_data=False)

    clf = OnnxEmotionClassifier(a.out, threads=2)
    n = min(512, len(x_val))
    got = np.concatenate([clf.logits(x_val[i:min(i + 64, n)]) for i in range(0, n, 64)])
    delta = float(np.abs(got - val_logits[:n]).max())
    same = bool((got.argmax(1) == val_logits[:n].argmax(1)).all())
    size_mb = a.out.stat().st_size / 1e6
    print(f"parity with the members on {n} PublicTest images: max |Δlogit| {delta:.2e}, argmax identical: {same}; "
          f"{a.out} {size_mb:.2f} MB")
    if delta > 1e-4 or not same:
        raise SystemExit("parity check failed: the ensemble graph and its members disagree")
    metadata.update({"parity": {"images": n, "max_abs_diff": delta, "argmax_identical": same}, "file_size_mb": round(size_mb, 2),
                     "validation": {**chosen, "ece": per_source}, "grid": rows})
    a.out.with_suffix(".json").write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata


if __name__ == "__main__":
    main()
