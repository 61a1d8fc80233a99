"""Many photos at once: one row per face in a CSV that round-trips (file, face index, box, emotion,
confidence and the 7 probabilities)."""

from __future__ import annotations

import csv
import io
from typing import Iterable

from emotion.classes import CLASSES
from emotion.result import ErrorResult, PredictionResult

MAX_BATCH = 20
CSV_COLUMNS = ["file", "face", "x", "y", "w", "h", "emotion", "confidence", "is_uncertain", "error", *CLASSES]


def csv_rows(name: str, result: PredictionResult | ErrorResult) -> list[dict]:
    """The CSV rows of one photo: one per face, or one row carrying the error code."""
    if isinstance(result, ErrorResult):
        return [{"file": name, "face": "", "error": result.error}]
    rows = []
    for i, f in enumerate(result.faces):
        x, y, w, h = f.box
        rows.append({"file": name, "face": i, "x": x, "y": y, "w": w, "h": h, "emotion": f.emotion,
                     "confidence": round(f.confidence, 4), "is_uncertain": f.is_uncertain, "error": "",
                     **{c: round(f.probabilities[c], 4) for c in CLASSES}})
    return rows


def to_csv(rows: Iterable[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, restval="")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))
