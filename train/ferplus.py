"""FER+ labels (Barsoum et al., ICMI 2016; Microsoft, MIT licence): ten annotators' votes per FER-2013 face.

``ferplus_votes.csv`` (``file,split,fer_label,neutral,happiness,…,contempt,unknown,NF``) joins the votes to the Kaggle
file names, which are also ``Split.sources``. What we make of them, for our seven classes:

- **soft target** = the votes over our seven classes, normalised. Contempt, unknown and NF votes are dropped (we have
  no such class); a face gets no FER+ target (``mask`` False) when none of the ten votes went to our seven classes or
  when NF ("not a face") has at least as many votes as the best of them. Such faces still train on their FER-2013 label.
- **majority label** (the FER+ benchmark): the class with strictly more votes than any other of all ten categories,
  when it is one of our seven; faces without one are left out of FER+ accuracy (3,349 of the 3,573 PrivateTest faces).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from emotion.classes import CLASSES

# FER+ column for each of our classes, in CLASSES order.
FERPLUS_COLUMN = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "neutral": "neutral",
                  "sad": "sadness", "surprise": "surprise"}
OTHER_COLUMNS = ("contempt", "unknown", "NF")


def load_votes(path: str | Path) -> dict[str, np.ndarray]:
    """file (e.g. ``train/angry/Training_10118481.jpg``) → int votes (10,): our seven classes, then contempt, unknown, NF."""
    columns = [FERPLUS_COLUMN[c] for c in CLASSES] + list(OTHER_COLUMNS)
    with open(path, newline="") as fh:
        return {row["file"]: np.array([int(row[c]) for c in columns], np.int64) for row in csv.DictReader(fh)}


def soft_targets(sources: list[str], votes: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Vote distributions over our classes (N, 7) float32 and whether each face has one (N,) bool."""
    n, k = len(sources), len(CLASSES)
    targets, mask = np.zeros((n, k), np.float32), np.zeros(n, bool)
    for i, name in enumerate(sources):
        v = votes.get(name)
        if v is None or v[:k].sum() == 0 or v[k + 2] >= v[:k].max():
            continue
        targets[i], mask[i] = v[:k] / v[:k].sum(), True
    return targets, mask


def majority_labels(sources: list[str], votes: dict[str, np.ndarray]) -> np.ndarray:
    """The FER+ majority class index per face, or -1 where there is none among our classes."""
    out = np.full(len(sources), -1, np.int64)
    for i, name in enumerate(sources):
        v = votes.get(name)
        if v is None:
            continue
        top = int(v.argmax())
        if top < len(CLASSES) and (v == v[top]).sum() == 1:
            out[i] = top
    return out
