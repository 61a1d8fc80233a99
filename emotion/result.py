"""Result objects of the pipeline and their JSON form (the API's schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emotion.errors import MESSAGES


def is_uncertain(probabilities, threshold: float) -> bool:
    """The one uncertainty rule: a face is flagged when its top probability is below ``threshold``."""
    values = probabilities.values() if isinstance(probabilities, dict) else probabilities
    return bool(max(values) < threshold)


@dataclass
class FaceResult:
    box: tuple[int, int, int, int]  # [x, y, w, h] in the uploaded image's (upright) pixels
    detection_score: float
    probabilities: dict[str, float]
    is_uncertain: bool
    cam: np.ndarray | None = None  # (h, w) heat in [0, 1] for the predicted class, on the FER crop
    # Never serialised: the same box in the working copy's pixels (for drawing on it, computed once, where the box
    # is), and the face exactly as the classifier saw it (grey, input size), for showing and explaining it.
    image_box: tuple[int, int, int, int] | None = field(default=None, repr=False)
    crop: np.ndarray | None = field(default=None, repr=False)

    @property
    def emotion(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    @property
    def confidence(self) -> float:
        return self.probabilities[self.emotion]

    def to_dict(self, include_cam: bool = False) -> dict[str, Any]:
        d = {"box": [int(v) for v in self.box], "detection_score": round(self.detection_score, 4), "emotion": self.emotion,
             "confidence": round(self.confidence, 4), "is_uncertain": self.is_uncertain,
             "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()}}
        if include_cam and self.cam is not None:
            d["cam"] = np.round(self.cam, 3).tolist()
        return d


@dataclass
class PredictionResult:
    """A successful prediction; the top-level fields describe the largest face (``faces[0]``)."""

    faces: list[FaceResult]
    inference_time_ms: float
    image_size: tuple[int, int]
    timings_ms: dict[str, float] = field(default_factory=dict)
    success: bool = True
    # The validated working copy and its scale (original px per working px), for drawing; never serialised.
    image: np.ndarray | None = field(default=None, repr=False)
    scale: float = 1.0
    model: str = "accurate"  # which classifier answered ("accurate" or "fast"; emotion.classifier.MODEL_NAMES)

    def to_dict(self, include_cam: bool = False) -> dict[str, Any]:
        top = self.faces[0]
        return {"success": True, "emotion": top.emotion, "confidence": round(top.confidence, 4), "is_uncertain": top.is_uncertain,
                "probabilities": {k: round(v, 4) for k, v in top.probabilities.items()},
                "faces": [f.to_dict(include_cam) for f in self.faces], "face_count": len(self.faces),
                "image_size": list(self.image_size), "inference_time_ms": round(self.inference_time_ms, 2),
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()}, "model": self.model}


@dataclass
class ErrorResult:
    error: str
    message: str
    success: bool = False

    @classmethod
    def of(cls, code: str, message: str | None = None) -> "ErrorResult":
        return cls(code, message or MESSAGES[code])

    def to_dict(self, include_cam: bool = False) -> dict[str, Any]:
        return {"success": False, "error": self.error, "message": self.message}
