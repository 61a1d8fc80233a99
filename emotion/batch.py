"""Many photos at once: one row per face in a CSV that round-trips (file, face number as on the annotated photo,
1, 2, …, box, emotion, confidence and the 7 probabilities). ``python -m emotion`` (``emotion.bulk``) writes the same rows with a
``time_s`` column after ``file``: the frame's time for a video, empty for a photo."""

from __future__ import annotations

import csv
import io
from typing import Iterable, Sequence

from emotion.classes import CLASSES
from emotion.result import ErrorResult, PredictionResult

MAX_BATCH = 20
CSV_COLUMNS = ["file", "face", "x", "y", "w", "h", "emotion", "confidence", "is_uncertain", "error", *CLASSES]
BULK_COLUMNS = ["file", "time_s", *CSV_COLUMNS[1:]]  # the command line's rows: photos and video frames in one file


def csv_rows(name: str, result: PredictionResult | ErrorResult, time_s: float | None = None) -> list[dict]:
    """The CSV rows of one photo (or video frame, at ``time_s`` seconds): one per face, or one row carrying the
    error code. Rows get a ``time_s`` key only when ``time_s`` is given."""
    extra = {} if time_s is None else {"time_s": round(float(time_s), 3)}
    if isinstance(result, ErrorResult):
        return [{"file": name, **extra, "face": "", "error": result.error}]
    rows = []
    for i, f in enumerate(result.faces):
        x, y, w, h = f.box
        rows.append({"file": name, **extra, "face": i + 1, "x": x, "y": y, "w": w, "h": h, "emotion": f.emotion,
                     "confidence": round(f.confidence, 4), "is_uncertain": f.is_uncertain, "error": "",
                     **{c: round(f.probabilities[c], 4) for c in CLASSES}})
    return rows


def to_csv(rows: Iterable[dict], columns: Sequence[str] = CSV_COLUMNS, header: bool = True) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), restval="")
    if header:
        w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))
