"""``python -m train.evaluate --data PATH --model models/emotion_classifier.onnx``: score the shipped ONNX model
on PublicTest and PrivateTest through the app's own classifier and preprocessing (FER-2013 labels, and FER+ majority
labels where ``ferplus_votes.csv`` is beside the data: see ``train.ferplus``), time it, and write
``docs/TRAINING_REPORT.md`` with its figures (curves, confusion matrix, reliability diagram; no faces).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from emotion.classes import CLASSES
from emotion.classifier import OnnxEmotionClassifier, describe_temperature, softmax
from emotion.preprocess import preprocess_faces
from train.calibration import ece, nll, reliability
from train.data import load_fer2013
from train.ferplus import load_votes, majority_labels
from train.runlog import chain_history, chain_summary

THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8)


def ferplus_metrics(logits: np.ndarray, fer_labels: np.ndarray, major: np.ndarray) -> dict:
    """Accuracy and macro-F1 against the FER+ majority label, on the faces that have one."""
    known = major >= 0
    pred = logits.argmax(1)[known]
    return {"images": int(known.sum()), "accuracy": float((pred == major[known]).mean()),
            "macro_f1": float(f1_score(major[known], pred, average="macro", labels=list(range(len(CLASSES))), zero_division=0)),
            "fer_label_agrees": float((fer_labels[known] == major[known]).mean())}


def model_logits(clf: OnnxEmotionClassifier, images: np.ndarray, batch: int = 128) -> np.ndarray:
    return np.concatenate([clf.logits(preprocess_faces(images[i:i + batch], clf.input_size)) for i in range(0, len(images), batch)])


def split_metrics(logits: np.ndarray, labels: np.ndarray, temperature: float | np.ndarray, threshold: float = 0.6) -> dict:
    raw, cal = softmax(logits, 1.0), softmax(logits, temperature)
    pred = logits.argmax(1)
    p, r, f, n = precision_recall_fscore_support(labels, pred, labels=list(range(len(CLASSES))), zero_division=0)
    conf = cal.max(1)
    correct = pred == labels

    def at(t: float) -> dict:
        unsure = conf < t
        return {"threshold": t, "uncertain_share": float(unsure.mean()),
                "accuracy_certain": float(correct[~unsure].mean()) if (~unsure).any() else None,
                "accuracy_uncertain": float(correct[unsure].mean()) if unsure.any() else None}

    return {"images": int(len(labels)), "accuracy": float(correct.mean()),
            "macro_f1": float(f1_score(labels, pred, average="macro", labels=list(range(len(CLASSES))), zero_division=0)),
            "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(n[i])}
                          for i, c in enumerate(CLASSES)},
            "confusion_matrix": confusion_matrix(labels, pred, labels=list(range(len(CLASSES)))).tolist(),
            "nll_raw": nll(logits, labels), "nll_calibrated": nll(logits, labels, temperature),
            "ece_raw": ece(raw, labels), "ece_calibrated": ece(cal, labels),
            "uncertain": at(threshold), "uncertain_by_threshold": [at(t) for t in THRESHOLDS]}


def cam_on_face(clf: OnnxEmotionClassifier, images: np.ndarray, batch: int = 128) -> dict:
    """Where the class-activation heat of the predicted class sits on FER crops: the share of positive heat
    inside the inner face region (eyes, brows, nose, mouth: rows 20–95 %, columns 15–85 % of the crop) against
    that region's share of the area. A model looking at the background or the borders would score near the area."""
    from PIL import Image

    from emotion.explain import inner_share

    size = 48
    shares, maps = [], []

    for i in range(0, len(images), batch):
        logits, cam = clf.logits_and_cam(preprocess_faces(images[i:i + batch], clf.input_size))
        for j, k in enumerate(logits.argmax(1)):
            heat = np.maximum(cam[j, k], 0)
            heat = np.asarray(Image.fromarray(heat.astype(np.float32)).resize((size, size), Image.BILINEAR))
            if heat.sum() > 0:
                shares.append(inner_share(heat))
            if len(maps) < 8:
                maps.append(heat / max(heat.max(), 1e-9))
    return {"images": len(shares), "inner_region_area_share": inner_share(np.ones((size, size))),
            "mean_heat_share_inner": float(np.mean(shares)),
            "median_heat_share_inner": float(np.median(shares)), "examples": maps}


def latency_ms(clf: OnnxEmotionClassifier, batch: int = 1, runs: int = 200) -> dict:
    x = np.random.default_rng(0).random((batch, 1, clf.input_size, clf.input_size), dtype=np.float32)
    for _ in range(20):
        clf.logits(x)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        clf.logits(x)
        t.append((time.perf_counter() - t0) * 1e3)
    return {"batch": batch, "median_ms": float(np.median(t)), "p95_ms": float(np.percentile(t, 95)), "threads": 1}


def plot_figures(metrics: dict, probs: dict, labels: dict, history: list[dict], out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    cm = np.asarray(metrics["test"]["confusion_matrix"], dtype=float)
    cmn = cm / cm.sum(1, keepdims=True)
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    im = ax.imshow(cmn, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(CLASSES)):
        for j in range(len(CLASSES)):
            ax.text(j, i, f"{cmn[i, j]:.2f}", ha="center", va="center", color="white" if cmn[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(7), CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(7), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"PrivateTest confusion matrix (row-normalised), acc {metrics['test']['accuracy']:.1%}")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png", dpi=110)
    plt.close(fig)
    files["confusion"] = "confusion_matrix.png"

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, (name, key) in zip(axes, (("before (T = 1)", "raw"), ("after temperature scaling", "calibrated"))):
        r = reliability(probs[key], labels["test"])
        centres = (r["edges"][:-1] + r["edges"][1:]) / 2
        ok = r["count"] > 0
        ax.bar(centres[ok], r["accuracy"][ok], width=1 / 15, edgecolor="k", alpha=0.75, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
        ax.plot(r["confidence"][ok], r["accuracy"][ok], "o", color="C3", ms=3, label="mean confidence")
        ax.set_title(f"{name}: ECE {ece(probs[key], labels['test']):.3f}")
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle("Reliability on PrivateTest (15 bins)")
    fig.tight_layout()
    fig.savefig(out / "reliability.png", dpi=110)
    plt.close(fig)
    files["reliability"] = "reliability.png"

    if history:
        rows = history
        ep = [int(r["epoch"]) for r in rows]
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        axes[0].plot(ep, [float(r["train_loss"]) for r in rows], "o-", label="train loss (augmented, smoothed labels)")
        axes[0].plot(ep, [float(r["val_loss"]) for r in rows], "o-", label="PublicTest loss")
        axes[1].plot(ep, [float(r["train_acc"]) for r in rows], "o-", label="train accuracy (augmented)")
        axes[1].plot(ep, [float(r["val_acc"]) for r in rows], "o-", label="PublicTest accuracy")
        if "ema_val_acc" in rows[0]:
            axes[1].plot(ep, [float(r["ema_val_acc"]) for r in rows], "o-", label="PublicTest accuracy (EMA weights)")
        for ax in axes:
            for r0, r1 in zip(rows, rows[1:]):
                if r1["cycle"] != r0["cycle"]:  # a second cosine cycle started from the first one's best weights
                    ax.axvline(r0["epoch"] + 0.5, color="grey", ls=":", lw=1)
            ax.set_xlabel("epoch")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "training_curves.png", dpi=110)
        plt.close(fig)
        files["curves"] = "training_curves.png"
    return files


def _ensemble_lines(meta: dict) -> list[str]:
    """The model section for an ensemble (``train.ensemble``): its members, each with how it was made."""
    lines = [f"- An ensemble of {len([m for m in meta['members'] if m['weight'] > 0])} members in one graph "
             f"(`{meta['export_command']}`): logits = Σ w_i · logits_i / T_i; input {meta['input_size']}×"
             f"{meta['input_size']} grey, calibration {describe_temperature(meta)} on {meta.get('calibrated_on')}",
             *([f"- Calibration refitted by `{meta['recalibrate_command']}` (metadata only, same logits)"]
               if meta.get("recalibrate_command") else []),
             f"- File: {meta.get('file_size_mb', '?')} MB, opset {meta['opset']}, parity with the members max |Δ| "
             f"{meta['parity']['max_abs_diff']:.1e} on {meta['parity']['images']} images", "",
             "| member | architecture @ side | weight | T | FER+ head share | seed | training CPU hours | training command |",
             "|---|---|---|---|---|---|---|---|"]
    for m in meta["members"]:
        cmd = (m.get("training_command") or "").split(" ; then ")[-1]
        lines.append(f"| `{Path(m['file']).name}` | {m['architecture']} @ {m.get('net_size') or meta['input_size']} | "
                     f"{m['weight']:.2f} | {m['temperature']:.3f} | {m.get('head_mix')} | {m.get('seed')} | "
                     f"{m.get('train_cpu_hours') or '–'} | `{cmd}` |")
    return lines


def write_report(path: Path, meta: dict, metrics: dict, lat: list[dict], figures: dict, fig_rel: str, cmd: str, summary: dict | None,
                 cam: dict) -> None:
    t, v = metrics["test"], metrics["val"]
    lines = [
        "# Training report", "",
        f"Generated by `{cmd}` on {dt.date.today().isoformat()}. Every number below comes from that command; "
        "figures contain no dataset images.", "",
        "## Model", "",
    ] + (_ensemble_lines(meta) if meta.get("members") else [
        f"- Architecture: `{meta['architecture']}` (ImageNet EfficientNet-Lite0 weights), input {meta['input_size']}×{meta['input_size']} grey, "
        f"flip-TTA in graph: {meta['flip_tta']}, calibration {describe_temperature(meta)}",
        f"- Training command: `{meta['training_command']}` "
        + (f"(seed {meta['seed']})" if len(meta.get("training_commands", [])) <= 1 else f"(seed of the last run: {meta['seed']})")
        + f"; best epoch {meta['best_epoch']} of the last run ({meta['weights']} weights), chosen on PublicTest",
        f"- File: {meta.get('file_size_mb', '?')} MB, opset {meta['opset']}, torch↔onnxruntime parity max |Δ| "
        f"{meta['parity']['max_abs_diff']:.1e} on {meta['parity']['images']} images",
    ])
    if summary:
        cycles = f" in {summary['cycles']} cosine cycles" if summary["cycles"] > 1 else ""
        lines.append(f"- Training wall time: {summary['wall_seconds'] / 60:.0f} min for {summary['epochs_run']} epochs{cycles} "
                     f"({summary['train_seconds'] / 60:.0f} min of it in training steps, the rest validating) on "
                     f"{summary['device']} ({summary['threads']} threads)")
    lines += ["", "## Results", "", "| split | images | accuracy | macro-F1 | NLL raw → calibrated | ECE raw → calibrated |",
              "|---|---|---|---|---|---|"]
    for name, m in (("PublicTest (validation)", v), ("**PrivateTest (test)**", t)):
        lines.append(f"| {name} | {m['images']} | {m['accuracy']:.2%} | {m['macro_f1']:.3f} | {m['nll_raw']:.3f} → "
                     f"{m['nll_calibrated']:.3f} | {m['ece_raw']:.3f} → {m['ece_calibrated']:.3f} |")
    for name, m in (("PublicTest, FER+ majority label", v), ("**PrivateTest, FER+ majority label**", t)):
        if "ferplus" in m:
            f = m["ferplus"]
            lines.append(f"| {name} | {f['images']} | {f['accuracy']:.2%} | {f['macro_f1']:.3f} | – | – |")
    if "ferplus" in t:
        lines += ["", f"FER+ (Barsoum et al., ICMI 2016; MIT licence): ten annotators per face; the majority label is the class with "
                  f"more votes than any other of FER+'s ten categories, when it is one of our seven (`train/ferplus.py`). On those "
                  f"PrivateTest faces the FER+ majority agrees with the original FER-2013 label only "
                  f"{t['ferplus']['fer_label_agrees']:.1%} of the time, so the two benchmarks pull apart."]
    lines += ["", "For reference, the bundled model of the `fer` library scores 65.9 % accuracy and 64.2 % macro-F1 on PrivateTest "
              "(see `bench/compare_fer.py`).", "", "### Per class (PrivateTest)", "",
              "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for c in CLASSES:
        pc = t["per_class"][c]
        lines.append(f"| {c} | {pc['precision']:.3f} | {pc['recall']:.3f} | {pc['f1']:.3f} | {pc['support']} |")
    lines += ["", f"![confusion matrix]({fig_rel}/{figures['confusion']})", "",
              "## Calibration and the 'uncertain' state", "",
              f"Temperature fitted on {_CALIBRATED_ON.get(meta.get('calibrated_on', 'publictest'))}: **{describe_temperature(meta)}**. "
              f"ECE (15 bins) on PrivateTest: {t['ece_raw']:.3f} before, **{t['ece_calibrated']:.3f}** after. A face is flagged "
              f"uncertain below **{meta.get('uncertain_threshold', 0.6)}** confidence ({meta.get('uncertain_rule', 'the default')}).", "",
              f"![reliability diagram]({fig_rel}/{figures['reliability']})", "",
              "| threshold | share flagged uncertain | accuracy when certain | accuracy when uncertain |", "|---|---|---|---|"]
    for row in t["uncertain_by_threshold"]:
        fmt = lambda x: f"{x:.1%}" if x is not None else "–"
        lines.append(f"| {row['threshold']:.1f} | {row['uncertain_share']:.1%} | {fmt(row['accuracy_certain'])} | {fmt(row['accuracy_uncertain'])} |")
    lines += ["", "## Latency (onnxruntime, CPU, 1 thread, warm)", "", "| batch | median ms | p95 ms | ms per face |", "|---|---|---|---|"]
    for row in lat:
        lines.append(f"| {row['batch']} | {row['median_ms']:.2f} | {row['p95_ms']:.2f} | {row['median_ms'] / row['batch']:.2f} |")
    on_face = cam["mean_heat_share_inner"] > cam["inner_region_area_share"] + 0.05
    verdict = ("the evidence sits on the face, not the borders" if on_face
               else "the heat is not clearly concentrated on the inner face: treat the maps with caution")
    lines += ["", "## Why this emotion? (class-activation maps)", "",
              f"On {cam['images']} PublicTest faces, **{cam['mean_heat_share_inner']:.1%}** (median {cam['median_heat_share_inner']:.1%}) "
              f"of the predicted class's positive heat lies in the inner face region (eyes, brows, nose, mouth), which covers "
              f"{cam['inner_region_area_share']:.0%} of the crop: {verdict}. The maps are coarse (the network's last feature map is "
              f"3×3 at 96 px input), so they show which part of the face (upper, middle, lower) drove the answer. Example overlays "
              "on FER-2013 faces are written to the run folder (`cam_examples.png`) and are not committed (the dataset is not ours "
              "to redistribute)."]
    if "curves" in figures:
        lines += ["", "## Training curves", "", f"![training curves]({fig_rel}/{figures['curves']})"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", default="models/emotion_classifier.onnx")
    p.add_argument("--run", default="runs/lite0-96", help="training run folder (curves and wall time, with the runs it was --init from), if present")
    p.add_argument("--report", default="docs/TRAINING_REPORT.md")
    p.add_argument("--ferplus", default=None, help="FER+ votes (default: <data>/ferplus_votes.csv when it exists)")
    p.add_argument("--figures", default="docs/images")
    p.add_argument("--no-update-metadata", dest="update", action="store_false", help="do not write the metrics into the model's JSON")
    a = p.parse_args(argv)

    clf = OnnxEmotionClassifier(a.model)
    ds = load_fer2013(a.data)
    logits = {s: model_logits(clf, ds[s].images) for s in ("val", "test")}
    labels = {s: ds[s].labels for s in ("val", "test")}
    metrics = {s: split_metrics(logits[s], labels[s], clf.temperatures, clf.uncertain_threshold) for s in ("val", "test")}
    votes_path = Path(a.ferplus) if a.ferplus else Path(a.data) / "ferplus_votes.csv"
    if votes_path.is_file():
        votes = load_votes(votes_path)
        for s in ("val", "test"):
            metrics[s]["ferplus"] = ferplus_metrics(logits[s], labels[s], majority_labels(ds[s].sources, votes))
        print(f"FER+ PrivateTest (majority label, {metrics['test']['ferplus']['images']} faces): "
              f"accuracy {metrics['test']['ferplus']['accuracy']:.4f}, macro-F1 {metrics['test']['ferplus']['macro_f1']:.4f}")
    lat = [latency_ms(clf, b, runs=200 if b == 1 else 50) for b in (1, 8, 32)]
    cam = cam_on_face(clf, ds["val"].images)
    _cam_examples(ds["val"].images[:8], cam.pop("examples"), Path(a.run))
    print(f"CAM on PublicTest: {cam['mean_heat_share_inner']:.1%} of the heat in the inner face region "
          f"({cam['inner_region_area_share']:.0%} of the crop)")
    t = metrics["test"]
    print(f"PrivateTest: accuracy {t['accuracy']:.4f}, macro-F1 {t['macro_f1']:.4f}, ECE {t['ece_raw']:.4f} → {t['ece_calibrated']:.4f}; "
          f"PublicTest accuracy {metrics['val']['accuracy']:.4f}; latency batch 1 {lat[0]['median_ms']:.2f} ms")

    model_json = Path(a.model).with_suffix(".json")
    meta = json.loads(model_json.read_text()) if model_json.is_file() else dict(clf.metadata)
    summary = chain_summary(a.run)
    probs = {"raw": softmax(logits["test"], 1.0), "calibrated": clf.calibrate(logits["test"])}
    figures = plot_figures(metrics, probs, labels, chain_history(a.run), Path(a.figures))
    cmd = "python -m train.evaluate " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    report = Path(a.report)
    write_report(report, meta, metrics, lat, figures, _rel(Path(a.figures), report.parent), cmd, summary, cam)
    if a.update:
        meta["metrics"] = {s: {k: v for k, v in m.items() if k != "uncertain_by_threshold"} for s, m in metrics.items()}
        meta["cam_check"] = cam
        meta["latency"] = lat
        meta["evaluate_command"] = cmd
        if summary:
            meta["training_wall_time_minutes"] = round(summary["wall_seconds"] / 60, 1)
            meta["epochs_run"] = summary["epochs_run"]
        meta["evaluated"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        model_json.write_text(json.dumps(meta, indent=2) + "\n")
    return metrics


def _cam_examples(images: np.ndarray, maps: list[np.ndarray], run: Path) -> None:
    """CAM overlays on a few validation faces, for people to look at; FER-2013 pixels, so never committed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not run.is_dir():
        return
    fig, axes = plt.subplots(1, len(maps), figsize=(2 * len(maps), 2.2))
    for ax, img, heat in zip(np.atleast_1d(axes), images, maps):
        ax.imshow(img, cmap="gray")
        ax.imshow(heat, cmap="jet", alpha=0.4, extent=(-0.5, 47.5, 47.5, -0.5))
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(run / "cam_examples.png", dpi=100)
    plt.close(fig)


_CALIBRATED_ON = {"publictest": "PublicTest", "publictest+dev": "PublicTest and the real-photo dev set (`train.dev_crops`)"}


def _rel(target: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


if __name__ == "__main__":
    main()
