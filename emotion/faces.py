"""Face detection (MediaPipe's two BlazeFace models, whole frame and tiles) and FER-style cropping.

Photos people upload range from selfies where the face fills the frame to 12 MP group photos with faces of 2 % of
the width. MediaPipe's full-range model (192×192 input) misses the first, its short-range model (128×128) finds
them; neither sees a face that shrinks to a few pixels when the whole photo is squeezed into its input, so large
photos without a face that fills the frame are also searched tile by tile on a sharper copy. Boxes of every look
are merged by non-maximum suppression. ``python -m bench.real_photos`` measures what each step adds and costs.

FER-2013 faces are tight, centred squares. ``CROP_SCALE`` and ``CROP_SHIFT`` turn a MediaPipe box into
that framing; they were measured, not guessed, by ``python -m train.crop_calibration`` (FER training
faces placed on a larger canvas, run through this same detector, box compared with the known crop).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace

import cv2
import numpy as np

from emotion.validation import downscale

# Measured by `python -m train.crop_calibration --data ../shared/fer2013 --n 1000` (MediaPipe found 755 of
# 1000 FER training faces): FER crop side = CROP_SCALE × detector box side (median 1.136, IQR 1.049–1.239);
# crop centre = box centre + CROP_SHIFT × box side (median x −0.003, taken as 0 by symmetry; y −0.055, IQR
# −0.089…−0.015: FER frames a little more forehead than chin, relative to MediaPipe's box).
CROP_SCALE = 1.136
CROP_SHIFT = (0.0, -0.055)  # (x, y)

# The crop calibration above is for the full-range model's box. The short-range model frames a face slightly
# differently; on the 314 photos of ../shared/expressions_dev where both models found one face
# (`python -m bench.real_photos --data ../shared/expressions_dev`, "box agreement" line): full-range side /
# short-range side median 1.025 (IQR 0.975–1.056), centre offset x −0.010 (taken as 0), y −0.039 short-range sides.
# Short-range boxes are mapped to the full-range framing with these, so one crop calibration serves both.
SHORT_TO_FULL_SCALE = 1.03
SHORT_TO_FULL_SHIFT = (0.0, -0.04)  # (x by symmetry, y)

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear_tragion", "left_ear_tragion")
DETECT_MAX_SIDE = 640  # the whole-frame look: the models see 192 / 128 px anyway, a smaller copy is cheaper to hand over
SHORT_RANGE_MIN_SCORE = 0.6  # at 0.5 the short-range model boxes scikit-image's colour wheel (0.58); its faces score higher
SHORT_RANGE_PAD = 0.25  # when neither model found a face: the short-range model again with a replicated margin of this
#                         × the longer side, for a face that touches the frame's edges (`bench.real_photos` ablation)
TILE = 640  # tile side on the detail copy: the full-range model sees it at 0.3×, so faces from ~40 px are found
TILE_OVERLAP = 64  # a face up to this size cut by one tile's edge is whole in its neighbour
VERIFY_ZOOM = 4  # a tile's face is confirmed on a crop this many face sides wide (the face at 1/4 of the model's input)
DETAIL_MAX_SIDE = 2000  # the detail copy tiles are cut from: at most 4 × 3 tiles of 640 px (bounded cost)
PORTRAIT_FRACTION = 0.15  # a face this large (× the shorter side) makes the photo a portrait: no tile pass
NMS_IOU = 0.3  # two boxes overlapping this much (or one lying mostly inside the other) are one face
MIN_FACE_SIDE = 12  # px on the working copy: a smaller box holds no usable expression (FER faces are 48 px)


@dataclass(frozen=True)
class Face:
    """A detected face: ``box`` is [x, y, w, h] in pixels, clamped to the image; ``keypoints`` are MediaPipe's six
    points (``KEYPOINT_NAMES``: eyes, nose tip, mouth, ears) as (x, y) in the same pixels, e.g. to level the eyes."""

    box: tuple[int, int, int, int]
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    def mapped(self, scale: float, size: tuple[int, int], offset: tuple[float, float] = (0.0, 0.0)) -> "Face":
        """This face in another image's pixels: p → p × scale + offset, box clamped to ``size`` (w, h)."""
        x, y, w, h = self.box
        dx, dy = offset
        x0, y0 = x * scale + dx, y * scale + dy
        return replace(self, box=_clamp_box(x0, y0, x0 + w * scale, y0 + h * scale, size),
                       keypoints=tuple((px * scale + dx, py * scale + dy) for px, py in self.keypoints))


def _clamp_box(x0: float, y0: float, x1: float, y1: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    x0, y0 = min(w, max(0, round(x0))), min(h, max(0, round(y0)))
    x1, y1 = min(w, max(0, round(x1))), min(h, max(0, round(y1)))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


class FaceDetector:
    """One MediaPipe face-detection model (``model_selection`` 1: full-range, 0: short-range). The 0.10.21
    solution object is not thread-safe, so calls are serialised by a lock per object."""

    def __init__(self, min_score: float = 0.5, model_selection: int = 1):
        import mediapipe as mp  # deferred: importing mediapipe costs ~1 s

        self._detector = mp.solutions.face_detection.FaceDetection(model_selection=model_selection, min_detection_confidence=min_score)
        self._lock = threading.Lock()
        self.min_score = min_score  # applied again to the final score: MediaPipe thresholds before its weighted NMS

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """All faces in an RGB uint8 image, largest first, with their six keypoints."""
        h, w = rgb.shape[:2]
        with self._lock:
            result = self._detector.process(np.ascontiguousarray(rgb))
        faces = []
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            box = _clamp_box(rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h, (w, h))
            if box[2] >= 2 and box[3] >= 2 and det.score[0] >= self.min_score:
                kps = tuple((k.x * w, k.y * h) for k in det.location_data.relative_keypoints)
                faces.append(Face(box, float(det.score[0]), kps))
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def close(self) -> None:
        with self._lock:
            self._detector.close()


@dataclass(frozen=True)
class DetectionSteps:
    """Which looks a ``FaceFinder`` takes; the presets in ``STRATEGIES`` let the benches measure each step."""

    short_range: bool = True  # the short-range model on the whole frame too (close-ups)
    pad: float = SHORT_RANGE_PAD  # no face yet: short-range again with this margin around the frame (0: not tried)
    tiles: bool = True  # full-range on tiles of a detail copy when no face fills the frame (small faces)
    verify: bool = True  # each new face from a tile looked at again, closer (galaxies in a deep-field photo are not faces)


STRATEGIES: dict[str, DetectionSteps] = {
    "full": DetectionSteps(short_range=False, pad=0.0, tiles=False),  # before issue 11: full-range on a ≤640 copy
    "full+short": DetectionSteps(pad=0.0, tiles=False),
    "full+short+pad": DetectionSteps(tiles=False),
    "full+short+pad+tiles": DetectionSteps(verify=False),
    "multi": DetectionSteps(),  # the default
}
DEFAULT_STRATEGY = "multi"


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    inter = _intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _intersection(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy


def nms(faces: list[Face], max_iou: float = NMS_IOU, max_inside: float = 0.7) -> list[Face]:
    """Non-maximum suppression: highest score first, a box is dropped when it overlaps a kept one by IoU ≥ ``max_iou``
    or lies ≥ ``max_inside`` inside it (a tile's half face next to the whole-frame box). Largest first."""
    kept: list[Face] = []
    for f in sorted(faces, key=lambda f: f.score, reverse=True):
        if all(iou(f.box, k.box) < max_iou and _intersection(f.box, k.box) < max_inside * min(f.area, k.area) for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.area, reverse=True)


def tile_origins(length: int, tile: int = TILE, overlap: int = TILE_OVERLAP) -> list[int]:
    """Start offsets of tiles covering ``length`` px with at least ``overlap`` px shared by neighbours."""
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


class FaceFinder:
    """Every face in a photo: the two models on the whole frame, then (``needs_detail``) tiles of a detail copy.

    Callers hand in the working copy for the whole-frame look and, for the tiles, the sharpest copy they have
    (up to ``DETAIL_MAX_SIDE``); all boxes come back in the working copy's pixels, merged by ``nms``.
    """

    def __init__(self, min_score: float = 0.5, strategy: str = DEFAULT_STRATEGY):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {tuple(STRATEGIES)}, got {strategy!r}")
        self.strategy = strategy
        self.steps = STRATEGIES[strategy]
        self.full = FaceDetector(min_score, model_selection=1)
        self.short = FaceDetector(max(min_score, SHORT_RANGE_MIN_SCORE), model_selection=0) if self.steps.short_range else None

    def whole_frame(self, rgb: np.ndarray) -> list[Face]:
        """Both models on a ≤ DETECT_MAX_SIDE copy, and the short-range one again with a replicated margin when neither
        found a face; boxes in ``rgb``'s pixels and in the full-range model's framing."""
        h, w = rgb.shape[:2]
        small, f = downscale(rgb, DETECT_MAX_SIDE)
        faces = [face.mapped(1 / f, (w, h)) for face in self.full.detect(small)]
        if self.short is not None:
            faces += [_short_to_full(face.mapped(1 / f, (w, h)), (w, h)) for face in self.short.detect(small)]
            if not faces and self.steps.pad > 0:
                p = round(self.steps.pad * max(small.shape[:2]))
                padded = cv2.copyMakeBorder(small, p, p, p, p, cv2.BORDER_REPLICATE)
                faces = [_short_to_full(face.mapped(1 / f, (w, h), (-p / f, -p / f)), (w, h)) for face in self.short.detect(padded)]
        return nms(faces)

    def needs_detail(self, faces: list[Face], shape: tuple[int, ...]) -> bool:
        """Tiles only when this strategy takes them and no face found so far fills the frame like a portrait's."""
        return self.steps.tiles and not any(max(f.box[2:]) >= PORTRAIT_FRACTION * min(shape[:2]) for f in faces)

    def tiles(self, detail: np.ndarray, known: list[Face] = ()) -> list[Face]:
        """The full-range model on overlapping ``TILE`` px tiles of ``detail`` (nothing when it fits in one tile:
        the whole-frame look saw it at about the same scale); boxes in ``detail``'s pixels. A face not among ``known``
        (same pixels) is kept only if the model finds it again on a closer crop around it (``verify``)."""
        h, w = detail.shape[:2]
        if max(h, w) <= TILE * 1.25:
            return []
        faces = []
        for y in tile_origins(h):
            for x in tile_origins(w):
                faces += [face.mapped(1.0, (w, h), (x, y)) for face in self.full.detect(detail[y:y + TILE, x:x + TILE])]
        faces = nms(faces)
        if self.steps.verify:
            faces = [f for f in faces if any(iou(f.box, k.box) >= NMS_IOU for k in known) or self._confirmed(detail, f)]
        return faces

    def _confirmed(self, rgb: np.ndarray, face: Face) -> bool:
        """The full-range model finds a face again on a ``VERIFY_ZOOM`` × wider crop centred on ``face`` (edge-padded)."""
        x, y, w, h = face.box
        side = max(2, round(max(w, h) * VERIFY_ZOOM))
        x0, y0 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
        crop = crop_face(rgb, (x0, y0, side, side), scale=1.0, shift=(0.0, 0.0))
        return any(iou(f.mapped(1.0, (side, side)).box, (x - x0, y - y0, w, h)) >= NMS_IOU for f in self.full.detect(crop))

    def find(self, rgb: np.ndarray, detail: np.ndarray | None = None) -> list[Face]:
        """All faces in ``rgb`` (largest first, boxes in its pixels); ``detail`` is a sharper copy of the same photo
        for the tiles (``rgb`` itself when None)."""
        faces = self.whole_frame(rgb)
        if self.needs_detail(faces, rgb.shape):
            src = detail if detail is not None else rgb
            known = [f.mapped(src.shape[1] / rgb.shape[1], (src.shape[1], src.shape[0])) for f in faces]
            faces = self.merge(faces, self.tiles(src, known), rgb.shape, detail)
        return [f for f in faces if min(f.box[2:]) >= MIN_FACE_SIDE]

    @staticmethod
    def merge(faces: list[Face], tile_faces: list[Face], shape: tuple[int, ...], detail: np.ndarray | None) -> list[Face]:
        """Tile boxes (``detail``'s pixels) mapped to the working copy's (``shape``) and merged with the whole-frame ones."""
        h, w = shape[:2]
        s = w / detail.shape[1] if detail is not None else 1.0
        return nms(faces + [f.mapped(s, (w, h)) for f in tile_faces])

    def close(self) -> None:
        self.full.close()
        if self.short is not None:
            self.short.close()


def _short_to_full(face: Face, size: tuple[int, int]) -> Face:
    """A short-range box reframed as the full-range model would draw it (``SHORT_TO_FULL_*``)."""
    x, y, w, h = face.box
    cx, cy = x + w / 2 + SHORT_TO_FULL_SHIFT[0] * w, y + h / 2 + SHORT_TO_FULL_SHIFT[1] * h
    nw, nh = w * SHORT_TO_FULL_SCALE, h * SHORT_TO_FULL_SCALE
    return replace(face, box=_clamp_box(cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2, size))


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
