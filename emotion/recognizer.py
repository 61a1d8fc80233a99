"""``EmotionRecognizer``: the whole pipeline behind one small class.

bytes / path / PIL / array → validated RGB image → faces → FER-style crops → tensor → probabilities → result.
"""

from __future__ import annotations

import io
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from emotion.classifier import OnnxEmotionClassifier
from emotion.config import Settings
from emotion.errors import ImageRejected
from emotion.faces import DEFAULT_STRATEGY, DETAIL_MAX_SIDE, MIN_FACE_SIDE, TILE, Face, FaceFinder, crop_face
from emotion.preprocess import preprocess_faces
from emotion.result import ErrorResult, FaceResult, PredictionResult, is_uncertain
from emotion.validation import ImageSource, ValidatedImage, read_bytes, validate_image

log = logging.getLogger("emotion")
SMALL_IMAGE_SIDE = 160  # below this (shorter side, px) "no face" says the image is too small to hold one
MIN_FOUND_FACE_PX = 40  # faces from about this size (px of the copy searched) are found, at its whole-frame or tile scale
DETAIL_MIN_GAIN = 1.25  # a sharper copy is decoded for the tiles only when the original has this many times more px per side

# "No face" says what was tried and what to do, not "use a well-lit photo": a close-up or a crowd is usually the cause.
NO_FACE_MESSAGES = {
    "small": "No face was found in this small image. A face needs to be at least {px} pixels wide: "
             "try a larger photo, or one cropped less tightly.",
    "whole": "No face was found. Faces turned far to the side, covered (hands, masks, sunglasses) or smaller than "
             "about a twentieth of the photo's width are missed: try a photo where the face looks towards the camera, "
             "or crop closer to the face.",
    "tiles": "No face was found, even looking closely at each part of this photo. Faces turned far to the side, "
             "covered (hands, masks, sunglasses) or smaller than about {px} pixels across are missed: try a photo "
             "where the faces look towards the camera, or crop closer to them.",
}


@dataclass
class Detection:
    """What ``EmotionRecognizer.detect`` found: faces in working-copy pixels, the sharper copy the tiles were cut
    from (None when the working copy was used or no tiles were needed), and whether tiles were looked at (for the
    no-face message)."""

    faces: list[Face]
    detail: np.ndarray | None = None
    tiled: bool = False


class EmotionRecognizer:
    """Load once, call ``predict`` many times (thread-safe).

    One face detector, one or more classifiers chosen by name: ``EmotionRecognizer()`` holds only ``"accurate"``
    (``settings.model_path``); ``EmotionRecognizer(models=("accurate", "fast"))`` holds both (files from
    ``settings.model_paths``) and ``predict(image, model="fast")`` picks one. The first model is the default."""

    def __init__(self, model_path: str | os.PathLike | None = None, settings: Settings | None = None,
                 strategy: str = DEFAULT_STRATEGY,
                 models: Sequence[str] | Mapping[str, str | os.PathLike] | None = None):
        """``strategy``: which detection steps run (``emotion.faces.STRATEGIES``; ``"full"`` is the detector before
        issue 11, kept so the benches measure before and after in one run). ``models``: names (files from
        ``settings.model_paths``) or name → ONNX file; default ``("accurate",)``, whose file ``model_path`` overrides."""
        self.settings = settings or Settings()
        paths = dict(self.settings.model_paths)
        if model_path is not None:
            paths["accurate"] = str(model_path)
        if models is None:
            models = ("accurate",)
        if not isinstance(models, Mapping):
            unknown = [m for m in models if m not in paths]
            if unknown:
                raise ValueError(f"unknown model {unknown[0]!r}: known names are {tuple(paths)} (or pass name → file)")
            models = {m: paths[m] for m in models}
        if not models:
            raise ValueError("at least one model is needed")
        self.classifiers: dict[str, OnnxEmotionClassifier] = {
            name: OnnxEmotionClassifier(path, threads=self.settings.ort_threads) for name, path in models.items()}
        self.default_model: str = next(iter(self.classifiers))
        self.classifier = self.classifiers[self.default_model]  # the default one (kept for callers of one model)
        self.finder = FaceFinder(min_score=self.settings.min_face_score, strategy=strategy)

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models this recognizer holds, the default first."""
        return tuple(self.classifiers)

    def classifier_for(self, model: str | None = None) -> OnnxEmotionClassifier:
        """The classifier called ``model`` (None: the default); ``ValueError`` for a name it does not hold."""
        if model is None:
            return self.classifier
        try:
            return self.classifiers[model]
        except KeyError:
            raise ValueError(f"unknown model {model!r}: this recognizer holds {self.model_names}") from None

    def threshold_for(self, model: str | None = None) -> float:
        """The confidence below which a face is flagged uncertain: the configured one, else the model's own."""
        return self._threshold(self.classifier_for(model))

    def _threshold(self, clf: OnnxEmotionClassifier) -> float:
        t = self.settings.confidence_threshold
        return t if t is not None else clf.uncertain_threshold

    @property
    def classes(self) -> tuple[str, ...]:
        return self.classifier.classes

    @property
    def metadata(self) -> dict:
        return self.classifier.metadata

    def classify_faces(self, faces: Sequence[np.ndarray], model: str | None = None) -> np.ndarray:
        """Probabilities (N, 7), rows summing to 1, for already-cropped faces (uint8 grey H×W or RGB H×W×3)."""
        clf = self.classifier_for(model)
        if len(faces) == 0:
            return np.zeros((0, len(clf.classes)), np.float32)
        return clf.probabilities(preprocess_faces(faces, clf.input_size))

    def predict(self, image: ImageSource, with_cam: bool = False, model: str | None = None) -> PredictionResult | ErrorResult:
        """Every face in ``image`` with its emotion, from the classifier called ``model`` (None: the default); an
        ``ErrorResult`` (never an exception) for bad input. An unknown ``model`` is the caller's mistake: ValueError."""
        clf = self.classifier_for(model)
        name = model or self.default_model
        t0 = time.perf_counter()
        try:
            img = validate_image(image, self.settings.max_bytes, detail_max_side=DETAIL_MAX_SIDE)
            t1 = time.perf_counter()
            found = self.detect(img, image)
            faces = found.faces
            t2 = time.perf_counter()
            if not faces:
                raise ImageRejected("no_face_detected", self._no_face_message(img, found))
            if len(faces) > 1 and self.settings.multi_face == "error":
                raise ImageRejected("multiple_faces")
            if self.settings.multi_face == "largest":
                faces = faces[:1]
            faces = faces[: self.settings.max_faces]
            results = self._classify(img, faces, with_cam, found.detail, clf)
            t3 = time.perf_counter()
        except ImageRejected as e:
            log.info("rejected: %s", e.code)
            return ErrorResult.of(e.code, e.message)
        except Exception as e:  # never let one request take the caller down; log the type only, no image data
            log.exception("internal error: %s", type(e).__name__)
            return ErrorResult.of("internal_error")
        timings = {"decode": (t1 - t0) * 1e3, "detect": (t2 - t1) * 1e3, "classify": (t3 - t2) * 1e3}
        return PredictionResult(results, (t3 - t0) * 1e3, img.original_size, timings, image=img.rgb, scale=img.scale, model=name)

    def detect(self, img: ValidatedImage, source: ImageSource | None = None) -> Detection:
        """Faces in the working copy's pixels: the whole-frame look, then, unless a face fills the frame, tiles of
        the sharpest copy at hand (``img.detail``, from the same decode, or decoded again from ``source`` up to
        ``DETAIL_MAX_SIDE`` when validation was not asked for it) when the original is larger than the working copy: a 12 MP JPEG's working copy is 1000 px, where an 80 px face is 20 px)."""
        faces = self.finder.whole_frame(img.rgb)
        detail, tiled = None, False
        if self.finder.needs_detail(faces, img.rgb.shape):
            detail = self._detail_copy(source, img) if (source is not None or img.detail is not None) else None
            src = detail if detail is not None else img.rgb
            known = [f.mapped(src.shape[1] / img.rgb.shape[1], (src.shape[1], src.shape[0])) for f in faces]
            tile_faces = self.finder.tiles(src, known)
            tiled = max(src.shape[:2]) > TILE * 1.25
            faces = self.finder.merge(faces, tile_faces, img.rgb.shape, detail)
        return Detection([f for f in faces if min(f.box[2:]) >= MIN_FACE_SIDE], detail, tiled)

    def _detail_copy(self, source: ImageSource, img: ValidatedImage) -> np.ndarray | None:
        """The photo again at up to ``DETAIL_MAX_SIDE`` px, or None when the working copy already holds (nearly) all
        its pixels or the second decode fails (the tiles then use the working copy). Validation already passed, so
        this goes through ``validate_image`` again only for the same upright, metadata-free RGB."""
        if img.scale < DETAIL_MIN_GAIN:
            return None
        if img.detail is not None:  # decoded with the working copy, in one pass
            rgb = img.detail
            return rgb if rgb.shape[1] > img.rgb.shape[1] else None
        try:
            if isinstance(source, (np.ndarray, Image.Image)):
                rgb = validate_image(source, self.settings.max_bytes, work_max_side=DETAIL_MAX_SIDE).rgb
            else:
                im = Image.open(io.BytesIO(read_bytes(source, self.settings.max_bytes)))
                if im.format == "JPEG":  # DCT-scaled decoding, as validation does, but to the detail size
                    f = DETAIL_MAX_SIDE / max(im.size)
                    im.draft("RGB", (math.ceil(im.size[0] * f), math.ceil(im.size[1] * f)))
                rgb = validate_image(im, self.settings.max_bytes, work_max_side=DETAIL_MAX_SIDE).rgb
        except (ImageRejected, OSError, ValueError) as e:
            log.info("no detail copy: %s", type(e).__name__)
            return None
        h, w = img.rgb.shape[:2]
        if rgb.shape[1] <= w or abs(rgb.shape[0] / rgb.shape[1] - h / w) > 0.02:  # not sharper, or not the same photo
            return None
        return rgb

    @staticmethod
    def _no_face_message(img: ValidatedImage, found: Detection) -> str:
        """The message for this case: a small image, a large one searched tile by tile, or one seen whole."""
        if min(img.original_size) < SMALL_IMAGE_SIDE:
            return NO_FACE_MESSAGES["small"].format(px=MIN_FOUND_FACE_PX)
        if found.tiled:  # in the original's pixels, rounded up to tens
            searched_w = found.detail.shape[1] if found.detail is not None else img.rgb.shape[1]
            return NO_FACE_MESSAGES["tiles"].format(px=math.ceil(MIN_FOUND_FACE_PX * img.original_size[0] / searched_w / 10) * 10)
        return NO_FACE_MESSAGES["whole"]

    def _classify(self, img: ValidatedImage, faces: list[Face], with_cam: bool, detail: np.ndarray | None = None,
                  classifier: OnnxEmotionClassifier | None = None) -> list[FaceResult]:
        """Crops from the sharpest copy at hand (a 20 px face of the working copy is 40 px in the detail copy)."""
        clf = classifier or self.classifier
        if detail is not None:
            s, size = detail.shape[1] / img.rgb.shape[1], (detail.shape[1], detail.shape[0])
            crops = [crop_face(detail, face.mapped(s, size).box) for face in faces]
        else:
            crops = [crop_face(img.rgb, face.box) for face in faces]
        x = preprocess_faces(crops, clf.input_size)
        seen = np.clip(x[:, 0] * 255.0 + 0.5, 0, 255).astype(np.uint8)  # what the classifier saw, kept for the page
        if with_cam:
            logits, cams = clf.logits_and_cam(x)
        else:
            logits, cams = clf.logits(x), None
        probs = clf.calibrate(logits)
        out = []
        h, w = img.rgb.shape[:2]
        threshold = self._threshold(clf)
        for i, face in enumerate(faces):
            p = {c: float(v) for c, v in zip(clf.classes, probs[i])}
            cam = _normalise_cam(cams[i, int(probs[i].argmax())]) if cams is not None else None
            out.append(FaceResult(_scale_box(face.box, img.scale, round(w * img.scale), round(h * img.scale)), face.score, p,
                                  is_uncertain(probs[i], threshold), cam,
                                  image_box=face.box, crop=seen[i]))
        return out


def _scale_box(box: tuple[int, int, int, int], s: float, w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0 = min(w, max(0, round(box[0] * s))), min(h, max(0, round(box[1] * s)))
    x1, y1 = min(w, round((box[0] + box[2]) * s)), min(h, round((box[1] + box[3]) * s))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def _normalise_cam(cam: np.ndarray) -> np.ndarray:
    cam = np.maximum(cam - cam.min(), 0)
    return (cam / cam.max()).astype(np.float32) if cam.max() > 0 else cam.astype(np.float32)
