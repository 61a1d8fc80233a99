"""Labelled real photos (the dev set at ``../shared/expressions_dev``): which file shows which expression.

One home for the loader that both the training code (``train.dev_crops``, per-epoch real-photo scores) and the
benches (``bench.real_photos``, ``bench.compare_models``) read it with. It only lists files and labels: nothing is
decoded, copied or sent anywhere, and the app never calls it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from emotion.classes import CLASSES

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass(frozen=True)
class Photo:
    path: Path
    label: str  # one of CLASSES
    dataset: str  # the source collection (frl_london, muxspace, …)


def load_photos(root: Path) -> list[Photo]:
    """``MANIFEST.csv`` (path,label,dataset,…) when present, else ``<dataset>/<emotion>/*`` (or ``<emotion>/*``).
    Photos labelled with anything but the seven classes are left out."""
    root = Path(root)
    manifest = root / "MANIFEST.csv"
    if manifest.exists():
        with open(manifest, newline="") as fh:
            return [Photo(root / r["path"], r["label"], r["dataset"]) for r in csv.DictReader(fh) if r["label"] in CLASSES]
    photos = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        parts = path.relative_to(root).parts
        if len(parts) >= 2 and parts[-2] in CLASSES:
            photos.append(Photo(path, parts[-2], parts[-3] if len(parts) >= 3 else root.name))
    return photos
