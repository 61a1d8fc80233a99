"""Training, resume, export and parity on tiny synthetic data (no real training in CI)."""

import json

import numpy as np
import pytest

from tests.conftest import training_stack

pytestmark = training_stack("torch", "onnx")  # skipped without PyTorch/ONNX

import onnx  # noqa: E402
from emotion.classes import CLASSES
from train.train import TrainConfig, class_balance, lr_lambda, train


@pytest.fixture(scope="module")
def tiny_run(fer_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(data=str(fer_folder), out=str(out), epochs=2, batch_size=8, img_size=64, max_steps=2,
                      threads=2, seed=3, ema_decay=0.9)
    return cfg, train(cfg)


def test_two_steps_write_checkpoints_log_and_summary(tiny_run):
    cfg, summary = tiny_run
    from pathlib import Path

    out = Path(cfg.out)
    assert {"best.pt", "last.pt", "log.csv", "summary.json", "config.json"} <= {p.name for p in out.iterdir()}
    assert summary["steps"] == 2
    row = open(out / "log.csv").read().splitlines()
    assert row[0].startswith("epoch,step,lr,train_loss") and len(row) == 2
    assert np.isfinite(json.loads((out / "summary.json").read_text())["best"]["val_loss"])


def test_resume_continues_from_the_last_epoch(tiny_run, capsys):
    cfg, _ = tiny_run
    import dataclasses

    summary = train(dataclasses.replace(cfg, resume=True, max_steps=3))
    assert "resumed" in capsys.readouterr().out
    assert summary["steps"] == 3 and summary["epochs_run"] == 2


def test_init_starts_a_second_cycle_from_an_earlier_best_checkpoint(tiny_run, tmp_path, capsys):
    import dataclasses

    import torch

    from train import checkpoint
    from train.runlog import chain_commands, chain_history, chain_summary, run_chain

    cfg, _ = tiny_run
    second = dataclasses.replace(cfg, out=str(tmp_path / "c2"), init=f"{cfg.out}/best.pt", lr=0.0, max_steps=1, epochs=1)
    train(second)
    before = checkpoint.load(f"{cfg.out}/best.pt").model
    after = checkpoint.load(f"{second.out}/best.pt").model
    weights = [k for k, v in before.items() if k.endswith("weight") and v.ndim == 4]
    assert weights and all(torch.equal(before[k], after[k]) for k in weights)  # lr 0: the loaded weights, unchanged

    assert [p.name for p in run_chain(second.out)] == [cfg.out.split("/")[-1], "c2"]
    assert len(chain_commands(second.out)) >= 2
    rows = chain_history(second.out)
    assert [r["cycle"] for r in rows][-1] == 2 and [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert chain_summary(second.out)["cycles"] == 2

    with pytest.raises(SystemExit, match="img_size"):
        train(dataclasses.replace(second, out=str(tmp_path / "c3"), img_size=48))
    # the backbone's side may change (a cheaper member's weights continue at a larger side): said, not refused
    train(dataclasses.replace(second, out=str(tmp_path / "c6"), net_size=48))
    assert "ran the backbone at 64 px; this run continues at 48 px" in capsys.readouterr().out
    assert torch.equal(checkpoint.load(f"{tmp_path}/c6/best.pt").model[weights[0]], before[weights[0]])
    with pytest.raises(SystemExit, match="resume state"):  # last.pt is not a starting point: best.pt is
        train(dataclasses.replace(second, out=str(tmp_path / "c4"), init=f"{cfg.out}/last.pt"))
    with pytest.raises(SystemExit, match="no checkpoint"):
        train(dataclasses.replace(second, out=str(tmp_path / "c5"), init=str(tmp_path / "nowhere.pt")))


def test_soup_averages_weights_and_is_kept_only_if_it_beats_its_ingredients(tiny_run, fer_folder, tmp_path):
    import torch

    from train.soup import average_state_dicts, main as soup

    a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(7)}
    avg = average_state_dicts([a, b])
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0])) and int(avg["n"]) == 7

    cfg, _ = tiny_run
    result = soup([f"{cfg.out}/best.pt", f"{cfg.out}/best.pt", "--data", str(fer_folder), "--out", str(tmp_path / "soup"),
                   "--bn-images", "32"])
    best_single = max(s["acc"] for s in result["ingredients_val"].values())
    assert result["kept"] == (result["soup_val"]["acc"] > best_single)
    assert (tmp_path / "soup" / "best.pt").exists() == result["kept"]
    if result["kept"]:
        from train import checkpoint

        ck = checkpoint.load(tmp_path / "soup" / "best.pt")
        assert ck.config["soup"] == [f"{cfg.out}/best.pt"] * 2 and ck.best["weights"] == "soup of 2"


def test_run_checkpoints_keep_their_on_disk_keys(tiny_run):
    """The files train writes hold the same dict keys as before train.checkpoint existed (old runs stay readable)."""
    import torch

    cfg, _ = tiny_run
    best = torch.load(f"{cfg.out}/best.pt", weights_only=True)
    last = torch.load(f"{cfg.out}/last.pt", weights_only=True)
    assert set(best) == {"model", "arch", "img_size", "classes", "best", "config"}
    assert set(last) == {"model", "ema", "opt", "sched", "epoch", "best", "history", "step", "stale", "train_seconds"}
    assert best["arch"] == cfg.arch and best["img_size"] == cfg.img_size and best["classes"] == list(CLASSES)


def _tiny_checkpoint():
    import torch

    from train.checkpoint import Checkpoint

    return Checkpoint(model={"w": torch.arange(6.0).view(2, 3), "n": torch.tensor(4)}, arch="efficientnet_lite0", img_size=64,
                      classes=list(CLASSES), best={"val_acc": 0.5, "epoch": 2, "weights": "ema"}, config={"seed": 3, "lr": 1e-3})


def test_checkpoint_save_load_round_trip(tmp_path):
    import torch

    from train import checkpoint

    ck = _tiny_checkpoint()
    checkpoint.save(tmp_path / "best.pt", ck)
    back = checkpoint.load(tmp_path / "best.pt")
    assert isinstance(back, checkpoint.Checkpoint)
    assert back.model.keys() == ck.model.keys() and all(torch.equal(back.model[k], ck.model[k]) for k in ck.model)
    assert (back.arch, back.img_size, back.classes, back.best, back.config) == (ck.arch, ck.img_size, ck.classes, ck.best, ck.config)

    state = checkpoint.TrainState(model=ck.model, ema=None, opt={"state": {}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999)}]},
                                  sched={"last_epoch": 7, "lr_lambdas": [None]}, epoch=1, best=ck.best,
                                  history=[{"epoch": 1, "val_acc": 0.4}, {"epoch": 2, "val_acc": 0.5}], step=8, stale=0, train_seconds=1.5)
    checkpoint.save(tmp_path / "last.pt", state)
    back = checkpoint.load_state(tmp_path / "last.pt")
    assert back.ema is None and back.opt == state.opt and back.sched == state.sched and back.history == state.history
    assert (back.epoch, back.step, back.stale, back.train_seconds) == (1, 8, 0, 1.5)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_checkpoint_reads_a_last_pt_from_before_train_seconds(tmp_path):
    import torch

    from train import checkpoint

    old = {"model": {"w": torch.ones(2)}, "ema": None, "opt": {}, "sched": {}, "epoch": 0, "best": {"val_acc": -1.0},
           "history": [], "step": 1, "stale": 0}
    torch.save(old, tmp_path / "last.pt")  # written the old way, without train_seconds
    assert checkpoint.load_state(tmp_path / "last.pt").train_seconds == 0.0


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    import torch

    from train import checkpoint

    path = tmp_path / "best.pt"
    checkpoint.save(path, _tiny_checkpoint())
    before = path.read_bytes()

    def half_written(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", half_written)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, _tiny_checkpoint())
    assert path.read_bytes() == before  # the previous checkpoint, intact
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # and no partial temporary file
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path / "new.pt", _tiny_checkpoint())
    assert not (tmp_path / "new.pt").exists()


def test_checkpoint_load_says_what_is_wrong_with_a_file(tmp_path):
    import torch

    from train import checkpoint

    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="notes.pt is not a training checkpoint"):
        checkpoint.load(tmp_path / "notes.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(checkpoint.CheckpointError, match="holds a list"):
        checkpoint.load(tmp_path / "list.pt")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "weights.pt")  # a bare state dict
    with pytest.raises(checkpoint.CheckpointError, match="lacks model, arch, img_size, classes, best, config"):
        checkpoint.load(tmp_path / "weights.pt")
    ck = _tiny_checkpoint()
    checkpoint.save(tmp_path / "best.pt", ck)
    with pytest.raises(checkpoint.CheckpointError, match="it is a best.pt"):
        checkpoint.load_state(tmp_path / "best.pt")
    partial = {k: v for k, v in vars(ck).items() if k != "config"}
    torch.save(partial, tmp_path / "partial.pt")
    with pytest.raises(checkpoint.CheckpointError, match="lacks config"):
        checkpoint.load(tmp_path / "partial.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoint.load(tmp_path / "missing.pt")
    (tmp_path / "trunc.pt").write_bytes((tmp_path / "best.pt").read_bytes()[:100])
    with pytest.raises(checkpoint.CheckpointError, match="not a training checkpoint"):
        checkpoint.load(tmp_path / "trunc.pt")
    other = _tiny_checkpoint()
    other.classes = list(reversed(CLASSES))
    checkpoint.save(tmp_path / "other.pt", other)
    with pytest.raises(checkpoint.CheckpointError, match="trained for classes"):
        checkpoint.load_model(tmp_path / "other.pt")

    from train.export import main as export
    from train.soup import main as soup

    with pytest.raises(SystemExit, match="notes.pt is not a training checkpoint"):  # before any data is read
        export(["--checkpoint", str(tmp_path / "notes.pt"), "--data", str(tmp_path / "no-data")])
    with pytest.raises(SystemExit, match="no checkpoint at"):
        soup([str(tmp_path / "missing.pt"), str(tmp_path / "best.pt"), "--data", str(tmp_path / "no-data")])
    with pytest.raises(SystemExit, match="weights do not fit efficientnet_lite0"):
        soup([str(tmp_path / "best.pt"), "--data", str(tmp_path / "no-data")])


def test_class_weights_favour_rare_classes():
    labels = np.array([0] * 100 + [1] * 4 + [2] * 25)
    w = class_balance(labels)
    assert w[1] > w[2] > w[0]
    assert abs(float(w[labels].mean()) - 1.0) < 1e-6


def test_schedule_warms_up_then_decays_to_zero():
    f = lr_lambda(100, 10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5, abs=0.02) and f(100) == pytest.approx(0.0, abs=1e-9)


@pytest.fixture(scope="module")
def tiny_model(tiny_run, fer_folder, tmp_path_factory):
    from train.export import main as export

    cfg, _ = tiny_run
    out = tmp_path_factory.mktemp("export") / "m.onnx"
    meta = export(["--checkpoint", f"{cfg.out}/best.pt", "--data", str(fer_folder), "--out", str(out), "--parity-images", "14"])
    return out, meta


def test_export_writes_one_self_contained_onnx_with_parity_and_metadata(tiny_model):
    from emotion.classifier import OnnxEmotionClassifier

    out, meta = tiny_model
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.json", "m.onnx"]  # no external .data file
    model = onnx.load(str(out))
    assert model.opset_import[0].version >= 17
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["logits", "cam"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    assert meta["parity"]["max_abs_diff"] <= 1e-4 and meta["parity"]["argmax_identical"]
    sidecar = json.loads(out.with_suffix(".json").read_text())
    for key in ("classes", "input_size", "temperature", "model_version", "architecture", "training_command", "seed",
                "data", "normalisation", "flip_tta", "exported"):
        assert key in sidecar, key
    assert sidecar["classes"] == list(CLASSES) and sidecar["temperature"] > 0
    clf = OnnxEmotionClassifier(out)
    assert clf.classes == CLASSES and clf.input_size == 64
    for n in (1, 5):
        p = clf.probabilities(np.random.default_rng(0).random((n, 1, 64, 64), dtype=np.float32))
        assert p.shape == (n, 7) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_evaluate_writes_the_report_and_the_metrics(tiny_run, tiny_model, fer_folder, tmp_path):
    from train.evaluate import main as evaluate

    cfg, _ = tiny_run
    model, _ = tiny_model
    metrics = evaluate(["--data", str(fer_folder), "--model", str(model), "--run", cfg.out,
                        "--report", str(tmp_path / "docs" / "REPORT.md"), "--figures", str(tmp_path / "docs" / "images")])
    assert metrics["test"]["images"] == 14 and 0 <= metrics["test"]["accuracy"] <= 1
    report = (tmp_path / "docs" / "REPORT.md").read_text()
    assert "PrivateTest" in report and "images/confusion_matrix.png" in report and "ECE" in report
    assert {p.name for p in (tmp_path / "docs" / "images").iterdir()} == {"confusion_matrix.png", "reliability.png", "training_curves.png"}
    meta = json.loads(model.with_suffix(".json").read_text())
    assert meta["metrics"]["test"]["confusion_matrix"] and "ece_calibrated" in meta["metrics"]["test"]
    assert meta["latency"][0]["batch"] == 1 and "cam_check" in meta


def test_distillation_and_a_smaller_backbone_resolution_train_and_export(fer_folder, tmp_path):
    """--teacher (soft targets from an ONNX model, here the shipped fast one) and --net-size (the network resizes its
    96-px input inside, so the exported file keeps the app's input contract)."""
    import torch

    from emotion.classifier import FAST_MODEL_PATH
    from train.checkpoint import load_model
    from train.train import teacher_targets

    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    soft = teacher_targets(str(FAST_MODEL_PATH), faces, batch=2, cache_dir=tmp_path / "cache")
    assert soft.shape == (5, 7) and torch.allclose(soft.sum(1), torch.ones(5), atol=1e-4)
    (cached,) = (tmp_path / "cache").glob("teacher-*.npy")  # a second student of the same teacher reads them back
    np.save(cached, np.full((5, 7), 1 / 7, np.float32))
    assert torch.allclose(teacher_targets(str(FAST_MODEL_PATH), faces, cache_dir=tmp_path / "cache"), torch.full((5, 7), 1 / 7))
    other = teacher_targets(str(FAST_MODEL_PATH), faces[::-1].copy(), cache_dir=tmp_path / "cache")  # other faces: own key
    assert torch.allclose(other, soft.flip(0), atol=1e-5) and len(list((tmp_path / "cache").glob("*.npy"))) == 2
    cfg = TrainConfig(data=str(fer_folder), out=str(tmp_path / "student"), epochs=1, batch_size=8, img_size=96, net_size=64,
                      max_steps=2, threads=2, seed=5, pretrained=False, teacher=str(FAST_MODEL_PATH), teacher_weight=0.5)
    summary = train(cfg)
    assert summary["steps"] == 2
    net, ck = load_model(tmp_path / "student" / "best.pt")
    assert net.net_size == 64 and ck.config["teacher"] == str(FAST_MODEL_PATH)
    logits, cam = net.forward_with_cam(torch.rand(2, 1, 96, 96))
    assert logits.shape == (2, 7) and cam.shape == (2, 7, 2, 2)  # the backbone ran at 64 px
    from train.export import main as export  # the student's record names its teacher (hash, version)

    meta = export(["--checkpoint", str(tmp_path / "student" / "best.pt"), "--data", str(fer_folder),
                   "--out", str(tmp_path / "student.onnx"), "--parity-images", "8"])
    assert meta["teacher"]["file"] == str(FAST_MODEL_PATH) and meta["teacher"]["weight"] == 0.5
    assert len(meta["teacher"]["sha256"]) == 64 and meta["teacher"]["model_version"].endswith("-int8")
    assert "distilled from the teacher" in meta["data"]["labels"]


def test_a_backbone_trained_from_scratch_trains_exports_and_explains(fer_folder, tmp_path):
    """``fer_vgg`` has no ImageNet weights (``pretrained`` does not apply): it trains at 48 px inside the 96-px contract,
    exports with parity and still gives class-activation maps."""
    import torch

    from train.checkpoint import load_model
    from train.export import main as export
    from train.model import pretrained_source

    cfg = TrainConfig(data=str(fer_folder), out=str(tmp_path / "vgg"), arch="fer_vgg", epochs=1, batch_size=8, img_size=96,
                      net_size=48, max_steps=2, threads=2, seed=3)  # pretrained=True is the default: it must not fail
    assert train(cfg)["steps"] == 2
    net, ck = load_model(tmp_path / "vgg" / "best.pt")
    assert ck.arch == "fer_vgg" and net.net_size == 48
    logits, cam = net.eval().forward_with_cam(torch.rand(2, 1, 96, 96))
    assert logits.shape == (2, 7) and cam.shape == (2, 7, 6, 6)  # three 2× pools: 48 → 6
    x = torch.rand(2, 1, 96, 96)
    assert torch.equal(net(x), net(x))  # eval mode: no dropout
    meta = export(["--checkpoint", str(tmp_path / "vgg" / "best.pt"), "--data", str(fer_folder),
                   "--out", str(tmp_path / "vgg.onnx"), "--parity-images", "8"])
    assert meta["parity"]["max_abs_diff"] <= 1e-4 and meta["pretrained"] == pretrained_source("fer_vgg")
    assert "scratch" in meta["pretrained"]
