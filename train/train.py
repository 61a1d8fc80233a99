"""The training loop: FER-2013 → best checkpoint on PublicTest (validation).

Images are decoded once and passed through ``emotion.preprocess.preprocess_faces`` (the same function the
app uses), held in memory as float tensors, and augmented per batch in torch. PrivateTest is never loaded
here: checkpoint selection and early stopping look at PublicTest only.

With ``--ferplus`` the network grows a second head that learns the FER+ vote distribution (``train.ferplus``) while
the main head keeps learning the FER-2013 label; the loss is ``(1 − w)·CE(main, FER label) + w·CE(aux, FER+ votes)``
with ``w = --ferplus-weight``. Selection uses the mean of the main head's PublicTest accuracy (FER labels) and the
auxiliary head's PublicTest FER+ majority accuracy. ``train.export --head-mix`` folds the two heads into one.
With ``--dev-crops`` (``train.dev_crops``) each epoch also logs real-photo accuracy, for tuning only.
With ``--photos`` (``train.photo_pool``) real face photos join the training set (their loss share set by
``--photos-weight``; FER-2013's class weights are kept, so the photos add what FER-2013 lacks without moving its
balance), and each epoch scores the pool's held-out identities; the selection score then also counts them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import f1_score
from timm.utils import ModelEmaV3
from tqdm import tqdm

from emotion.classes import CLASSES
from emotion.preprocess import INPUT_SIZE, preprocess_faces
from train import checkpoint
from train.augment import AugmentConfig, augment_batch
from train.data import load_fer2013
from train import dev_crops, ferplus, photo_pool
from train.model import ARCHITECTURES, EmotionNet, build_model
from train.runlog import record_command


@dataclass
class TrainConfig:
    data: str
    out: str = "runs/lite0-96"
    arch: str = "efficientnet_lite0"
    img_size: int = INPUT_SIZE
    net_size: int = 0  # >0: the network resizes its img_size input to this side inside (a cheaper ensemble member)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 0.5
    label_smoothing: float = 0.1
    balance: str = "weights"  # none | weights | sampler (inverse square-root class frequency)
    ema_decay: float = 0.999
    patience: int = 6
    seed: int = 42
    threads: int = 0  # 0 = all cores
    device: str = "auto"
    limit_train: int = 0  # >0: a class-stratified subset, for smoke tests
    max_steps: int = 0  # >0: stop after this many optimiser steps (smoke tests)
    resume: bool = False
    init: str = ""  # a checkpoint (e.g. an earlier run's best.pt) to start from, with a fresh optimiser and schedule
    pretrained: bool = True
    ferplus: str = ""  # ferplus_votes.csv: adds the FER+ head (see the module docstring)
    ferplus_weight: float = 0.5
    dev_crops: str = ""  # runs/dev_crops.npz: log real-photo accuracy each epoch (never trained on)
    degrade: bool = True  # real-photo degradations in the augmentation (train.augment.degrade_batch)
    teacher: str = ""  # an ONNX model (e.g. the ensemble) whose calibrated probabilities the main head also learns
    teacher_weight: float = 0.7  # share of the teacher's soft targets in the main head's loss
    photos: str = ""  # runs/photo_pool.npz: real face photos trained on beside FER-2013 (held-out identities scored)
    photos_weight: float = 0.5  # loss weight of one photo relative to one FER-2013 face


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def class_balance(labels: np.ndarray) -> torch.Tensor:
    """Inverse square-root class frequency, scaled so the average over training samples is 1."""
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(np.float64)
    w = 1.0 / np.sqrt(np.maximum(counts, 1))
    w /= (w[labels]).mean()
    return torch.tensor(w, dtype=torch.float32)


def lr_lambda(total_steps: int, warmup_steps: int):
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return f


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    return predict_heads(model, x, device, batch_size)[0]


@torch.no_grad()
def predict_heads(model: EmotionNet, x: torch.Tensor, device: torch.device, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Main-head logits and auxiliary-head logits (None without one), in eval mode."""
    model.eval()
    main, aux = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device).contiguous(memory_format=torch.channels_last)
        a, b = model.forward_heads(xb)
        main.append(a.float().cpu())
        if b is not None:
            aux.append(b.float().cpu())
    return torch.cat(main), (torch.cat(aux) if aux else None)


def score(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    pred = logits.argmax(1)
    return {
        "loss": float(F.cross_entropy(logits, labels)),
        "acc": float((pred == labels).float().mean()),
        "macro_f1": float(f1_score(labels.numpy(), pred.numpy(), average="macro", labels=list(range(len(CLASSES))), zero_division=0)),
    }


def stratified_subset(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    idx = []
    per = max(1, n // len(CLASSES))
    for c in range(len(CLASSES)):
        members = np.flatnonzero(labels == c)
        idx.extend(rng.choice(members, size=min(per, len(members)), replace=False))
    return np.sort(np.asarray(idx))


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) a training run in ``cfg.out``; returns the summary also written to ``summary.json``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)

    t0 = time.time()
    ds = load_fer2013(cfg.data)
    print(ds.summary(), flush=True)
    tr, va = ds["train"], ds["val"]
    if cfg.limit_train:
        keep = stratified_subset(tr.labels, cfg.limit_train, np.random.default_rng(cfg.seed))
        tr.images, tr.labels, tr.sources = tr.images[keep], tr.labels[keep], [tr.sources[i] for i in keep]
    soft_train = mask_train = val_major = None
    if cfg.ferplus:
        votes = ferplus.load_votes(cfg.ferplus)
        soft, mask = ferplus.soft_targets(tr.sources, votes)
        soft_train, mask_train = torch.from_numpy(soft), torch.from_numpy(mask)
        val_major = torch.from_numpy(ferplus.majority_labels(va.sources, votes))
        print(f"FER+ votes: {int(mask.sum())} of {len(mask)} training faces have a target; "
              f"{int((val_major >= 0).sum())} PublicTest faces a majority label", flush=True)
    soft_teacher = teacher_targets(cfg.teacher, tr.images, cache_dir=out.parent) if cfg.teacher else None
    dev = dev_crops.load(cfg.dev_crops) if cfg.dev_crops else None
    x_dev = torch.from_numpy(dev.inputs()) if dev is not None else None
    x_train = torch.from_numpy(preprocess_faces(tr.images, cfg.img_size))
    y_train = torch.from_numpy(tr.labels)
    sample_w = held = x_held = None
    if cfg.photos:  # real photos appended after the FER-2013 faces; no FER+ votes for them (mask 0)
        pool = photo_pool.load(cfg.photos)
        use, held = pool.split(held=False), pool.split(held=True)
        x_held = torch.from_numpy(preprocess_faces(held.crops, cfg.img_size))
        x_train = torch.cat([x_train, torch.from_numpy(preprocess_faces(use.crops, cfg.img_size))])
        y_train = torch.cat([y_train, torch.from_numpy(use.labels)])
        sample_w = torch.cat([torch.ones(len(tr.labels)), torch.full((len(use.labels),), cfg.photos_weight)])
        if soft_train is not None:
            soft_train = torch.cat([soft_train, torch.zeros(len(use.labels), soft_train.shape[1])])
            mask_train = torch.cat([mask_train, torch.zeros(len(use.labels), dtype=mask_train.dtype)])
        if soft_teacher is not None:
            soft_teacher = torch.cat([soft_teacher, teacher_targets(cfg.teacher, use.crops, cache_dir=out.parent)])
        print(f"photos {cfg.photos}: {len(use.labels)} trained on (weight {cfg.photos_weight}), {len(held.labels)} "
              f"of held-out identities scored; per class {np.bincount(use.labels, minlength=len(CLASSES)).tolist()}",
              flush=True)
    x_val = torch.from_numpy(preprocess_faces(va.images, cfg.img_size))
    y_val = torch.from_numpy(va.labels)
    print(f"data ready in {time.time() - t0:.1f}s: train {tuple(x_train.shape)}, val {tuple(x_val.shape)}; device {device}, "
          f"{torch.get_num_threads()} threads", flush=True)

    model: EmotionNet = build_model(cfg.arch, pretrained=cfg.pretrained and not cfg.init, aux_head=bool(cfg.ferplus),
                                     net_size=cfg.net_size)
    if cfg.init:
        load_init(model, cfg)
    model = model.to(device).to(memory_format=torch.channels_last)
    # From an earlier run's weights the average starts where they are; from ImageNet it warms up.
    ema = ModelEmaV3(model, decay=cfg.ema_decay, use_warmup=not cfg.init) if cfg.ema_decay > 0 else None
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    steps_per_epoch = math.ceil(len(y_train) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(total_steps, int(cfg.warmup_epochs * steps_per_epoch)))
    weights = class_balance(tr.labels)
    loss_fn = nn.CrossEntropyLoss(weight=weights.to(device) if cfg.balance == "weights" else None, label_smoothing=cfg.label_smoothing)
    if sample_w is not None:
        loss_fn = SourceWeightedCE(loss_fn)
    sample_p = (weights[y_train] / weights[y_train].sum()) if cfg.balance == "sampler" else None
    aug = AugmentConfig(degrade=cfg.degrade)
    use_amp = device.type == "cuda"

    start_epoch, best, history, step, stale, train_seconds = 0, {"val_acc": -1.0}, [], 0, 0, 0.0
    last_path, best_path = out / "last.pt", out / "best.pt"
    if cfg.resume and last_path.exists():
        try:
            state = checkpoint.load_state(last_path, map_location=device)
        except checkpoint.CheckpointError as e:
            raise SystemExit(f"--resume: {e}") from None
        model.load_state_dict(state.model)
        if ema is not None and state.ema:
            ema.load_state_dict(state.ema)
        opt.load_state_dict(state.opt)
        sched.load_state_dict(state.sched)
        start_epoch, best, history, step, stale = state.epoch + 1, state.best, state.history, state.step, state.stale
        train_seconds = state.train_seconds
        print(f"resumed from {last_path} at epoch {start_epoch}", flush=True)
    with open(out / "config.json", "w") as fh:
        json.dump(asdict(cfg), fh, indent=2)
    record_command(out, "train", sys.argv[1:])  # every start and resume of this run, in order

    for epoch in range(start_epoch, cfg.epochs):
        if stale >= cfg.patience or (cfg.max_steps and step >= cfg.max_steps):
            break
        t_epoch = time.time()
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        if sample_p is not None:
            order = torch.multinomial(sample_p, len(y_train), replacement=True, generator=gen)
        else:
            order = torch.randperm(len(y_train), generator=gen)
        seen, loss_sum, correct = 0, 0.0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
                   mininterval=5, disable=not sys.stderr.isatty() and os.environ.get("TQDM_FORCE") != "1")
        for b in bar:
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb = augment_batch(x_train[idx], aug, gen).to(device).contiguous(memory_format=torch.channels_last)
            yb = y_train[idx].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits, aux = model.forward_heads(xb)
                loss = loss_fn(logits.float(), yb) if sample_w is None else loss_fn(logits.float(), yb, sample_w[idx].to(device))
                if soft_teacher is not None:  # distillation: the teacher's calibrated probabilities as soft targets
                    kd = -(soft_teacher[idx].to(device) * F.log_softmax(logits.float(), dim=1)).sum(1).mean()
                    loss = (1 - cfg.teacher_weight) * loss + cfg.teacher_weight * kd
                if aux is not None:
                    m = mask_train[idx].to(device)
                    soft = -(soft_train[idx].to(device) * F.log_softmax(aux.float(), dim=1)).sum(1)
                    soft = (soft * m).sum() / m.sum().clamp(min=1)
                    loss = (1 - cfg.ferplus_weight) * loss + cfg.ferplus_weight * soft
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if ema is not None:
                ema.update(model, step=step)
            seen += len(yb)
            loss_sum += loss.item() * len(yb)
            correct += int((logits.argmax(1) == yb).sum())
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", lr=f"{sched.get_last_lr()[0]:.2e}")
            if cfg.max_steps and step >= cfg.max_steps:
                break
        train_time = time.time() - t_epoch
        train_seconds += train_time

        row = {"epoch": epoch + 1, "step": step, "lr": sched.get_last_lr()[0], "train_loss": loss_sum / seen,
               "train_acc": correct / seen, "img_per_s": seen / train_time}
        candidates = {"model": model}
        if ema is not None:
            candidates["ema"] = ema.module
        picked = None
        for name, m in candidates.items():
            main, aux = predict_heads(m, x_val, device)
            s = score(main, y_val)
            if aux is not None:  # FER+ majority accuracy of the FER+ head; the selection score is the mean of the two
                known = val_major >= 0
                s["ferplus_acc"] = float((aux[known].argmax(1) == val_major[known]).float().mean())
                s["select"] = 0.5 * (s["acc"] + s["ferplus_acc"])
            else:
                s["select"] = s["acc"]
            if x_dev is not None:
                dm, da = predict_heads(m, x_dev, device)
                s.update(_dev_scores(dm, da, dev))
            if x_held is not None:  # held-out identities of the photo pool count in the selection too
                hm, ha = predict_heads(m, x_held, device)
                s.update(photo_pool.scores(F.softmax(hm, 1).numpy(), held))
                if ha is not None:
                    s.update(photo_pool.scores(F.softmax(0.5 * (hm + ha), 1).numpy(), held, prefix="holdout_mix"))
                s["select"] = (2 * s["select"] + s.get("holdout_mix_acc", s["holdout_acc"])) / 3
            prefix = "val" if name == "model" else "ema_val"
            row.update({f"{prefix}_{k}": v for k, v in s.items()})
            if picked is None or s["select"] > picked[1]["select"]:
                picked = (name, s)
        row["epoch_seconds"] = time.time() - t_epoch
        history.append(row)
        improved = picked[1]["select"] > best.get("val_select", best["val_acc"])
        if improved:
            best = {"val_acc": picked[1]["acc"], "val_macro_f1": picked[1]["macro_f1"], "val_loss": picked[1]["loss"],
                    "val_select": picked[1]["select"], "epoch": epoch + 1, "weights": picked[0]}
            if "ferplus_acc" in picked[1]:
                best["val_ferplus_acc"] = picked[1]["ferplus_acc"]
            for k in ("holdout_acc", "holdout_mix_acc"):
                if k in picked[1]:
                    best[f"val_{k}"] = picked[1][k]
            checkpoint.save(best_path, checkpoint.Checkpoint(
                model=candidates[picked[0]].state_dict(), arch=cfg.arch, img_size=cfg.img_size, classes=list(CLASSES),
                best=best, config=asdict(cfg)))
            stale = 0
        else:
            stale += 1
        checkpoint.save(last_path, checkpoint.TrainState(
            model=model.state_dict(), ema=ema.state_dict() if ema is not None else None, opt=opt.state_dict(),
            sched=sched.state_dict(), epoch=epoch, best=best, history=history, step=step, stale=stale,
            train_seconds=train_seconds))
        _write_log(out / "log.csv", history)
        print(f"epoch {epoch + 1:>2}/{cfg.epochs}  loss {row['train_loss']:.3f}  train {row['train_acc']:.3f}  "
              f"val {row['val_acc']:.4f} (f1 {row['val_macro_f1']:.3f})"
              + (f"  ema {row['ema_val_acc']:.4f}" if ema is not None else "")
              + (f"  FER+ {row['val_ferplus_acc']:.4f}" if "val_ferplus_acc" in row else "")
              + (f"  dev {row['val_dev_acc']:.3f}/{row.get('val_dev_mix_acc', float('nan')):.3f}" if "val_dev_acc" in row else "")
              + (f"  held-out photos {row['val_holdout_acc']:.3f}/{row.get('val_holdout_mix_acc', float('nan')):.3f}" if "val_holdout_acc" in row else "")
              + f"  {row['img_per_s']:.0f} img/s  {row['epoch_seconds']:.0f}s" + ("  *best*" if improved else ""), flush=True)

    summary = {"best": best, "init": cfg.init or None, "epochs_run": len(history), "steps": step, "train_seconds": round(train_seconds, 1),
               "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "platform": platform.platform(), "train_counts": tr.class_counts(), "val_counts": va.class_counts(),
               "skipped": dict(ds.skipped)}
    with open(out / "summary.json", "w") as fh:
        json.dump(summary, fh, indent=2)
    return summary


class SourceWeightedCE(nn.Module):
    """The class-weighted cross-entropy of ``base`` with a weight per sample (its source's share): the weighted mean
    over the batch, so that with every sample weight 1 it equals ``base`` exactly."""

    def __init__(self, base: nn.CrossEntropyLoss):
        super().__init__()
        self.base = base

    def forward(self, logits: torch.Tensor, target: torch.Tensor, sample_weight: torch.Tensor) -> torch.Tensor:
        per = F.cross_entropy(logits, target, weight=self.base.weight, label_smoothing=self.base.label_smoothing,
                              reduction="none")
        cw = self.base.weight[target] if self.base.weight is not None else torch.ones_like(per)
        return (per * sample_weight).sum() / (cw * sample_weight).sum()


def teacher_targets(path: str, images: np.ndarray, batch: int = 128, cache_dir: Path | None = None) -> torch.Tensor:
    """The teacher's calibrated probabilities on every training face, the mean of the face and its mirror image (the
    student sees both through augmentation), computed once with onnxruntime. With ``cache_dir`` they are kept in
    ``teacher-<hash>.npy``, keyed on the teacher file's and the faces' bytes, so a second student of the same teacher
    (another cycle, seed or weight) does not pay the teacher's minutes again."""
    from emotion.classifier import OnnxEmotionClassifier

    key = hashlib.sha256(Path(path).read_bytes() + np.ascontiguousarray(images).tobytes()).hexdigest()[:16]
    cache = cache_dir / f"teacher-{key}.npy" if cache_dir is not None else None
    if cache is not None and cache.exists():
        out = np.load(cache)
        print(f"teacher {path}: soft targets for {len(out)} faces from {cache}", flush=True)
        return torch.from_numpy(out)
    clf = OnnxEmotionClassifier(path, threads=torch.get_num_threads())
    out = np.empty((len(images), len(CLASSES)), np.float32)
    t0 = time.time()
    for i in tqdm(range(0, len(images), batch), desc="teacher", unit="batch", mininterval=10,
                  disable=not sys.stderr.isatty() and os.environ.get("TQDM_FORCE") != "1"):
        x = preprocess_faces(images[i:i + batch], clf.input_size)
        out[i:i + batch] = 0.5 * (clf.probabilities(x) + clf.probabilities(np.ascontiguousarray(x[..., ::-1])))
    print(f"teacher {path}: soft targets for {len(images)} faces in {time.time() - t0:.0f}s", flush=True)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, out)
    return torch.from_numpy(out)


def _dev_scores(main: torch.Tensor, aux: torch.Tensor | None, dev: dev_crops.DevCrops) -> dict[str, float]:
    """Real-photo accuracy of the main head and (with FER+) of the 50/50 mix of both heads."""
    out = dev_crops.scores(F.softmax(main, 1).numpy(), dev)
    if aux is not None:
        mix = dev_crops.scores(F.softmax(0.5 * (main + aux), 1).numpy(), dev)
        out.update({k.replace("dev_", "dev_mix_", 1): v for k, v in mix.items()})
    return out


def load_init(model: EmotionNet, cfg: TrainConfig) -> None:
    """Start from another run's checkpoint (a second cosine cycle): same architecture and input size, or a clear error.
    The side the backbone runs at (``net_size``) may change: a convolutional network's weights do not depend on it, so
    a member trained at 80 px can continue at 96 (a larger, slower member from a cheaper one's weights).
    A FER+ head missing from the checkpoint starts as a copy of the main head (same seven classes)."""
    path = Path(cfg.init)
    try:
        ck = checkpoint.load(path)
    except (FileNotFoundError, checkpoint.CheckpointError) as e:
        raise SystemExit(f"--init: {e}") from None
    was, now = int(ck.config.get("net_size", 0) or 0) or ck.img_size, cfg.net_size or cfg.img_size
    if was != now:
        print(f"--init: {path} ran the backbone at {was} px; this run continues at {now} px", flush=True)
    for key in ("arch", "img_size"):
        if getattr(ck, key) != getattr(cfg, key):
            raise SystemExit(f"--init: {path} has {key}={getattr(ck, key)!r}, this run {key}={getattr(cfg, key)!r}")
    has_aux = "aux_head.weight" in ck.model
    model.load_state_dict(ck.model, strict=has_aux or model.aux_head is None)
    if model.aux_head is not None and not has_aux:
        model.aux_head.load_state_dict(model.backbone.get_classifier().state_dict())
    print(f"initialised from {path} (PublicTest acc {ck.best.get('val_acc', float('nan')):.4f})", flush=True)


def _write_log(path: Path, history: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(prog="python -m train", description="Train the FER-2013 emotion classifier.")
    d = TrainConfig(data="")
    p.add_argument("--data", required=True, help="FER-2013: folder with train/ and test/ (Kaggle layout) or fer2013.csv")
    p.add_argument("--out", default=d.out, help="run folder: checkpoints, log.csv, summary.json")
    p.add_argument("--arch", default=d.arch, choices=ARCHITECTURES)
    p.add_argument("--img-size", type=int, default=d.img_size)
    p.add_argument("--net-size", type=int, default=d.net_size, help="run the backbone at this side (the network resizes "
                   "its --img-size input inside, so the exported model keeps the same input); 0 = --img-size")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--balance", choices=("none", "weights", "sampler"), default=d.balance)
    p.add_argument("--ema-decay", type=float, default=d.ema_decay, help="0 disables the weight EMA")
    p.add_argument("--patience", type=int, default=d.patience, help="early stop after this many epochs without a better val accuracy")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    p.add_argument("--limit-train", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--max-steps", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--no-pretrained", dest="pretrained", action="store_false", help="random init (tests only)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--ferplus", default="", help="FER+ votes (ferplus_votes.csv): train a second head on them")
    p.add_argument("--ferplus-weight", type=float, default=d.ferplus_weight, help="share of the FER+ head's loss")
    p.add_argument("--dev-crops", default="", help="runs/dev_crops.npz (python -m train.dev_crops): log real-photo accuracy")
    p.add_argument("--no-degrade", dest="degrade", action="store_false", help="no real-photo degradations in augmentation")
    p.add_argument("--teacher", default="", help="distil from this ONNX model (e.g. models/emotion_classifier.onnx): "
                   "its calibrated probabilities are soft targets for the main head")
    p.add_argument("--teacher-weight", type=float, default=d.teacher_weight, help="share of the teacher's targets in "
                   "the main head's loss")
    p.add_argument("--photos", default="", help="runs/photo_pool.npz (python -m train.photo_pool): real face photos "
                   "trained on beside FER-2013; their held-out identities are scored each epoch")
    p.add_argument("--photos-weight", type=float, default=d.photos_weight, help="loss weight of a photo relative to "
                   "a FER-2013 face")
    p.add_argument("--init", default="", help="start from this checkpoint's weights (e.g. runs/lite0-96/best.pt) "
                   "with a fresh optimiser, schedule and weight EMA")
    a = p.parse_args(argv)
    return TrainConfig(**{k.replace("-", "_"): v for k, v in vars(a).items()})
