"""Shared fixtures. Tests that need the shipped model use ``models/emotion_classifier.onnx``; tests of the training
code build tiny synthetic datasets, so CI never trains for real."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from hypothesis import settings  # noqa: E402

from emotion.classes import CLASSES  # noqa: E402

# Deterministic property tests: the same examples on every run and machine.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.load_profile("deterministic")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MODEL = ROOT / "models" / "emotion_classifier.onnx"
FER = ROOT.parent / "shared" / "fer2013"


def synthetic_face(label: int, rng: np.random.Generator) -> np.ndarray:
    """A 48×48 grey image whose brightness pattern depends on the label, so a model can learn something."""
    img = rng.integers(0, 60, (48, 48)).astype(np.int32)
    img[:, label * 6:label * 6 + 8] += 150
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def fer_folder(tmp_path_factory) -> Path:
    """Kaggle layout: train/<class>/Training_*.jpg and test/<class>/{PublicTest,PrivateTest}_*.jpg, 4/2/2 per class."""
    root = tmp_path_factory.mktemp("fer_folder")
    rng = np.random.default_rng(0)
    n = 0
    for label, cls in enumerate(CLASSES):
        for sub, prefix, count in (("train", "Training", 4), ("test", "PublicTest", 2), ("test", "PrivateTest", 2)):
            d = root / sub / cls
            d.mkdir(parents=True, exist_ok=True)
            for _ in range(count):
                Image.fromarray(synthetic_face(label, rng)).save(d / f"{prefix}_{n}.jpg", quality=95)
                n += 1
    return root


@pytest.fixture(scope="session")
def fer_csv(tmp_path_factory) -> Path:
    """The original fer2013.csv: emotion (0=Angry … 6=Neutral), pixels, Usage."""
    from train.data import CSV_LABELS

    path = tmp_path_factory.mktemp("fer_csv") / "fer2013.csv"
    rng = np.random.default_rng(1)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for code, name in enumerate(CSV_LABELS):
            for usage, count in (("Training", 3), ("PublicTest", 1), ("PrivateTest", 1)):
                for _ in range(count):
                    w.writerow([code, " ".join(map(str, synthetic_face(CLASSES.index(name), rng).ravel())), usage])
    return path


@pytest.fixture(scope="session")
def recognizer():
    from emotion import EmotionRecognizer, Settings

    return EmotionRecognizer(settings=Settings(model_path=str(MODEL)))


TRAINING_STACK = ("needs the training stack (PyTorch, ONNX): pip install -r requirements-dev.txt; "
                  "requirements-test-light.txt leaves it out")


def training_stack(*modules: str):
    """A test module's mark when it needs ``modules`` of the training stack: skipped (the whole module) where they
    are not installed, and deselected with ``-m "not training"``."""
    for module in modules:
        pytest.importorskip(module, reason=TRAINING_STACK)
    return pytest.mark.training
