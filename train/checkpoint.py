"""The training checkpoint format, owned here: every ``best.pt`` and ``last.pt`` is written and read by this module.

A run folder holds two kinds of file, each a ``torch.save``'d dict whose keys are the fields below:

- ``best.pt``, a :class:`Checkpoint`: the weights picked on PublicTest and what they need to be used elsewhere
  (``python -m train --init``, ``train.soup``, ``train.export``).
- ``last.pt``, a :class:`TrainState`: everything ``python -m train --resume`` needs to carry on where it stopped.

Files are written atomically (a temporary file beside the target, then ``os.replace``), so an interrupted save
leaves the previous checkpoint intact. Reading uses ``torch.load(weights_only=True)``: the format holds tensors and
plain Python values only, and a file that is not a checkpoint, or lacks a key, raises :class:`CheckpointError` that
says which.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import torch

from emotion.classes import CLASSES

if TYPE_CHECKING:
    from train.model import EmotionNet


class CheckpointError(ValueError):
    """The file is not a training checkpoint of the expected kind; the message says what is wrong."""


@dataclass
class Checkpoint:
    """``best.pt``: the chosen weights (of the model or its EMA) and what produced them."""

    model: dict[str, torch.Tensor]  # EmotionNet state dict
    arch: str  # train.model.ARCHITECTURES
    img_size: int  # input side in pixels
    classes: list[str]  # output order (emotion.classes.CLASSES)
    best: dict  # val_acc, val_macro_f1, val_loss, epoch, weights ("model", "ema" or "soup of N")
    config: dict  # the TrainConfig of the run (as a dict), plus "soup" for a soup


@dataclass
class TrainState:
    """``last.pt``: the state at the end of the last finished epoch, for ``--resume``."""

    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None  # timm ModelEmaV3 state dict; None when the EMA is off
    opt: dict  # AdamW state dict
    sched: dict  # LambdaLR state dict
    epoch: int  # 0-based index of the last finished epoch
    best: dict  # as Checkpoint.best, so far
    history: list[dict]  # one row per epoch (log.csv)
    step: int  # optimiser steps so far
    stale: int  # epochs since the last improvement (early stopping)
    train_seconds: float = 0.0  # absent from the earliest last.pt files


_OPTIONAL = {"train_seconds"}
K = TypeVar("K", Checkpoint, TrainState)


def save(path: str | Path, ck: Checkpoint | TrainState) -> None:
    """Write ``ck`` to ``path`` atomically: the file is either the previous one or the complete new one."""
    path = Path(path)
    data = {f.name: getattr(ck, f.name) for f in fields(ck)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a ``best.pt``."""
    return _read(Path(path), Checkpoint, map_location)


def load_state(path: str | Path, map_location: str | torch.device = "cpu") -> TrainState:
    """Read a ``last.pt``."""
    return _read(Path(path), TrainState, map_location)


def load_model(path: str | Path) -> tuple[EmotionNet, Checkpoint]:
    """A ``best.pt`` as an EmotionNet in eval mode (on the CPU), with the checkpoint it came from."""
    from train.model import build_model

    ck = load(path)
    if list(ck.classes) != list(CLASSES):
        raise CheckpointError(f"{path} was trained for classes {list(ck.classes)}, this code has {list(CLASSES)}")
    net = build_model(ck.arch, pretrained=False, aux_head="aux_head.weight" in ck.model,
                      net_size=int(ck.config.get("net_size", 0) or 0))
    expected, found = set(net.state_dict()), set(ck.model)
    if expected != found:
        raise CheckpointError(f"{path}: its weights do not fit {ck.arch} ({len(expected - found)} missing, "
                              f"{len(found - expected)} unexpected keys)")
    net.load_state_dict(ck.model)
    return net.eval(), ck


def _read(path: Path, kind: type[K], map_location: str | torch.device) -> K:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # not a torch file, truncated, or holding more than tensors and plain values
        raise CheckpointError(f"{path} is not a training checkpoint (torch.load: {_reason(e)})") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a training checkpoint: it holds a {type(data).__name__}, not a dict")
    names = [f.name for f in fields(kind)]
    missing = [n for n in names if n not in data and n not in _OPTIONAL]
    if missing:
        other = TrainState if kind is Checkpoint else Checkpoint
        if all(f.name in data or f.name in _OPTIONAL for f in fields(other)):
            hint = ("it is a resume state (last.pt); pass the run's best.pt" if other is TrainState
                    else "it is a best.pt; --resume reads <out>/last.pt")
        else:
            hint = "not a checkpoint written by python -m train"
        raise CheckpointError(f"{path} lacks {', '.join(missing)}: {hint}")
    return kind(**{n: data[n] for n in names if n in data})


def _reason(e: Exception) -> str:
    """The informative line of a torch.load error (its weights_only message wraps the cause in boilerplate)."""
    text = str(e)
    if "WeightsUnpickler error:" in text:
        cause = text.split("WeightsUnpickler error:", 1)[1].strip().split("\n\n", 1)[0].strip()
        return f"not a file of tensors and plain values: {cause}" if cause else "not a file of tensors and plain values"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__
