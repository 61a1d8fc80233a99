"""``EmotionRecognizer``: the whole pipeline behind one small class.

bytes / path / PIL / array → validated RGB image → faces → FER-style crops → tensor → probabilities → result.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Sequence

import numpy as np

from emotion.classifier import OnnxEmotionClassifier
from emotion.config import Settings
from emotion.errors import ImageRejected
from emotion.faces import Face, FaceDetector, crop_face
from emotion.preprocess import preprocess_faces
from emotion.result import ErrorResult, FaceResult, PredictionResult
from emotion.validation import ImageSource, ValidatedImage, downscale, validate_image

log = logging.getLogger("emotion")
DETECT_MAX_SIDE = 640  # MediaPipe's full-range model looks at 192×192 anyway; a smaller copy is cheaper to hand over


class EmotionRecognizer:
    """Load once, call ``predict`` many times (thread-safe)."""

    def __init__(self, model_path: str | os.PathLike | None = None, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self.classifier = OnnxEmotionClassifier(model_path or self.settings.model_path, threads=self.settings.ort_threads)
        self.detector = FaceDetector(min_score=self.settings.min_face_score)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.classifier.classes

    @property
    def metadata(self) -> dict:
        return self.classifier.metadata

    def classify_faces(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities (N, 7), rows summing to 1, for already-cropped faces (uint8 grey H×W or RGB H×W×3)."""
        if len(faces) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.classifier.probabilities(preprocess_faces(faces, self.classifier.input_size))

    def predict(self, image: ImageSource, with_cam: bool = False) -> PredictionResult | ErrorResult:
        """Every face in ``image`` with its emotion; an ``ErrorResult`` (never an exception) for bad input."""
        t0 = time.perf_counter()
        try:
            img = validate_image(image, self.settings.max_bytes)
            t1 = time.perf_counter()
            faces = self.detect(img)
            t2 = time.perf_counter()
            if not faces:
                raise ImageRejected("no_face_detected")
            if len(faces) > 1 and self.settings.multi_face == "error":
                raise ImageRejected("multiple_faces")
            if self.settings.multi_face == "largest":
                faces = faces[:1]
            faces = faces[: self.settings.max_faces]
            results = self._classify(img, faces, with_cam)
            t3 = time.perf_counter()
        except ImageRejected as e:
            log.info("rejected: %s", e.code)
            return ErrorResult.of(e.code, e.message)
        except Exception as e:  # never let one request take the caller down; log the type only, no image data
            log.exception("internal error: %s", type(e).__name__)
            return ErrorResult.of("internal_error")
        timings = {"decode": (t1 - t0) * 1e3, "detect": (t2 - t1) * 1e3, "classify": (t3 - t2) * 1e3}
        return PredictionResult(results, (t3 - t0) * 1e3, img.original_size, timings, image=img.rgb, scale=img.scale)

    def detect(self, img: ValidatedImage) -> list[Face]:
        """Faces on a ≤ DETECT_MAX_SIDE copy, boxes mapped back to the working image."""
        small, f = downscale(img.rgb, DETECT_MAX_SIDE)
        faces = self.detector.detect(small)
        if f == 1.0:
            return faces
        h, w = img.rgb.shape[:2]
        return [Face(_scale_box(face.box, 1 / f, w, h), face.score) for face in faces]

    def _classify(self, img: ValidatedImage, faces: list[Face], with_cam: bool) -> list[FaceResult]:
        crops = [crop_face(img.rgb, face.box) for face in faces]
        x = preprocess_faces(crops, self.classifier.input_size)
        if with_cam:
            logits, cams = self.classifier.logits_and_cam(x)
        else:
            logits, cams = self.classifier.logits(x), None
        probs = self.classifier.calibrate(logits)
        out = []
        h, w = img.rgb.shape[:2]
        for i, face in enumerate(faces):
            p = {c: float(v) for c, v in zip(self.classes, probs[i])}
            cam = _normalise_cam(cams[i, int(probs[i].argmax())]) if cams is not None else None
            out.append(FaceResult(_scale_box(face.box, img.scale, round(w * img.scale), round(h * img.scale)), face.score, p,
                                  bool(probs[i].max() < self.settings.confidence_threshold), cam))
        return out


def _scale_box(box: tuple[int, int, int, int], s: float, w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0 = min(w, max(0, round(box[0] * s))), min(h, max(0, round(box[1] * s)))
    x1, y1 = min(w, round((box[0] + box[2]) * s)), min(h, round((box[1] + box[3]) * s))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def _normalise_cam(cam: np.ndarray) -> np.ndarray:
    cam = np.maximum(cam - cam.min(), 0)
    return (cam / cam.max()).astype(np.float32) if cam.max() > 0 else cam.astype(np.float32)
