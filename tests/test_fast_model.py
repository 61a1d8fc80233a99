"""Issue 15, library side: the fast model (``python -m train.quantize``) beside the accurate one, one face detector
for both, every result naming the model that answered; and ``train.quantize`` itself on a tiny synthetic model."""

import json

import numpy as np
import pytest

from tests.conftest import training_stack

pytestmark = training_stack("onnx")  # skipped without PyTorch/ONNX

import onnx  # noqa: E402
from emotion import CLASSES, EmotionRecognizer, ErrorResult, PredictionResult, Settings
from emotion.classifier import FAST_MODEL_PATH, MODEL_NAMES, OnnxEmotionClassifier
from tests.conftest import EXAMPLES, MODEL

needs_fast = pytest.mark.skipif(not FAST_MODEL_PATH.is_file(), reason="no fast model: run python -m train.quantize")


@pytest.fixture(scope="module")
def both():
    return EmotionRecognizer(settings=Settings(model_path=str(MODEL), fast_model_path=str(FAST_MODEL_PATH)),
                             models=("accurate", "fast"))


@needs_fast
def test_the_fast_model_describes_itself_like_the_accurate_one():
    fast, accurate = OnnxEmotionClassifier(FAST_MODEL_PATH), OnnxEmotionClassifier(MODEL)
    assert fast.classes == accurate.classes == CLASSES and fast.input_size == accurate.input_size
    assert [o.name for o in fast.session.get_outputs()] == ["logits", "cam"]
    meta = fast.metadata
    for key in ("model_version", "architecture", "input_layout", "normalisation", "training_command", "data", "quantize_command"):
        assert key in meta, key
    assert meta["flip_tta"] is False and 0.3 < fast.temperature < 3
    # made from the accurate model, one of its members, or a student distilled from an ensemble (which names its teacher)
    members = accurate.metadata.get("members") or []
    versions = {accurate.metadata["model_version"]} | {
        OnnxEmotionClassifier(MODEL.parent.parent / m["file"]).metadata["model_version"] for m in members}
    teacher = meta.get("teacher") or {}
    assert meta["base_model"]["model_version"] in versions or (teacher.get("weight", 0) > 0 and len(teacher["sha256"]) == 64)
    sidecar = json.loads(FAST_MODEL_PATH.with_suffix(".json").read_text())
    assert sidecar["quantize_command"].startswith("python -m train.quantize") and sidecar["candidates"]["chosen"]
    assert sidecar["validation"]["accuracy"] > 0.6
    assert FAST_MODEL_PATH.stat().st_size < MODEL.stat().st_size / 2  # int8 weights


@needs_fast
def test_one_detector_two_classifiers_and_every_result_names_its_model(both):
    assert both.model_names == MODEL_NAMES == ("accurate", "fast") and both.default_model == "accurate"
    assert both.classifier is both.classifiers["accurate"] and both.classifier_for("fast") is both.classifiers["fast"]
    for photo, emotion in (("astronaut.jpg", "happy"), ("grace_hopper.jpg", "neutral")):
        a, f, default = (both.predict(EXAMPLES / photo, model=m) for m in ("accurate", "fast", None))
        assert isinstance(f, PredictionResult) and f.model == "fast" and f.to_dict()["model"] == "fast"
        assert a.to_dict()["model"] == default.to_dict()["model"] == "accurate"
        assert a.faces[0].box == f.faces[0].box  # the same detector found the same face
        assert a.faces[0].emotion == f.faces[0].emotion == emotion, photo
        pa, pf = (np.array([r.faces[0].probabilities[c] for c in CLASSES]) for r in (a, f))
        assert np.abs(pa - pf).max() < 0.15, (photo, pa, pf)
    assert both.predict(EXAMPLES / "chelsea.jpg", model="fast").to_dict()["error"] == "no_face_detected"


@needs_fast
def test_fast_model_gives_cam_and_classify_faces(both):
    r = both.predict(EXAMPLES / "astronaut.jpg", with_cam=True, model="fast")
    cam = r.faces[0].cam
    assert cam is not None and cam.min() >= 0 and cam.max() <= 1 and "cam" in r.to_dict(include_cam=True)["faces"][0]
    crops = [np.random.default_rng(0).integers(0, 256, (60, 60), dtype=np.uint8)]
    p = both.classify_faces(crops, model="fast")
    assert p.shape == (1, 7) and np.isclose(p.sum(), 1, atol=1e-5)


@needs_fast
def test_unknown_model_is_a_caller_error(both):
    with pytest.raises(ValueError, match="unknown model"):
        both.predict(EXAMPLES / "astronaut.jpg", model="tiny")
    with pytest.raises(ValueError, match="unknown model"):
        EmotionRecognizer(settings=Settings(model_path=str(MODEL)), models=("accurate", "huge"))
    single = EmotionRecognizer(settings=Settings(model_path=str(MODEL)))
    assert single.model_names == ("accurate",)
    with pytest.raises(ValueError):
        single.predict(EXAMPLES / "astronaut.jpg", model="fast")
    assert ErrorResult.of("invalid_image").to_dict().keys() == {"success", "error", "message"}  # errors unchanged


def test_the_fast_model_path_comes_from_the_environment(monkeypatch):
    from web.config import ServerConfig

    monkeypatch.setenv("EMOTION_FAST_MODEL_PATH", "/x/fast.onnx")
    assert ServerConfig.from_env().pipeline.model_paths["fast"] == "/x/fast.onnx"


# ---------------------------------------------------------------------------------------------- train.quantize itself


@pytest.fixture(scope="module")
def tiny_tta_model(fer_folder, tmp_path_factory):
    """A tiny model exported with flip-TTA in its graph, as train.export writes the shipped one."""
    from train.export import main as export
    from train.train import TrainConfig, train

    out = tmp_path_factory.mktemp("qrun")
    cfg = TrainConfig(data=str(fer_folder), out=str(out), epochs=1, batch_size=8, img_size=64, max_steps=2, threads=2, seed=5)
    train(cfg)
    path = tmp_path_factory.mktemp("qexport") / "m.onnx"
    export(["--checkpoint", f"{out}/best.pt", "--data", str(fer_folder), "--out", str(path), "--flip-tta", "on",
            "--parity-images", "8"])
    return path


def test_strip_flip_tta_keeps_exactly_the_plain_branch(tiny_tta_model):
    from train.quantize import session, strip_flip_tta

    model = onnx.load(str(tiny_tta_model))
    plain = strip_flip_tta(model)
    convs = lambda m: sum(n.op_type == "Conv" for n in m.graph.node)  # noqa: E731
    assert convs(plain) * 2 == convs(model) and not any(n.op_type == "Slice" for n in plain.graph.node)
    x = np.random.default_rng(1).random((3, 1, 64, 64), dtype=np.float32)
    tta = session(tiny_tta_model)
    path = tiny_tta_model.with_name("plain.onnx")
    onnx.save_model(plain, str(path))
    lp, cp = session(path).run(["logits", "cam"], {"image": x})
    lf, cf = session(path).run(["logits", "cam"], {"image": x[:, :, :, ::-1].copy()})
    lt, ct = tta.run(["logits", "cam"], {"image": x})
    # TTA = mean of the plain view and the mirrored view (its CAM mirrored back): the plain graph reproduces both halves
    assert np.allclose(lt, (lp + lf) / 2, atol=1e-5) and np.allclose(ct, (cp + cf[:, :, :, ::-1]) / 2, atol=1e-5)


def test_quantize_writes_a_self_describing_int8_model_and_its_record(tiny_tta_model, fer_folder, tmp_path):
    from train.quantize import main as quantize

    out = tmp_path / "fast.onnx"
    record = quantize(["--data", str(fer_folder), "--model", str(tiny_tta_model), "--out", str(out), "--calib-images", "16",
                       "--candidates", "fp32-notta,int8-minmax", "--min-speedup", "0", "--timing-runs", "3"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.json", "fast.onnx"]
    assert record["candidates"]["chosen"] in ("fp32-notta", "int8-minmax") and len(record["candidates"]["rows"]) == 2
    base = OnnxEmotionClassifier(tiny_tta_model)
    clf = OnnxEmotionClassifier(out)
    assert clf.classes == base.classes and clf.input_size == base.input_size == 64
    assert clf.metadata["flip_tta"] is False and clf.metadata["quantize_command"].startswith("python -m train.quantize")
    assert clf.metadata["name"] == "emotion_classifier_fast" and clf.metadata["quantize_seed"] == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["data"]["quantization"]["test"] == "PrivateTest: not read" and sidecar["temperature"] > 0
    p = clf.probabilities(np.random.default_rng(0).random((2, 1, 64, 64), dtype=np.float32))
    assert p.shape == (2, 7) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_an_int8_candidate_has_quantized_convolutions(tiny_tta_model, fer_folder, tmp_path):
    from emotion.preprocess import preprocess_faces
    from train.quantize import CANDIDATES, build
    from train.data import load_fer2013

    calib = preprocess_faces(load_fer2013(str(fer_folder))["train"].images[:16], 64)
    path = build(onnx.load(str(tiny_tta_model)), CANDIDATES["int8-minmax-ends-fp32"], calib, tmp_path / "q.onnx", tmp_path)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("DequantizeLinear") > 10 and "QuantizeLinear" in ops


def test_model_upgrade_judges_the_fast_model_against_the_fast_targets():
    """``bench.model_upgrade --fast``: the fast targets (dev ≥ 61.3 %, ECE ≤ 0.06, PrivateTest ≥ 70 %, today's cost), not
    the accurate model's."""
    from bench.model_upgrade import table

    def row(acc, ece, pt, ms):
        recall = dict.fromkeys(CLASSES, 0.5)
        floor = [0.03, 0.05]
        return {"real_accuracy": acc, "real_ece": ece, "real_mean_confidence": 0.6, "privatetest_accuracy": pt,
                "real_ece_if_calibrated": floor,
                "real_by_dataset": {d: {"accuracy": acc, "ece": ece, "ece_if_calibrated": floor} for d in ("frl_london", "muxspace")},
                "ms_per_face_batch1": ms, "ms_per_face_batch8": ms, "photo_1mp_ms": 10.0, "size_mb": 3.8,
                "privatetest_recall": recall, "real_recall": recall}

    lines = table({"before": row(0.599, 0.046, 0.698, 1.0), "after": row(0.62, 0.05, 0.701, 1.05)}, fast=True)
    text = "\n".join(lines)
    assert "| real photos, all faces found: accuracy | 59.9% | **62.0%** | ≥ 61.3% | yes |" in text
    assert "| FER-2013 PrivateTest accuracy | 69.8% | **70.1%** | ≥ 70.0% | yes |" in text
    assert "≤ 1.1× (batch 1) | yes (1.05×" in text and "FER+" not in text and "frl_london accuracy" not in text
    assert "| frl_london: ECE of a perfectly calibrated model with these confidences, median / 95 % | 0.030 / 0.050 |" in text
    slow = "\n".join(table({"before": row(0.6, 0.05, 0.7, 1.0), "after": row(0.6, 0.07, 0.69, 1.3)}, fast=True))
    assert "≤ 1.1× (batch 1) | no (1.30×" in slow and "| dev-set ECE (all faces) | 0.050 | **0.070** | ≤ 0.060 | no |" in slow
