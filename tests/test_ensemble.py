"""The ensemble graph (train.ensemble): members fed by one input, logits and CAMs summed with w_i / T_i."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import training_stack

pytestmark = training_stack("onnx")  # skipped without PyTorch/ONNX

from emotion.classifier import DEFAULT_MODEL_PATH, FAST_MODEL_PATH, OnnxEmotionClassifier  # noqa: E402
from train.ensemble import Member, build_graph, choose, simplex  # noqa: E402


def _member(path) -> Member:
    clf = OnnxEmotionClassifier(path)
    return Member(path, clf, np.zeros((0, 7)), np.zeros((0, 7)))


def test_simplex_covers_the_weights_that_sum_to_one():
    grid = simplex(3, 0.25)
    assert len(grid) == 15 and all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)
    assert (1.0, 0.0, 0.0) in grid and (0.0, 0.0, 1.0) in grid


def test_the_graph_sums_the_members_calibrated_logits_and_cams(tmp_path):
    import onnx

    members = [_member(DEFAULT_MODEL_PATH), _member(FAST_MODEL_PATH)]
    model = build_graph(members, (0.7, 0.3))
    for key, value in (("classes", '["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]'), ("input_size", "96")):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path = tmp_path / "ensemble.onnx"
    onnx.save_model(model, str(path))
    x = np.random.default_rng(0).random((3, 1, 96, 96), dtype=np.float32)
    got_logits, got_cam = OnnxEmotionClassifier(path).logits_and_cam(x)
    want_logits = sum(w / m.clf.temperature * m.clf.logits(x) for w, m in zip((0.7, 0.3), members))
    want_cam = sum(w / m.clf.temperature * m.clf.logits_and_cam(x)[1] for w, m in zip((0.7, 0.3), members))
    assert np.abs(got_logits - want_logits).max() < 1e-4
    assert np.abs(got_cam - want_cam).max() < 1e-4
    assert np.abs(got_cam.mean(axis=(2, 3)) - got_logits).max() < 1e-3  # still: spatial mean of the CAM = logits
    only_first = build_graph(members, (1.0, 0.0))  # a member with no weight is left out of the graph
    assert len(only_first.graph.node) < len(model.graph.node)

    offset = np.array([0, 0, 0.25, 0, 0, 0, 0], np.float32)  # a class-prior shift (fear), as --logit-offset fear=0.25
    shifted = build_graph(members, (0.7, 0.3), offset)
    shifted.metadata_props.extend(model.metadata_props)
    onnx.save_model(shifted, str(tmp_path / "shifted.onnx"))
    s_logits, s_cam = OnnxEmotionClassifier(tmp_path / "shifted.onnx").logits_and_cam(x)
    assert np.abs(s_logits - (want_logits + offset)).max() < 1e-4
    assert np.abs(s_cam.mean(axis=(2, 3)) - s_logits).max() < 1e-3  # every CAM cell shifted: the mean is still the logits


def test_members_with_a_finer_cam_grid_are_pooled_to_the_coarsest(tmp_path):
    """m8 (fer_vgg, 48 px inside: a 6×6 CAM) with an EfficientNet member (3×3): its CAM is 2×2 average-pooled, so the
    summed CAM keeps the contract (its spatial mean is the logits) and each cell is the pooled sum."""
    import onnx

    from train.ensemble import cam_grid

    vgg = DEFAULT_MODEL_PATH.parent / "members" / "m8-vgg-48.onnx"
    members = [_member(FAST_MODEL_PATH), _member(vgg)]
    assert [cam_grid(m) for m in members] == [3, 6]
    model = build_graph(members, (0.5, 0.5))
    model.metadata_props.extend(onnx.load(str(FAST_MODEL_PATH)).metadata_props)
    onnx.save_model(model, str(tmp_path / "mixed.onnx"))
    x = np.random.default_rng(1).random((2, 1, 96, 96), dtype=np.float32)
    logits, cam = OnnxEmotionClassifier(tmp_path / "mixed.onnx").logits_and_cam(x)
    (l0, c0), (l1, c1) = (m.clf.logits_and_cam(x) for m in members)
    t0, t1 = (m.clf.temperature for m in members)
    pooled = c1.reshape(2, 7, 3, 2, 3, 2).mean(axis=(3, 5))
    assert cam.shape == (2, 7, 3, 3) and np.abs(cam - (0.5 / t0 * c0 + 0.5 / t1 * pooled)).max() < 1e-4
    assert np.abs(logits - (0.5 / t0 * l0 + 0.5 / t1 * l1)).max() < 1e-4
    assert np.abs(cam.mean(axis=(2, 3)) - logits).max() < 1e-3


def test_the_rule_keeps_the_publictest_floor_and_then_prefers_real_photos():
    from train.dev_crops import DevCrops

    y = np.array([0, 1, 2, 3])
    dev = DevCrops(np.zeros((4, 2, 2), np.uint8), np.array([0, 0, 0, 0]), np.array(["a", "a", "b", "b"]), 4)
    eye = np.eye(7)[[0, 1, 2, 3]] * 5
    good_fer = Member(None, None, eye, np.eye(7)[[1, 1, 1, 1]] * 5)  # right on PublicTest, wrong on photos
    good_dev = Member(None, None, np.eye(7)[[6, 6, 6, 6]] * 6, np.eye(7)[[0, 0, 0, 0]] * 6)  # the other way round
    weights, rows = choose([good_fer, good_dev], y, y, dev, min_publictest=1.0, step=0.5)
    assert weights == (1.0, 0.0)  # only that one keeps the floor
    weights, _ = choose([good_fer, good_dev], y, y, dev, min_publictest=0.0, step=0.5)
    assert weights == (0.0, 1.0)  # without a floor, real photos come first
    weights, _ = choose([good_fer, good_dev], y, y, dev, min_publictest=0.0, step=0.5, objective="teacher")
    assert weights == (1.0, 0.0)  # a distillation teacher: FER-2013's labels only


def test_the_offset_sweep_keeps_a_class_recall_with_the_smallest_shift(monkeypatch):
    """train.offset_sweep: the smallest grid offset whose PublicTest recall of the class reaches the bar."""
    from train import offset_sweep

    rows = [{"offset": o, "val_acc": 0.7, "recall": r, "ferplus": 0.7, "all": 0.6, "dev_recall": 0.5}
            for o, r in ((0.0, 0.28), (0.1, 0.30), (0.2, 0.34), (0.3, 0.36))]
    monkeypatch.setattr(offset_sweep, "sweep", lambda model, *a: [{**rows[0], "recall": 0.33}] if model == "old.onnx" else rows)
    monkeypatch.setattr(offset_sweep, "validation", lambda *a: None)
    lines = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    offset_sweep.main(["--model", "new.onnx", "--class", "fear", "--keep-recall-of", "old.onnx"])
    assert lines[-1] == "smallest offset keeping fear recall ≥ 0.3300: 0.2"


def _prior_case(n_dev: int = 2):
    """PublicTest: a fear face that surprise steals at +0.6 unless fear rises too, a surprise face, an angry face; the
    dev crops: surprised faces read as angry until surprise rises by 0.6."""
    from train.dev_crops import DevCrops

    val = np.zeros((3, 7))
    val[0, [2, 6]] = 1.0, 0.5
    val[1, 6] = 1.0
    val[2, 0] = 1.0
    y = np.array([2, 6, 0])
    dev = np.zeros((n_dev, 7))
    dev[:, [0, 6]] = 1.0, 0.5
    devset = DevCrops(np.zeros((n_dev, 4, 4), np.uint8), np.full(n_dev, 6), np.full(n_dev, "muxspace"), n_dev)
    return val, y, dev, devset


def test_the_prior_choice_keeps_a_class_recall_and_the_floor():
    """train.offset_sweep --choose: the rule's best shift over several classes, never below a kept class's recall or the
    PublicTest floor (the smallest total shift among equals); with no allowed shift the model keeps its answers."""
    from train.offset_sweep import choose

    val, y, dev, devset = _prior_case()
    grid = [0.0, 0.2, 0.6]
    best, rows = choose(val, y, dev, devset, y, ["surprise", "fear"], grid, {"fear": 1.0}, 0.0)
    assert len(rows) == 9 and best["offsets"] == {"surprise": 0.6, "fear": 0.2} and best["all"] == 1.0
    no_fear_vote = np.array([-1, 6, 0])  # the crowd has no majority on the fear face: only the bar keeps it
    best, _ = choose(val, y, dev, devset, no_fear_vote, ["surprise", "fear"], grid, {}, 0.0)
    assert best["offsets"] == {"surprise": 0.6, "fear": 0.0} and best["val_acc"] == pytest.approx(2 / 3)
    best, _ = choose(val, y, dev, devset, y, ["surprise", "fear"], grid, {"fear": 1.0}, 1.01)
    assert best["offsets"] == {"surprise": 0.0, "fear": 0.0} and best["all"] == 0.0


def test_the_held_out_check_scores_the_choice_on_the_other_half():
    from train.offset_sweep import held_out_gains

    val, y, dev, devset = _prior_case(n_dev=20)
    gains = held_out_gains(val, y, dev, devset, y, ["surprise", "fear"], [0.0, 0.2, 0.6], {"fear": 1.0}, 0.0, halves=3)
    assert [g for _, g in gains] == [1.0, 1.0, 1.0]
    assert all(o == {"surprise": 0.6, "fear": 0.2} for o, _ in gains)


def test_the_prior_choice_prints_the_flags_with_the_models_own_prior(monkeypatch):
    """--choose: the rebuild flags add the chosen shift to the prior already in the model; a model no shift improves
    is told so."""
    from train import offset_sweep

    val, y, dev, devset = _prior_case(n_dev=20)
    lines = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    monkeypatch.setattr(offset_sweep, "validation", lambda *a: (None, None, y, y, devset))
    monkeypatch.setattr(offset_sweep, "validation_logits", lambda *a: (val, dev, {"fear": 0.4}))
    args = ["--model", "m.onnx", "--class", "surprise", "fear", "--choose", "--offsets", "0,0.2,0.6", "--halves", "2"]
    out = offset_sweep.main(args)
    assert out["total"] == {"fear": 0.6, "surprise": 0.6}
    assert lines[-1].endswith("rebuild with --logit-offset fear=0.6 --logit-offset surprise=0.6")
    assert any(line.startswith("held out:") and "+100.00% on average" in line for line in lines)
    lines.clear()
    monkeypatch.setattr(offset_sweep, "validation_logits", lambda *a: (val, dev + np.eye(7)[6], {}))
    assert offset_sweep.main(args)["chosen"]["offsets"] == {"surprise": 0.0, "fear": 0.0}  # already right: no shift
    assert "no shift on the grid beats the model as it is under the bars" in lines


def test_several_logit_offsets_parse_once_each():
    from train.export import parse_offsets

    assert parse_offsets(["fear=0.6", "surprise=0.6"]) == {"fear": 0.6, "surprise": 0.6}
    assert parse_offsets([]) == {}
    with pytest.raises(SystemExit, match="twice"):
        parse_offsets(["fear=0.2", "fear=0.4"])
    with pytest.raises(SystemExit, match="CLASS=VALUE"):
        parse_offsets(["joy=1"])


def test_choose_scores_and_exports_plain_members_without_flip(monkeypatch):
    """--plain: a checkpoint member is scored on plain logits and its export command says --flip-tta off, so the ensemble
    ships the logits it was chosen on at half that member's cost."""
    from train import ensemble, tune
    from train.dev_crops import DevCrops

    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 40)
    dev = DevCrops(np.zeros((20, 2, 2), np.uint8), rng.integers(0, 7, 20), np.array(["a", "b"] * 10), 20)
    flips = {}

    def fake_logits(path, data, dev_path, flip=True):
        flips[path] = flip
        return None, None, None, (rng.normal(size=(40, 7)), rng.normal(size=(40, 7))), (rng.normal(size=(20, 7)), rng.normal(size=(20, 7)))

    monkeypatch.setattr(tune, "validation_logits", fake_logits)
    monkeypatch.setattr(ensemble, "validation", lambda *a: (None, None, y, y, dev))
    lines = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    ensemble.main(["--choose", "--members", "runs/a/best.pt", "runs/b/best.pt", "--plain", "runs/b/best.pt",
                   "--data", "fer", "--step", "0.5"])
    assert flips == {"runs/a/best.pt": True, "runs/b/best.pt": False}
    exports = [line for line in lines if line.startswith("python -m train.export")]
    assert "--checkpoint runs/a/best.pt" in exports[0] and "--flip-tta on" in exports[0]
    assert "--checkpoint runs/b/best.pt" in exports[1] and "--flip-tta off" in exports[1]


def test_compare_models_names_how_many_members_use_flip_tta():
    """An ensemble that mixes TTA and plain members says how many flip, from its per-member metadata (train.ensemble
    records it); an older file without it still gets a true, vaguer label."""
    from bench.compare_models import describe

    def member(flip, weight=0.5):
        return {"flip_tta": flip, "weight": weight}

    assert describe({"flip_tta": True}) == "fp32, flip-TTA"
    assert describe({"flip_tta": False}) == "fp32, no TTA"
    assert describe({"flip_tta": False, "members": [member(True), member(False), member(True, 0.0)]}) == \
        "fp32, flip-TTA in 1 of 2 members"  # a member of weight 0 is not in the graph
    assert describe({"flip_tta": False, "members": [{"weight": 1.0}]}) == "fp32, flip-TTA in some members"
    assert describe({"flip_tta": False, "quantization": {"calibration": "static"}}) == "int8 static, no TTA"
