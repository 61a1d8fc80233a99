"""Face detection (MediaPipe, full-range model) and FER-style cropping.

FER-2013 faces are tight, centred squares. ``CROP_SCALE`` and ``CROP_SHIFT`` turn a MediaPipe box into
that framing; they were measured, not guessed, by ``python -m train.crop_calibration`` (FER training
faces placed on a larger canvas, run through this same detector, box compared with the known crop).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

# Measured by `python -m train.crop_calibration --data ../shared/fer2013 --n 1000` (MediaPipe found 755 of
# 1000 FER training faces): FER crop side = CROP_SCALE × detector box side (median 1.136, IQR 1.049–1.239);
# crop centre = box centre + CROP_SHIFT × box side (median x −0.003, taken as 0 by symmetry; y −0.055, IQR
# −0.089…−0.015: FER frames a little more forehead than chin, relative to MediaPipe's box).
CROP_SCALE = 1.136
CROP_SHIFT = (0.0, -0.055)  # (x, y)


@dataclass(frozen=True)
class Face:
    """A detected face: ``box`` is the detector's box [x, y, w, h] in pixels, clamped to the image."""

    box: tuple[int, int, int, int]
    score: float

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


class FaceDetector:
    """MediaPipe face detection. The 0.10.21 solution object is not thread-safe, so calls are serialised."""

    def __init__(self, min_score: float = 0.5, model_selection: int = 1):
        import mediapipe as mp  # deferred: importing mediapipe costs ~1 s

        self._detector = mp.solutions.face_detection.FaceDetection(model_selection=model_selection, min_detection_confidence=min_score)
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """All faces in an RGB uint8 image, largest first."""
        h, w = rgb.shape[:2]
        with self._lock:
            result = self._detector.process(np.ascontiguousarray(rgb))
        faces = []
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            x0, y0 = max(0, round(rb.xmin * w)), max(0, round(rb.ymin * h))
            x1, y1 = min(w, round((rb.xmin + rb.width) * w)), min(h, round((rb.ymin + rb.height) * h))
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                faces.append(Face((x0, y0, x1 - x0, y1 - y0), float(det.score[0])))
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def close(self) -> None:
        with self._lock:
            self._detector.close()


def crop_box(box: tuple[int, int, int, int], image_shape: tuple[int, ...], scale: float = CROP_SCALE,
             shift: tuple[float, float] = CROP_SHIFT) -> tuple[int, int, int, int]:
    """The square FER-style crop [x, y, side, side] around a detector box, before clamping to the image."""
    x, y, w, h = box
    side = max(w, h)
    cx, cy = x + w / 2 + shift[0] * side, y + h / 2 + shift[1] * side
    s = max(2, round(side * scale))
    return round(cx - s / 2), round(cy - s / 2), s, s


def crop_face(image: np.ndarray, box: tuple[int, int, int, int], scale: float = CROP_SCALE,
              shift: tuple[float, float] = CROP_SHIFT) -> np.ndarray:
    """Cut the FER-style square crop for ``box``; parts outside the image are filled by edge replication so
    that a face at the border keeps its framing instead of being stretched."""
    x, y, s, _ = crop_box(box, image.shape, scale, shift)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + s), min(h, y + s)
    crop = image[y0:y1, x0:x1]
    pad = ((y0 - y, y + s - y1), (x0 - x, x + s - x1)) + ((0, 0),) * (image.ndim - 2)
    if any(p for pair in pad for p in pair):
        crop = np.pad(crop, pad, mode="edge")
    return crop
