"""FER-2013 loading: the Kaggle folder layout or the original ``fer2013.csv``.

The official split of every image is read from its name (``Training_*``, ``PublicTest_*``,
``PrivateTest_*``) or from the csv ``Usage`` column, never from which folder it sits in:
the Kaggle ``test/`` folder holds both PublicTest (our validation) and PrivateTest (our test).
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from emotion.classes import CLASSES

log = logging.getLogger(__name__)

# Official FER-2013 usage name → our split name.
USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SPLITS = ("train", "val", "test")
IMAGE_SIZE = 48
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
# Label order of the original csv (0=Angry, 1=Disgust, ..., 6=Neutral).
CSV_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class DataError(ValueError):
    """The dataset path or layout is wrong; the message says what to fix."""


@dataclass
class Split:
    """One split held in memory: uint8 images (N, 48, 48), int64 labels (N,), source names."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(CLASSES))
        return {c: int(n) for c, n in zip(CLASSES, counts)}


@dataclass
class Dataset:
    splits: dict[str, Split]
    skipped: Counter  # reason → count of files that were not loaded

    def __getitem__(self, name: str) -> Split:
        return self.splits[name]

    def summary(self) -> str:
        head = f"{'split':<6}" + "".join(f"{c:>9}" for c in CLASSES) + f"{'total':>9}"
        rows = [head]
        for name in SPLITS:
            counts = self.splits[name].class_counts()
            rows.append(f"{name:<6}" + "".join(f"{counts[c]:>9}" for c in CLASSES) + f"{len(self.splits[name]):>9}")
        if self.skipped:
            rows.append("skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items())))
        return "\n".join(rows)


def split_of(filename: str) -> str | None:
    """Split name from a Kaggle file name such as ``PublicTest_1234.jpg``; None if it has no official prefix."""
    prefix = filename.split("_", 1)[0]
    return USAGE_TO_SPLIT.get(prefix)


def load_fer2013(root: str | Path) -> Dataset:
    """Load all three splits from ``root``: a folder with ``train/`` and ``test/``, or a ``fer2013.csv`` file
    (or a folder containing one)."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"FER-2013 not found at {root}: pass --data pointing at the folder with train/ and test/, or at fer2013.csv")
    if root.is_file():
        return _load_csv(root)
    if (root / "fer2013.csv").is_file() and not (root / "train").is_dir():
        return _load_csv(root / "fer2013.csv")
    return _load_folders(root)


def _load_image(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("L")
        if im.size != (IMAGE_SIZE, IMAGE_SIZE):
            im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def _load_folders(root: Path) -> Dataset:
    subdirs = [root / d for d in ("train", "test") if (root / d).is_dir()]
    if not subdirs:
        raise DataError(f"{root} has neither train/ nor test/ (expected the Kaggle layout <root>/{{train,test}}/<emotion>/*.jpg)")
    per_split: dict[str, tuple[list, list, list]] = {s: ([], [], []) for s in SPLITS}
    skipped: Counter = Counter()
    for sub in subdirs:
        missing = [c for c in CLASSES if not (sub / c).is_dir()]
        if missing:
            raise DataError(f"{sub} lacks class folder(s) {missing}; expected one folder per class: {list(CLASSES)}")
        for label, cls in enumerate(CLASSES):
            for path in sorted((sub / cls).iterdir()):
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                split = split_of(path.name)
                if split is None:
                    skipped["no_split_prefix"] += 1
                    continue
                try:
                    img = _load_image(path)
                except (OSError, UnidentifiedImageError, ValueError):
                    skipped["unreadable"] += 1
                    log.warning("skipping unreadable image %s", path)
                    continue
                _add(per_split[split], img, label, f"{sub.name}/{cls}/{path.name}")
    return _assemble(per_split, skipped, root)


def _load_csv(path: Path) -> Dataset:
    per_split: dict[str, tuple[list, list, list]] = {s: ([], [], []) for s in SPLITS}
    skipped: Counter = Counter()
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"emotion", "pixels", "Usage"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise DataError(f"{path} is not fer2013.csv: need columns {sorted(need)}, found {reader.fieldnames}")
        for i, row in enumerate(reader):
            split = USAGE_TO_SPLIT.get(row["Usage"].strip())
            if split is None:
                skipped["unknown_usage"] += 1
                continue
            try:
                label = CLASSES.index(CSV_LABELS[int(row["emotion"])])
                pixels = np.array(row["pixels"].split(), dtype=np.uint8)
                img = pixels.reshape(IMAGE_SIZE, IMAGE_SIZE)
            except (ValueError, IndexError):
                skipped["unreadable"] += 1
                continue
            _add(per_split[split], img, label, f"csv:{i}")
    return _assemble(per_split, skipped, path)


def _add(split: tuple[list, list, list], img: np.ndarray, label: int, name: str) -> None:
    split[0].append(img)
    split[1].append(label)
    split[2].append(name)


def _assemble(per_split: dict, skipped: Counter, where: Path) -> Dataset:
    splits = {}
    for name, (imgs, labels, names) in per_split.items():
        images = np.stack(imgs) if imgs else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        splits[name] = Split(name, images, np.asarray(labels, dtype=np.int64), names)
    if len(splits["train"]) == 0:
        raise DataError(f"no Training_* images found under {where}")
    return Dataset(splits, skipped)
