"""The public API of the inference package, on real photos shipped in the repo (public domain)."""

import io

import numpy as np
import pytest
from PIL import Image

from emotion import CLASSES, EmotionRecognizer, ErrorResult, PredictionResult, Settings
from emotion.faces import crop_box, crop_face
from emotion.preprocess import preprocess_faces
from tests.conftest import EXAMPLES, MODEL

SUCCESS_KEYS = {"success", "emotion", "confidence", "is_uncertain", "probabilities", "faces", "inference_time_ms"}
FACE_KEYS = {"box", "detection_score", "emotion", "confidence", "is_uncertain", "probabilities"}


def two_faces() -> np.ndarray:
    a = Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").resize((400, 400))
    b = Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB").resize((256, 300))
    canvas = Image.new("RGB", (700, 420), (255, 255, 255))
    canvas.paste(a, (0, 10))
    canvas.paste(b, (430, 60))
    return np.asarray(canvas)


def test_classes_are_the_seven_in_output_order(recognizer):
    assert recognizer.classes == CLASSES == ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def test_classify_faces_takes_grey_or_rgb_of_any_size(recognizer):
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (48, 48), dtype=np.uint8), rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)]
    p = recognizer.classify_faces(faces)
    assert p.shape == (2, 7) and p.dtype == np.float32
    assert np.allclose(p.sum(1), 1, atol=1e-5) and (p >= 0).all()
    assert recognizer.classify_faces([]).shape == (0, 7)


def test_a_smiling_astronaut_is_found_and_happy(recognizer):
    r = recognizer.predict(EXAMPLES / "astronaut.jpg")
    assert isinstance(r, PredictionResult)
    d = r.to_dict()
    assert SUCCESS_KEYS <= d.keys() and d["success"] is True
    assert len(d["faces"]) == 1 and FACE_KEYS <= d["faces"][0].keys()
    assert d["emotion"] == "happy" and d["confidence"] > 0.5
    x, y, w, h = d["faces"][0]["box"]
    assert 150 < x < 220 and 40 < y < 110 and 80 < w < 140 and 80 < h < 140  # the face, not the suit
    assert set(d["probabilities"]) == set(CLASSES) and abs(sum(d["probabilities"].values()) - 1) < 1e-3
    assert d["is_uncertain"] == (d["confidence"] < 0.6)


def test_all_input_types_give_the_same_answer(recognizer):
    path = EXAMPLES / "grace_hopper.jpg"
    ref = recognizer.predict(path).to_dict()
    for source in (str(path), path.read_bytes(), Image.open(path), np.asarray(Image.open(path).convert("RGB"))):
        d = recognizer.predict(source).to_dict()
        assert d["faces"][0]["box"] == ref["faces"][0]["box"]
        assert d["probabilities"] == pytest.approx(ref["probabilities"], abs=1e-3)


def test_no_face_is_a_clear_error_not_an_exception(recognizer):
    r = recognizer.predict(EXAMPLES / "chelsea.jpg")
    assert isinstance(r, ErrorResult)
    assert r.to_dict() == {"success": False, "error": "no_face_detected", "message": r.message}
    assert "face" in r.message.lower()


def test_predict_matches_classify_faces_on_the_same_crop(recognizer):
    """One preprocessing path: predict() == classify_faces() on the crop that predict cut."""
    r = recognizer.predict(EXAMPLES / "astronaut.jpg")
    crop = crop_face(r.image, r.faces[0].box)
    p = recognizer.classify_faces([crop])[0]
    assert p == pytest.approx(np.array([r.faces[0].probabilities[c] for c in CLASSES]), abs=1e-5)


def test_faces_come_largest_first_and_the_policy_is_obeyed():
    img = two_faces()
    everyone = EmotionRecognizer(settings=Settings(model_path=str(MODEL))).predict(img).to_dict()
    assert len(everyone["faces"]) == 2
    areas = [f["box"][2] * f["box"][3] for f in everyone["faces"]]
    assert areas[0] > areas[1] and everyone["emotion"] == everyone["faces"][0]["emotion"]
    largest = EmotionRecognizer(settings=Settings(model_path=str(MODEL), multi_face="largest")).predict(img).to_dict()
    assert len(largest["faces"]) == 1 and largest["faces"][0]["box"] == everyone["faces"][0]["box"]
    strict = EmotionRecognizer(settings=Settings(model_path=str(MODEL), multi_face="error")).predict(img).to_dict()
    assert strict["error"] == "multiple_faces"


def test_uncertainty_threshold_is_configurable():
    sure = EmotionRecognizer(settings=Settings(model_path=str(MODEL), confidence_threshold=0.0)).predict(EXAMPLES / "astronaut.jpg")
    unsure = EmotionRecognizer(settings=Settings(model_path=str(MODEL), confidence_threshold=1.0)).predict(EXAMPLES / "astronaut.jpg")
    assert sure.to_dict()["is_uncertain"] is False and unsure.to_dict()["is_uncertain"] is True


def test_settings_come_from_the_one_config_and_the_library_ignores_the_environment(monkeypatch):
    from web.config import ServerConfig

    monkeypatch.setenv("EMOTION_CONFIDENCE_THRESHOLD", "0.7")
    monkeypatch.setenv("EMOTION_MAX_FILE_MB", "2")
    monkeypatch.setenv("EMOTION_MULTI_FACE", "largest")
    s = ServerConfig.from_env().pipeline
    assert (s.confidence_threshold, s.max_bytes, s.multi_face) == (0.7, 2 * 2**20, "largest")
    assert Settings() == Settings(confidence_threshold=None, max_file_mb=20.0, multi_face="all")  # defaults, not the env
    monkeypatch.setenv("EMOTION_MULTI_FACE", "some")
    with pytest.raises(ValueError, match="EMOTION_MULTI_FACE"):
        ServerConfig.from_env()


def test_file_size_limit_applies_to_predict(tmp_path):
    rec = EmotionRecognizer(settings=Settings(model_path=str(MODEL), max_file_mb=0.01))
    assert rec.predict(EXAMPLES / "astronaut.jpg").to_dict()["error"] == "file_too_large"


def test_fer_style_crop_is_square_and_edge_padded_at_the_border():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, :50] = 200
    x, y, s, _ = crop_box((0, 0, 40, 30), img.shape)
    assert s == round(40 * 1.136) and x < 0 and y < 0
    crop = crop_face(img, (0, 0, 40, 30))
    assert crop.shape == (s, s, 3) and crop[0, 0, 0] == 200  # replicated edge, not black


def test_preprocessing_output_is_what_the_model_expects(recognizer):
    x = preprocess_faces([np.full((48, 48), 255, np.uint8), np.zeros((200, 150, 3), np.uint8)], recognizer.classifier.input_size)
    assert x.shape == (2, 1, 96, 96) and x.dtype == np.float32
    assert x[0].min() == 1.0 and x[1].max() == 0.0


def test_cam_is_returned_on_request_and_sits_in_the_unit_range(recognizer):
    r = recognizer.predict(EXAMPLES / "astronaut.jpg", with_cam=True)
    cam = r.faces[0].cam
    assert cam is not None and cam.ndim == 2 and cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    assert "cam" in r.to_dict(include_cam=True)["faces"][0] and "cam" not in r.to_dict()["faces"][0]
    buf = io.BytesIO()
    Image.open(EXAMPLES / "astronaut.jpg").save(buf, "PNG")
    assert recognizer.predict(buf.getvalue()).faces[0].cam is None
