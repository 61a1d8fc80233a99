"""Calibration by predicted class (emotion.classifier.scale, train.calibration, python -m train.recalibrate): it changes
how sure the model says it is, never what it answers, and only the metadata of the model file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emotion.classifier import FAST_MODEL_PATH, OnnxEmotionClassifier, describe_temperature, scale, softmax
from tests.conftest import TRAINING_STACK
from train.calibration import fit_class_temperatures, fit_temperature, nll


def test_a_temperature_per_class_divides_each_row_by_its_top_class_and_keeps_the_answer():
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 4.0]])
    t = np.array([2.0, 0.5, 4.0])
    assert np.allclose(scale(logits, t), logits / np.array([[2.0], [0.5], [4.0]]))
    assert np.allclose(scale(logits, 2.0), logits / 2)
    p = softmax(logits, t)
    assert (p.argmax(1) == logits.argmax(1)).all() and np.allclose(p.sum(1), 1)
    assert p[1].max() > softmax(logits, 1.0)[1].max()  # T < 1 sharpens row 1
    assert describe_temperature({"temperature": 0.9}) == "T = 0.9"
    assert describe_temperature({"temperature": 0.9, "temperature_by_class": {"happy": 0.8, "neutral": 1.25}}) == \
        "T = 0.9; per predicted class happy 0.80, neutral 1.25"


def test_per_class_temperatures_fit_each_answer_and_never_lose_to_one_temperature():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 3000)
    logits = rng.normal(size=(3000, 3)) + 2.0 * np.eye(3)[labels]
    over = logits.argmax(1) == 0
    logits[over] *= 3.0  # the model is far too sure whenever it answers class 0
    t1, tc = fit_temperature(logits, labels), fit_class_temperatures(logits, labels)
    assert tc[0] > 2 * tc[1] and tc[0] > 2 * tc[2]  # class 0's answers are softened most
    assert nll(logits, labels, tc) <= nll(logits, labels, t1) + 1e-9
    few = fit_class_temperatures(logits, labels, min_count=len(labels))  # no class has that many: all keep T
    assert np.allclose(few, t1)


@pytest.mark.training
@pytest.mark.skipif(not FAST_MODEL_PATH.is_file(), reason="no fast model")
def test_recalibrate_rewrites_only_the_metadata(tmp_path, fer_folder):
    pytest.importorskip("onnx", reason=TRAINING_STACK)
    from train import dev_crops
    from train.recalibrate import main as recalibrate

    rng = np.random.default_rng(2)
    dev = dev_crops.DevCrops(rng.integers(0, 256, (12, 96, 96), dtype=np.uint8), rng.integers(0, 7, 12),
                             np.array(["a", "b"] * 6), 12)
    dev_crops.save(dev, tmp_path / "dev.npz")
    model = tmp_path / "m.onnx"
    shutil.copy(FAST_MODEL_PATH, model)
    shutil.copy(FAST_MODEL_PATH.with_suffix(".json"), model.with_suffix(".json"))
    before = OnnxEmotionClassifier(model)
    meta = recalibrate(["--model", str(model), "--data", str(fer_folder), "--dev-crops", str(tmp_path / "dev.npz"),
                        "--by-class", "--min-count", "3", "--model-version", "9.9.9-test"])
    after = OnnxEmotionClassifier(model)
    x = dev.inputs()
    assert np.array_equal(after.logits(x), before.logits(x))  # same graph, same answers
    by_class = after.metadata["temperature_by_class"]
    assert list(by_class) == list(after.classes) and isinstance(after.temperatures, np.ndarray)
    assert np.allclose(after.calibrate(after.logits(x)), softmax(after.logits(x), np.array(list(by_class.values()))))
    assert meta["recalibrate_command"].startswith("python -m train.recalibrate") and "--by-class" in meta["recalibrate_command"]
    assert set(meta["calibration"]["ece_after"]) == {"publictest", "a", "b", "dev_all"}
    sidecar = json.loads(model.with_suffix(".json").read_text())
    assert sidecar["temperature_by_class"] == by_class and sidecar["quantize_command"]  # the rest of the card kept
    assert after.metadata["model_version"] == sidecar["model_version"] == "9.9.9-test"


def test_the_ece_a_calibrated_model_shows_shrinks_with_more_faces_and_bounds_a_calibrated_one():
    """``ece_if_calibrated``: ECE is biased upwards on few faces; the simulated floor says how far."""
    from train.calibration import ece, ece_if_calibrated

    rng = np.random.default_rng(1)

    def calibrated(n):  # confidences in [0.4, 0.95], each face right with exactly that probability
        conf = rng.uniform(0.4, 0.95, n)
        probs = np.zeros((n, 7))
        probs[:, 0] = conf
        probs[:, 1:] = ((1 - conf) / 6)[:, None]
        labels = np.where(rng.random(n) < conf, 0, 1 + rng.integers(0, 6, n))
        return probs, labels

    small, large = calibrated(200), calibrated(20000)
    m_small, p95_small = ece_if_calibrated(small[0], draws=300)
    m_large, _ = ece_if_calibrated(large[0], draws=30)
    assert 0.03 < m_small < p95_small < 0.12 and m_large < 0.012
    assert ece_if_calibrated(small[0], draws=300) == (m_small, p95_small)  # seeded: the same every run
    below = sum(ece(*calibrated(200)) <= p95_small for _ in range(100))
    assert below >= 85  # a calibrated model stays under the 95th percentile about 95 times in 100
    over = small[0].copy()
    over[:, 0] = np.minimum(1.0, small[0][:, 0] + 0.25)  # the same answers, said 0.25 too surely
    assert ece(over, small[1]) > p95_small
    assert ece_if_calibrated(np.zeros((0, 7))) == (0.0, 0.0)
