"""train.recover: an ONNX file written by train.export → the exact network, as a best.pt that --init continues from.
A tiny model is exported through train.export's own code path on the synthetic FER folder (no real data)."""

import copy
import dataclasses
import json

import numpy as np
import pytest

from tests.conftest import training_stack

pytestmark = training_stack("torch", "onnx")  # skipped without PyTorch/ONNX

import torch
from onnx import numpy_helper

from emotion.classes import CLASSES

SIZE = 64


@pytest.fixture(scope="module")
def exported(fer_folder, tmp_path_factory):
    """A randomly initialised EmotionNet with non-trivial BatchNorm statistics and head bias, exported with flip-TTA."""
    from train.checkpoint import Checkpoint, save
    from train.export import main as export
    from train.model import build_model
    from train.train import TrainConfig

    torch.manual_seed(0)
    net = build_model("efficientnet_lite0", pretrained=False)
    with torch.no_grad():  # every BN tensor distinct from its default, so a mix-up of weight/bias/mean/var shows
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.8, 1.2), m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1), m.running_var.uniform_(0.5, 2.0)
        net.backbone.get_classifier().weight.normal_(0, 0.1)
        net.backbone.get_classifier().bias.normal_(0, 0.5)
    root = tmp_path_factory.mktemp("recover")
    run = root / "run"
    run.mkdir()
    cfg = dataclasses.asdict(TrainConfig(data=str(fer_folder), out=str(run), img_size=SIZE))
    save(run / "best.pt", Checkpoint(model=net.state_dict(), arch="efficientnet_lite0", img_size=SIZE, classes=list(CLASSES),
                                     best={"val_acc": 0.0, "epoch": 1, "weights": "model"}, config=cfg))
    onnx_path = root / "model.onnx"
    export(["--checkpoint", str(run / "best.pt"), "--data", str(fer_folder), "--out", str(onnx_path), "--flip-tta", "on"])
    return onnx_path, net.eval()


def test_recover_gives_back_every_weight_exactly(exported):
    from train.recover import CLASSIFIER_BIAS, parity, recover

    onnx_path, original = exported
    net, meta, mapping = recover(onnx_path)
    assert meta["flip_tta"] is True and int(meta["input_size"]) == SIZE
    assert mapping[CLASSIFIER_BIAS] not in (None, "net." + CLASSIFIER_BIAS)  # the constant-folded bias.view(1, 7, 1, 1)
    want, got = original.state_dict(), net.state_dict()
    assert set(want) == set(got)
    differ = [k for k in want if not k.endswith("num_batches_tracked") and not torch.equal(want[k], got[k])]
    assert differ == []

    x = np.random.default_rng(0).random((24, 1, SIZE, SIZE), dtype=np.float32)
    p = parity(net, onnx_path, True, x)
    assert p["argmax_identical"] and p["max_abs_diff_logits"] < 1e-4 and p["max_abs_diff_cam"] < 1e-4


def test_main_writes_a_best_pt_that_init_continues_from(exported, fer_folder, tmp_path, capsys):
    from train.checkpoint import load_model
    from train.recover import main as recover
    from train.runlog import chain_commands
    from train.train import TrainConfig, train

    onnx_path, original = exported
    out = tmp_path / "recovered" / "best.pt"
    result = recover(["--onnx", str(onnx_path), "--data", str(fer_folder), "--out", str(out)])
    assert "parity on 14 PublicTest images" in capsys.readouterr().out
    assert result["parity"]["argmax_identical"] and result["parity"]["max_abs_diff_logits"] < 1e-4

    net, ck = load_model(out)
    assert (ck.arch, ck.img_size, list(ck.classes)) == ("efficientnet_lite0", SIZE, list(CLASSES))
    assert ck.config["recovered_from"]["onnx"] == str(onnx_path) and ck.config["init"] == ""
    x = torch.rand(4, 1, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(net(x), original(x), atol=1e-6)
    assert json.loads((out.parent / "config.json").read_text())["img_size"] == SIZE

    # one training step from it (lr 0: the recovered convolution weights come through unchanged)
    cfg = TrainConfig(data=str(fer_folder), out=str(tmp_path / "next"), img_size=SIZE, epochs=1, batch_size=8, max_steps=1,
                      threads=2, lr=0.0, init=str(out))
    assert train(cfg)["steps"] == 1
    from train import checkpoint

    after = checkpoint.load(tmp_path / "next" / "best.pt").model
    convs = [k for k, v in ck.model.items() if v.ndim == 4]
    assert convs and all(torch.equal(ck.model[k], after[k]) for k in convs)
    commands = chain_commands(tmp_path / "next")
    assert commands[-2].startswith("python -m train.recover --onnx") and len(commands) >= 2


def _fresh_net():
    from train.model import build_model

    return build_model("efficientnet_lite0", pretrained=False)


def test_recover_refuses_a_graph_that_does_not_fit_and_names_the_tensors(exported):
    import onnx

    from train.recover import RecoverError, recover_state_dict

    proto = onnx.load(str(exported[0]))

    missing = copy.deepcopy(proto)
    [gone] = [i for i in missing.graph.initializer if i.name == "net.backbone.blocks.2.1.bn3.running_var"]
    missing.graph.initializer.remove(gone)
    with pytest.raises(RecoverError, match=r"not in the graph: backbone\.blocks\.2\.1\.bn3\.running_var"):
        recover_state_dict(missing, _fresh_net())

    reshaped = copy.deepcopy(proto)
    [w] = [i for i in reshaped.graph.initializer if i.name == "net.backbone.conv_head.weight"]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w)[:, :-1], w.name))
    with pytest.raises(RecoverError, match=r"backbone\.conv_head\.weight: network \(1280, 320, 1, 1\).*\(1280, 319, 1, 1\)"):
        recover_state_dict(reshaped, _fresh_net())

    folded = copy.deepcopy(proto)  # what a BN-folding exporter would leave: a Conv with a bias input
    conv = next(n for n in folded.graph.node if n.op_type == "Conv")
    conv.input.append("net.backbone.bn1.bias")
    with pytest.raises(RecoverError, match=r"conv_stem\) has a bias input .*BatchNorm was folded"):
        recover_state_dict(folded, _fresh_net())

    extra = copy.deepcopy(proto)
    extra.graph.initializer.append(numpy_helper.from_array(np.zeros(32, np.float32), "net.backbone.conv_stem.bias"))
    with pytest.raises(RecoverError, match=r"no place in the network: net\.backbone\.conv_stem\.bias"):
        recover_state_dict(extra, _fresh_net())
