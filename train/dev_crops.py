"""``python -m train.dev_crops --data ../shared/expressions_dev --out runs/dev_crops.npz``: the real-photo dev set as
the classifier sees it, cached so that training can score every epoch on real photos in seconds.

Each photo goes through the app's own pipeline (validation → detection → crop → ``preprocess_faces``); the largest
face's input image (``FaceResult.crop``, uint8 at the model's input size) is kept with the photo's label and dataset.
The cache lives under ``runs/`` (never committed: it holds images of the dev set). It is for tuning only: the dev set
is never trained on, and the published real-photo numbers come from ``bench.real_photos`` on the full pipeline.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from emotion.classes import CLASSES


@dataclass
class DevCrops:
    crops: np.ndarray  # (N, S, S) uint8, what the classifier saw
    labels: np.ndarray  # (N,) class index
    datasets: np.ndarray  # (N,) dataset name per crop
    photos: int  # photos in the set (some have no face found)

    def inputs(self) -> np.ndarray:
        """The model input (N, 1, S, S) float32 in [0, 1]."""
        return self.crops[:, None].astype(np.float32) / 255.0

    def subset(self, mask: np.ndarray) -> "DevCrops":
        """The crops where ``mask`` is true (``photos`` counts them)."""
        return DevCrops(self.crops[mask], self.labels[mask], self.datasets[mask], int(mask.sum()))


def random_halves(n: int, halves: int, seed: int = 0):
    """``halves`` boolean masks, each choosing a random half of ``n`` crops: to choose on one half and score on the
    other, so that a gain fitted to a few photos shows as noise."""
    rng = np.random.default_rng(seed)
    for _ in range(halves):
        a = np.zeros(n, bool)
        a[rng.permutation(n)[: n // 2]] = True
        yield a


def build(data: Path) -> DevCrops:
    from emotion import EmotionRecognizer, PredictionResult
    from emotion.devset import load_photos

    rec = EmotionRecognizer()
    photos = load_photos(data)
    crops, labels, names = [], [], []
    for photo in tqdm(photos, desc="dev photos", unit="photo", mininterval=5):
        r = rec.predict(photo.path.read_bytes())
        if isinstance(r, PredictionResult):
            crops.append(r.faces[0].crop)
            labels.append(CLASSES.index(photo.label))
            names.append(photo.dataset)
    return DevCrops(np.stack(crops), np.asarray(labels, np.int64), np.asarray(names), len(photos))


def save(dev: DevCrops, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, crops=dev.crops, labels=dev.labels, datasets=dev.datasets, photos=dev.photos)


def load(path: str | Path) -> DevCrops:
    with np.load(path) as z:
        return DevCrops(z["crops"], z["labels"], z["datasets"], int(z["photos"]))


def accuracies(pred: np.ndarray, dev: DevCrops) -> dict[str, float]:
    """Accuracy of predicted class indices per dataset and over all faces found ("all")."""
    out = {name: float((pred[dev.datasets == name] == dev.labels[dev.datasets == name]).mean())
           for name in sorted(set(dev.datasets.tolist()))}
    out["all"] = float((pred == dev.labels).mean())
    return out


def scores(probs: np.ndarray, dev: DevCrops) -> dict[str, float]:
    """The training log's columns: accuracy per dataset and over all faces found, and ECE over all (15 bins)."""
    from train.calibration import ece

    out = {("dev_acc" if name == "all" else f"dev_{name}_acc"): v for name, v in accuracies(probs.argmax(1), dev).items()}
    out["dev_ece"] = float(ece(probs, dev.labels))
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m train.dev_crops", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", default="runs/dev_crops.npz", type=Path)
    a = p.parse_args()
    dev = build(a.data)
    save(dev, a.out)
    print(f"{len(dev.labels)} faces from {dev.photos} photos → {a.out}")


if __name__ == "__main__":
    main()
