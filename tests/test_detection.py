"""Detection on the photos people upload (issue 11): close-ups, small faces in large group photos, no face at all.

Every image is made here from package-shipped photos (the repo's examples, scikit-image's data); none is stored.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bench.group_photo import face_sides, make_group_photo, match
from emotion import EmotionRecognizer, ErrorResult, PredictionResult, Settings
from emotion.faces import KEYPOINT_NAMES, STRATEGIES, Face, FaceDetector, iou, nms, tile_origins
from tests.conftest import EXAMPLES, MODEL


@pytest.fixture(scope="module")
def before() -> EmotionRecognizer:
    """The detector before issue 11 (full-range model only), to show each case really was a miss."""
    return EmotionRecognizer(settings=Settings(model_path=str(MODEL)), strategy="full")


@pytest.fixture(scope="module")
def group() -> tuple:
    """Six faces of 60–200 px on a 2400×1800 JPEG: the working copy shrinks the smallest to ~30 px."""
    return make_group_photo(size=(2400, 1800), sides=face_sides(6, 60, 200), grid=(3, 2), seed=1)


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def test_a_face_that_fills_the_frame_is_found(recognizer, before):
    """A selfie-style close-up: the astronaut's face box, cropped tightly, scaled to 600 px."""
    rgb = np.asarray(Image.open(EXAMPLES / "astronaut.jpg").convert("RGB"))
    x, y, w, h = FaceDetector().detect(rgb)[0].box
    tight = np.asarray(Image.fromarray(rgb[y:y + h, x:x + w]).resize((600, 600), Image.BICUBIC))
    r = recognizer.predict(_jpeg(tight))
    assert isinstance(r, PredictionResult) and len(r.faces) == 1
    bx, by, bw, bh = r.faces[0].box
    assert bw > 400 and bh > 400  # the whole frame is the face
    assert isinstance(before.predict(_jpeg(tight)), ErrorResult)  # the full-range model alone misses it


def test_small_faces_in_a_large_group_photo_are_counted(recognizer, group):
    r = recognizer.predict(group.jpeg)
    assert isinstance(r, PredictionResult)
    found, false = match(group.faces, [f.box for f in r.faces])
    assert (found, false) == (len(group.faces), 0)


def test_boxes_stay_inside_the_photo_and_are_in_original_pixels(recognizer, group):
    r = recognizer.predict(group.jpeg)
    w, h = group.size
    assert r.to_dict()["image_size"] == [w, h] and r.scale > 1  # detected on a smaller copy, reported in the original's px
    for face in r.faces:
        x, y, bw, bh = face.box
        assert 0 <= x and 0 <= y and bw > 0 and bh > 0 and x + bw <= w and y + bh <= h
        assert max(iou(face.box, t) for t in group.faces) > 0.5


def test_the_cat_and_other_photos_without_a_face_have_none(recognizer):
    from skimage import data

    for rgb in (np.asarray(Image.open(EXAMPLES / "chelsea.jpg").convert("RGB")), data.coffee(), data.rocket(), data.brick()):
        r = recognizer.predict(np.ascontiguousarray(rgb))
        assert isinstance(r, ErrorResult) and r.error == "no_face_detected"
        assert "lit" not in r.message  # a missed face is not blamed on lighting


def test_no_face_in_a_large_photo_says_it_looked_closely(recognizer):
    from skimage import data

    big = np.asarray(Image.fromarray(data.rocket()).resize((3200, 2134), Image.BICUBIC))
    r = recognizer.predict(_jpeg(big))
    assert isinstance(r, ErrorResult) and r.error == "no_face_detected"
    assert "each part" in r.message and "crop closer" in r.message


def test_faces_carry_six_keypoints_in_image_pixels(recognizer):
    rgb = np.asarray(Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB"))
    faces = recognizer.finder.find(rgb)
    assert len(faces) == 1 and len(faces[0].keypoints) == len(KEYPOINT_NAMES) == 6
    x, y, w, h = faces[0].box
    right_eye, left_eye, nose = faces[0].keypoints[:3]
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in (right_eye, left_eye, nose))
    assert right_eye[0] < nose[0] < left_eye[0]  # the subject's right eye is on the image's left
    moved = faces[0].mapped(2.0, (4 * rgb.shape[1], 4 * rgb.shape[0]), (10, 20))
    assert moved.keypoints[2] == pytest.approx((nose[0] * 2 + 10, nose[1] * 2 + 20))
    assert moved.box[:2] == (x * 2 + 10, y * 2 + 20)


def test_nms_keeps_the_higher_score_and_drops_boxes_inside_others():
    a, b = Face((0, 0, 100, 100), 0.9), Face((10, 5, 100, 100), 0.95)
    inner, other = Face((30, 30, 30, 30), 0.8), Face((300, 300, 50, 50), 0.6)  # inner: a tile's half face
    assert nms([a, inner, other, b]) == [b, other]  # highest score kept, then largest first


def test_tiles_cover_the_photo_with_overlap():
    for length in (700, 1000, 1500, 2000):
        starts = tile_origins(length, 640, 64)
        assert starts[0] == 0 and starts[-1] + 640 == length
        assert all(b - a <= 640 - 64 for a, b in zip(starts, starts[1:]))
    assert tile_origins(500, 640, 64) == [0]


def test_the_old_detector_stays_selectable():
    assert set(STRATEGIES) >= {"full", "multi"} and not STRATEGIES["full"].short_range and not STRATEGIES["full"].tiles
    with pytest.raises(ValueError, match="strategy"):
        EmotionRecognizer(settings=Settings(model_path=str(MODEL)), strategy="nope")
