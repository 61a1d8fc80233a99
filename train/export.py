"""``python -m train.export``: best checkpoint → one self-contained ONNX file + its metadata JSON.

The graph takes ``image`` float32 (N, 1, S, S), NCHW, grey in [0, 1] (the output of
``emotion.preprocess.preprocess_faces``) and returns ``logits`` (N, 7) and ``cam`` (N, 7, h, w), the
class-activation maps whose spatial mean equals the logits. Horizontal-flip test-time augmentation is
folded into the graph when it improves PublicTest accuracy. A checkpoint with a FER+ head is exported with the two
heads folded into one (``--head-mix``, chosen with ``python -m train.tune``). The temperature is fitted on PublicTest,
or on PublicTest + the real-photo dev set (``--calibrate-on publictest+dev``), and the "uncertain" threshold recommended
in the metadata is chosen on the same data: the lowest confidence above which predictions are right ``--certain-accuracy``
of the time. PrivateTest is never loaded here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import shlex
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn

from emotion.classes import CLASSES
from emotion.classifier import OnnxEmotionClassifier
from emotion.preprocess import preprocess_faces
from scipy.special import softmax

from train import dev_crops
from train.calibration import ece, fit_calibration, nll
from train.checkpoint import CheckpointError, load_model
from train.data import load_fer2013
from train.model import IMAGENET_MEAN, IMAGENET_STD, EmotionNet, pretrained_source
from train.runlog import chain_commands

OPSET = 18
MODEL_VERSION = "1.2.0"  # 1.2.0: FER+ head + real-photo augmentation; 1.1.0: second cosine cycle; 1.0.0: one cycle


class ExportGraph(nn.Module):
    """What ships: logits and CAM, optionally averaged with the mirror image's (CAM mirrored back)."""

    def __init__(self, net: EmotionNet, flip_tta: bool):
        super().__init__()
        self.net, self.flip_tta = net, flip_tta

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, cam = self.net.forward_with_cam(image)
        if self.flip_tta:
            logits_f, cam_f = self.net.forward_with_cam(torch.flip(image, dims=[3]))
            logits, cam = 0.5 * (logits + logits_f), 0.5 * (cam + torch.flip(cam_f, dims=[3]))
        return logits, cam


@torch.no_grad()
def torch_logits(graph: nn.Module, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([graph(torch.from_numpy(x[i:i + batch]))[0].numpy() for i in range(0, len(x), batch)])


def photo_pool_record(path: str, weight: float | None) -> dict:
    """What a model card needs of the photo pool a run trained on: source, commit, licence terms, exclusions, counts."""
    from train import photo_pool

    report = photo_pool.load(path).report if Path(path).is_file() else {"file": path, "note": "pool file not on this machine"}
    return {"pool": report, "loss_weight": weight, "licence": photo_pool.LICENCE}


def export_onnx(graph: ExportGraph, path: Path, size: int, metadata: dict) -> None:
    """Write a single-file ONNX model (no external data) with a dynamic batch axis and metadata_props."""
    example = torch.zeros(2, 1, size, size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    prog = torch.onnx.export(graph, (example,), input_names=["image"], output_names=["logits", "cam"], opset_version=OPSET,
                             dynamo=True, dynamic_shapes={"image": {0: batch}}, external_data=False)
    model = prog.model_proto
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path), save_as_external_data=False)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="runs/lite0-96/best.pt")
    p.add_argument("--data", required=True, help="FER-2013 (PublicTest is used for the TTA choice, temperature and parity)")
    p.add_argument("--out", default="models/emotion_classifier.onnx")
    p.add_argument("--flip-tta", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--parity-images", type=int, default=512)
    p.add_argument("--head-mix", type=float, default=None, help="FER+ head share β in the folded head (needed when the "
                   "checkpoint has a FER+ head; see python -m train.tune)")
    p.add_argument("--logit-offset", action="append", default=[], metavar="CLASS=VALUE",
                   help="add VALUE to CLASS's logit in the folded head (a class-prior shift; python -m train.tune "
                   "--offset-class); repeat for several classes")
    p.add_argument("--calibrate-on", choices=("publictest", "publictest+dev"), default="publictest")
    p.add_argument("--dev-crops", default="runs/dev_crops.npz", help="python -m train.dev_crops output, for --calibrate-on publictest+dev")
    p.add_argument("--certain-accuracy", type=float, default=0.8, help="accuracy wanted above the 'uncertain' threshold")
    p.add_argument("--model-version", default=MODEL_VERSION, help="recorded in the metadata (e.g. 1.3.0-m2 for an ensemble member)")
    p.add_argument("--train-command", default=None, help="the training command to record (default: from the checkpoint's config)")
    a = p.parse_args(argv)

    try:
        net, ck = load_model(a.checkpoint)
    except (FileNotFoundError, CheckpointError) as e:
        raise SystemExit(f"error: {e}") from None
    cfg, size = ck.config, int(ck.img_size)
    if net.aux_head is not None and a.head_mix is None:
        raise SystemExit(f"error: {a.checkpoint} has a FER+ head: pass --head-mix (python -m train.tune shows the choice)")
    net.fold_aux_head(a.head_mix or 0.0)
    offsets = parse_offsets(a.logit_offset)
    for cls, value in offsets.items():
        net.add_logit_offset(CLASSES.index(cls), value)
    val = load_fer2013(a.data)["val"]
    x_val, y_val = preprocess_faces(val.images, size), val.labels

    plain = torch_logits(ExportGraph(net, False), x_val)
    flipped = torch_logits(ExportGraph(net, True), x_val)
    acc_plain, acc_flip = float((plain.argmax(1) == y_val).mean()), float((flipped.argmax(1) == y_val).mean())
    flip = {"on": True, "off": False, "auto": acc_flip > acc_plain}[a.flip_tta]
    logits = flipped if flip else plain
    cal_logits, cal_labels = logits, y_val
    if a.calibrate_on == "publictest+dev":
        dev = dev_crops.load(a.dev_crops)
        cal_logits = np.concatenate([logits, torch_logits(ExportGraph(net, flip), dev.inputs())])
        cal_labels = np.concatenate([y_val, dev.labels])
    temperature, threshold = fit_calibration(cal_logits, cal_labels, a.certain_accuracy)
    print(f"PublicTest accuracy: plain {acc_plain:.4f}, flip-TTA {acc_flip:.4f} → flip_tta={flip}; "
          f"temperature {temperature:.3f} on {a.calibrate_on} (NLL {nll(cal_logits, cal_labels):.4f} → "
          f"{nll(cal_logits, cal_labels, temperature):.4f}, ECE {ece(softmax(cal_logits, 1), cal_labels):.3f} → "
          f"{ece(softmax(cal_logits / temperature, 1), cal_labels):.3f}); uncertain below {threshold}")

    commands = chain_commands(Path(a.checkpoint).parent)  # every start/resume, earlier --init runs first
    train_cmd = a.train_command or (" ; then ".join(commands) if commands else _train_command(cfg))
    metadata = {
        "name": "emotion_classifier", "model_version": a.model_version, "architecture": ck.arch,
        "classes": list(CLASSES), "input_name": "image", "input_size": size,
        "input_layout": f"NCHW float32 (N, 1, {size}, {size}): greyscale face crop resized with PIL bilinear, values in [0, 1]",
        "normalisation": {"inside_graph": True, "grey_to_rgb": "replicate", "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
        "outputs": {"logits": "(N, 7) pre-softmax scores", "cam": "(N, 7, h, w) class-activation maps; spatial mean = logits"},
        "flip_tta": flip, "temperature": round(temperature, 5), "opset": OPSET,
        "head_mix": a.head_mix, "logit_offset": offsets, "calibrated_on": a.calibrate_on, "certain_accuracy": a.certain_accuracy,
        "uncertain_threshold": threshold, "uncertain_rule": f"lowest confidence above which {a.certain_accuracy:.0%} of "
                                                            f"{a.calibrate_on} predictions are right",
        "training_command": train_cmd, "training_commands": commands, "export_command": "python -m train.export " + " ".join(shlex.quote(s) for s in (argv or sys.argv[1:])),
        "seed": cfg["seed"], "best_epoch": ck.best["epoch"], "weights": ck.best["weights"],
        "net_size": int(cfg.get("net_size", 0) or 0) or size, "train_cpu_hours": _cpu_hours(Path(a.checkpoint).parent),
        "pretrained": pretrained_source(ck.arch),
        "data": {"dataset": "FER-2013 (Goodfellow et al., 2013), Kaggle folder layout",
                 "labels": ("FER-2013 label (main head) and FER+ vote distribution (second head; Barsoum et al., ICMI 2016, "
                           "MIT licence), folded with --head-mix") if a.head_mix is not None else "FER-2013 label",
                "splits": {"train": "Training (28,709)", "validation": "PublicTest (3,589): checkpoint, TTA and temperature",
                            "test": "PrivateTest (3,589): reported only"}},
        "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if cfg.get("photos"):  # real photos trained on beside FER-2013 (train.photo_pool): their source, pin and counts
        metadata["data"]["photos"] = photo_pool_record(cfg["photos"], cfg.get("photos_weight"))
    if cfg.get("teacher"):
        metadata["teacher"] = _teacher(cfg)
        metadata["data"]["labels"] += f"; main head also distilled from the teacher's probabilities (share {cfg['teacher_weight']})"
    out = Path(a.out)
    export_onnx(ExportGraph(net, flip).eval(), out, size, metadata)

    clf = OnnxEmotionClassifier(out)
    n = min(a.parity_images, len(x_val))
    ort_logits = np.concatenate([clf.logits(x_val[i:min(i + 64, n)]) for i in range(0, n, 64)])
    delta = float(np.abs(ort_logits - logits[:n]).max())
    same = bool((ort_logits.argmax(1) == logits[:n].argmax(1)).all())
    size_mb = out.stat().st_size / 1e6
    print(f"parity on {n} PublicTest images: max |Δlogit| {delta:.2e}, argmax identical: {same}; {out} {size_mb:.2f} MB")
    if delta > 1e-4 or not same:
        raise SystemExit("parity check failed: torch and onnxruntime disagree")

    metadata.update({"parity": {"images": n, "max_abs_diff": delta, "argmax_identical": same},
                     "file_size_mb": round(size_mb, 2),
                     "validation": {"accuracy_plain": acc_plain, "accuracy_flip_tta": acc_flip,
                                    "nll_before": nll(logits, y_val), "nll_after": nll(logits, y_val, temperature)}})
    out.with_suffix(".json").write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata


def _teacher(cfg: dict) -> dict:
    """What a distilled student learned from: the teacher file as trained against (hash, version, members and weights
    as its metadata states them; the file itself may be gone by export time, e.g. under runs/)."""
    path = Path(cfg["teacher"])
    out: dict = {"file": str(path), "weight": cfg.get("teacher_weight")}
    if path.is_file():
        meta = OnnxEmotionClassifier(path).metadata
        out.update({"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "model_version": meta.get("model_version"),
                    "architecture": meta.get("architecture"), "export_command": meta.get("export_command"),
                    "members": [{k: m.get(k) for k in ("file", "sha256", "weight", "head_mix")} for m in meta.get("members") or []]})
    return out


def _cpu_hours(run: Path) -> float | None:
    """Wall hours of training steps × threads, from the run's summary.json (what this run itself cost)."""
    try:
        summary = json.loads((run / "summary.json").read_text())
        return round(summary["train_seconds"] * summary.get("threads", 1) / 3600, 2)
    except (OSError, ValueError, KeyError):
        return None


def parse_offsets(specs: list[str] | None) -> dict[str, float]:
    """``["fear=0.6", "surprise=0.6"]`` → ``{"fear": 0.6, "surprise": 0.6}``; a class named twice is an error."""
    out: dict[str, float] = {}
    for spec in specs or []:
        name, _, value = spec.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if name not in CLASSES or not math.isfinite(number):
            raise SystemExit(f"error: --logit-offset wants CLASS=VALUE with CLASS one of {', '.join(CLASSES)}, got {spec!r}")
        if name in out:
            raise SystemExit(f"error: --logit-offset names {name} twice")
        out[name] = number
    return out


def _train_command(cfg: dict) -> str:
    return (f"python -m train --data {cfg['data']} --out {cfg['out']} --arch {cfg['arch']} --img-size {cfg['img_size']} "
            f"--epochs {cfg['epochs']} --batch-size {cfg['batch_size']} --lr {cfg['lr']} --balance {cfg['balance']} --seed {cfg['seed']}")


if __name__ == "__main__":
    main()
