"""Occlusion explanations: finer than the model's 3×3 map, on the face, and different where the evidence differs."""

import numpy as np
import pytest

from emotion.classifier import FAST_MODEL_PATH, OnnxEmotionClassifier
from emotion.explain import inner_share, occlusion
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def faces(recognizer):
    return {n: recognizer.predict(EXAMPLES / f"{n}.jpg").faces[0] for n in ("astronaut", "grace_hopper")}


@pytest.fixture(scope="module")
def fast():
    return OnnxEmotionClassifier(FAST_MODEL_PATH)


def _mouth(heat):
    return heat[int(0.66 * 96):, int(0.2 * 96):int(0.8 * 96)].sum() / heat.sum()


def test_the_crop_the_classifier_saw_is_kept_and_explained(faces, fast):
    smile = occlusion(fast, faces["astronaut"].crop)
    assert faces["astronaut"].crop.shape == (96, 96) and faces["astronaut"].crop.dtype == np.uint8
    assert smile.heat.shape == (96, 96) and 0 <= smile.heat.min() and smile.heat.max() == pytest.approx(1.0)
    assert smile.emotion == "happy" and smile.views == 64  # 8 × 8 patches of 16 px, 12 px apart (the last at the edge)
    assert len(np.unique(np.round(smile.heat, 3))) > 9  # finer than a 3×3 map
    assert smile.inner_share() > 0.6  # the inner face is 49 % of the crop


def test_a_smile_is_explained_by_the_mouth_and_a_neutral_face_differently(faces, fast):
    smile, calm = occlusion(fast, faces["astronaut"].crop), occlusion(fast, faces["grace_hopper"].crop)
    assert calm.emotion == "neutral"
    assert _mouth(smile.heat) > 0.35 and _mouth(smile.heat) > _mouth(calm.heat)
    assert np.corrcoef(smile.heat.ravel(), calm.heat.ravel())[0, 1] < 0.8
    sad = occlusion(fast, faces["astronaut"].crop, emotion="sad")  # any class can be asked for
    assert sad.emotion == "sad" and sad.probability < smile.probability


def test_explaining_needs_the_classifier_input(fast):
    with pytest.raises(ValueError, match="96"):
        occlusion(fast, np.zeros((48, 48), np.uint8))
    assert np.isnan(inner_share(np.zeros((96, 96))))
