"""``python -m train.recover``: an exported ONNX model → a ``best.pt`` that ``python -m train --init`` continues from.

For when the run folder that produced a shipped model is gone: the ONNX file written by ``train.export`` holds every
weight of the network under its PyTorch name (``net.<state-dict key>``), so the network can be rebuilt exactly.

What the exporter leaves in the graph (checked on every recovery, not assumed):

- BatchNorm is *not* folded into the convolutions: each ``BatchNormalization`` node reads
  ``net.<bn>.weight``, ``.bias``, ``.running_mean`` and ``.running_var`` with the layer's eps, and no ``Conv``
  has a bias input. The recovered BN layers therefore hold the trained affine parameters and running statistics,
  and train-mode BN behaves as it did in the original run; no statistics need re-estimating.
- ``backbone.classifier.bias`` is not stored under its name: ``forward_with_cam`` adds ``bias.view(1, 7, 1, 1)`` to
  the class-activation maps, which the exporter constant-folds into an anonymous (1, 7, 1, 1) initializer; it is
  found as the constant added to the output of the ``Einsum`` that reads ``net.backbone.classifier.weight``.
- ``num_batches_tracked`` (BN's step counter) is read by no op and is not exported; it is set to 0 (training uses a
  fixed BN momentum, so the counter has no effect).

A graph that does not look like this (a folded BN, a missing tensor, a wrong shape, an unmapped weight) is refused
with a message naming the tensors. After mapping, the network with the graph's flip-TTA (``train.export.ExportGraph``)
is compared with onnxruntime on PublicTest images: max |Δ logits| ≤ 1e-3 and identical argmax, or it fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

from emotion.classes import CLASSES
from train.checkpoint import Checkpoint, save
from train.model import IMAGENET_MEAN, ARCHITECTURES, EmotionNet, build_model

PREFIX = "net."  # ExportGraph holds the EmotionNet as .net
CLASSIFIER_BIAS = "backbone.classifier.bias"
TOLERANCE = 1e-3


class RecoverError(ValueError):
    """The ONNX graph cannot be mapped exactly onto EmotionNet; the message names the tensors."""


def read_metadata(path: Path, proto: onnx.ModelProto) -> dict:
    """The model's metadata: the sidecar JSON (if any), overridden by the metadata_props embedded in the graph."""
    meta: dict = {}
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        meta.update(json.loads(sidecar.read_text()))
    for p in proto.metadata_props:
        try:
            meta[p.key] = json.loads(p.value)
        except json.JSONDecodeError:
            meta[p.key] = p.value
    for key in ("architecture", "input_size", "classes", "flip_tta"):
        if key not in meta:
            raise RecoverError(f"{path}: no '{key}' in its metadata_props or {sidecar.name}")
    if meta["architecture"] not in ARCHITECTURES:
        raise RecoverError(f"{path}: architecture {meta['architecture']!r} is not one of {ARCHITECTURES}")
    if list(meta["classes"]) != list(CLASSES):
        raise RecoverError(f"{path} was exported for classes {meta['classes']}, this code has {list(CLASSES)}")
    return meta


def _modules(net: nn.Module, kind: type) -> dict[str, nn.Module]:
    return {name: m for name, m in net.named_modules() if isinstance(m, kind)}


def _check_graph(proto: onnx.ModelProto, net: EmotionNet) -> None:
    """Every Conv and BatchNorm of ``net`` appears in the graph under its own name, unfolded, with the same eps."""
    convs, bns = _modules(net, nn.Conv2d), _modules(net, nn.modules.batchnorm._BatchNorm)
    seen_conv, seen_bn, problems = set(), set(), []
    for node in proto.graph.node:
        if node.op_type == "Conv":
            name = node.input[1].removeprefix(PREFIX).removesuffix(".weight")
            if name not in convs:
                problems.append(f"Conv {node.name} reads {node.input[1]!r}, which is no convolution of the network")
                continue
            seen_conv.add(name)
            if len(node.input) > 2 and node.input[2] and convs[name].bias is None:
                problems.append(f"Conv {node.name} ({name}) has a bias input {node.input[2]!r}: BatchNorm was folded into it")
        elif node.op_type == "BatchNormalization":
            name = node.input[1].removeprefix(PREFIX).removesuffix(".weight")
            expected = [f"{PREFIX}{name}.{s}" for s in ("weight", "bias", "running_mean", "running_var")]
            if name not in bns or list(node.input[1:5]) != expected:
                problems.append(f"BatchNormalization {node.name} reads {list(node.input[1:5])}, expected {expected}")
                continue
            seen_bn.add(name)
            eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)  # ONNX default
            if abs(eps - bns[name].eps) > 1e-8:
                problems.append(f"BatchNormalization {name}: epsilon {eps} in the graph, {bns[name].eps} in the network")
    if missing := sorted(set(bns) - seen_bn):
        problems.append(f"{len(missing)} BatchNorm layers have no BatchNormalization node (folded?): {', '.join(missing[:5])}"
                        + (" …" if len(missing) > 5 else ""))
    if missing := sorted(set(convs) - seen_conv):
        problems.append(f"{len(missing)} convolutions have no Conv node: {', '.join(missing[:5])}")
    if problems:
        raise RecoverError("the graph does not match the network:\n  " + "\n  ".join(problems))


def _classifier_bias_source(proto: onnx.ModelProto, inits: dict[str, np.ndarray]) -> str:
    """The initializer added to Einsum(features, classifier.weight): the CAM head's bias.view(1, 7, 1, 1)."""
    weight = f"{PREFIX}backbone.classifier.weight"
    einsum_out = {o for n in proto.graph.node if n.op_type == "Einsum" and weight in n.input for o in n.output}
    found = {i for n in proto.graph.node if n.op_type == "Add" and einsum_out & set(n.input)
             for i in n.input if i in inits and inits[i].size == len(CLASSES)}
    if len(found) != 1:
        raise RecoverError(f"cannot find the classifier bias: the Einsum reading {weight} is followed by Adds of {sorted(found) or 'no'} "
                           f"{len(CLASSES)}-element constants (expected exactly one)")
    return found.pop()


def onnx_mapping(proto: onnx.ModelProto, net: EmotionNet) -> dict[str, str | None]:
    """state-dict key → initializer name (None: not exported, set to 0). Raises RecoverError if the graph differs."""
    _check_graph(proto, net)
    inits = {i.name for i in proto.graph.initializer}
    mapping: dict[str, str | None] = {}
    for key in net.state_dict():
        if key.endswith("num_batches_tracked"):
            mapping[key] = None
        elif key == CLASSIFIER_BIAS:
            mapping[key] = _classifier_bias_source(proto, {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer
                                                          if i.name not in {PREFIX + k for k in net.state_dict()}})
        else:
            mapping[key] = PREFIX + key
    if missing := [f"{k} (as {v})" for k, v in mapping.items() if v is not None and v not in inits]:
        raise RecoverError(f"{len(missing)} weights of the network are not in the graph: " + ", ".join(missing[:8]))
    used = set(mapping.values()) | {PREFIX + "mean", PREFIX + "std"}  # the input normalisation constants, checked apart
    if extra := sorted(n for n in inits if n.startswith(PREFIX) and n not in used):
        raise RecoverError(f"{len(extra)} named tensors in the graph have no place in the network: " + ", ".join(extra[:8]))
    return mapping


def recover_state_dict(proto: onnx.ModelProto, net: EmotionNet) -> tuple[dict[str, torch.Tensor], dict[str, str | None]]:
    """The network's full state dict read from the graph's initializers (shapes checked), and the mapping used."""
    mapping = onnx_mapping(proto, net)
    inits = {i.name: i for i in proto.graph.initializer}
    target = net.state_dict()
    state, wrong = {}, []
    for key, source in mapping.items():
        if source is None:
            state[key] = torch.zeros_like(target[key])
            continue
        value = torch.from_numpy(numpy_helper.to_array(inits[source]).copy())
        if key == CLASSIFIER_BIAS:
            value = value.reshape(-1)
        if tuple(value.shape) != tuple(target[key].shape) or value.dtype != target[key].dtype:
            wrong.append(f"{key}: network {tuple(target[key].shape)} {target[key].dtype}, graph {source} {tuple(value.shape)} {value.dtype}")
        state[key] = value
    if wrong:
        raise RecoverError(f"{len(wrong)} tensors differ in shape or type:\n  " + "\n  ".join(wrong))
    if PREFIX + "mean" in inits:  # the normalisation inside the graph must be the one EmotionNet applies
        mean = numpy_helper.to_array(inits[PREFIX + "mean"]).ravel()
        if not np.allclose(mean, IMAGENET_MEAN):
            raise RecoverError(f"the graph normalises with mean {mean.tolist()}, the network with {list(IMAGENET_MEAN)}")
    return state, mapping


def recover(onnx_path: str | Path) -> tuple[EmotionNet, dict, dict[str, str | None]]:
    """The EmotionNet in an exported ONNX file (eval mode), its metadata and the key → initializer mapping."""
    path = Path(onnx_path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX model at {path}")
    proto = onnx.load(str(path))
    meta = read_metadata(path, proto)
    net = build_model(meta["architecture"], pretrained=False)
    state, mapping = recover_state_dict(proto, net)
    net.load_state_dict(state, strict=True)
    return net.eval(), meta, mapping


def parity(net: EmotionNet, onnx_path: str | Path, flip_tta: bool, x: np.ndarray) -> dict:
    """The recovered network (with the graph's flip-TTA) against onnxruntime on ``x``: max |Δ| of logits and CAM, argmax."""
    from emotion.classifier import OnnxEmotionClassifier
    from train.export import ExportGraph

    graph = ExportGraph(net, flip_tta).eval()
    clf = OnnxEmotionClassifier(onnx_path)
    d_logits = d_cam = 0.0
    same = True
    with torch.no_grad():
        for i in range(0, len(x), 64):
            xb = x[i:i + 64]
            t_logits, t_cam = (t.numpy() for t in graph(torch.from_numpy(xb)))
            o_logits, o_cam = clf.logits_and_cam(xb)
            d_logits = max(d_logits, float(np.abs(t_logits - o_logits).max()))
            d_cam = max(d_cam, float(np.abs(t_cam - o_cam).max()))
            same &= bool((t_logits.argmax(1) == o_logits.argmax(1)).all())
    return {"images": len(x), "max_abs_diff_logits": d_logits, "max_abs_diff_cam": d_cam, "argmax_identical": same}


def _train_config(meta: dict, data: str, out: Path) -> dict:
    """The TrainConfig of the model's last training command (from the metadata), pointed at this folder; else defaults."""
    from train.train import TrainConfig, parse_args

    commands = meta.get("training_commands") or ([meta["training_command"]] if meta.get("training_command") else [])
    cfg = None
    if commands:
        argv = shlex.split(commands[-1])
        if argv[:3] == ["python", "-m", "train"]:
            try:
                cfg = parse_args(argv[3:])
            except SystemExit:
                cfg = None
    if cfg is None:
        cfg = TrainConfig(data=data, arch=meta["architecture"], img_size=int(meta["input_size"]), seed=int(meta.get("seed", 42)))
    cfg = dataclasses.replace(cfg, data=data, out=str(out), init="", resume=False, arch=meta["architecture"],
                              img_size=int(meta["input_size"]))
    return dataclasses.asdict(cfg)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.recover", description=__doc__.splitlines()[0])
    p.add_argument("--onnx", default="models/emotion_classifier.onnx")
    p.add_argument("--data", required=True, help="FER-2013 (PublicTest: parity and the checkpoint's val scores)")
    p.add_argument("--out", default="runs/recovered/best.pt")
    p.add_argument("--parity-images", type=int, default=512)
    p.add_argument("--show-mapping", action="store_true", help="print every state-dict key and the initializer it came from")
    a = p.parse_args(argv)
    args = argv if argv is not None else sys.argv[1:]

    from emotion.preprocess import preprocess_faces
    from train.data import load_fer2013
    from train.runlog import record_command
    from train.train import predict_logits, score

    try:
        net, meta, mapping = recover(a.onnx)
    except (FileNotFoundError, RecoverError) as e:
        raise SystemExit(f"recover: {e}") from None
    size, flip = int(meta["input_size"]), bool(meta["flip_tta"])
    n_bn = len(_modules(net, nn.modules.batchnorm._BatchNorm))
    if a.show_mapping:
        state = net.state_dict()
        for key, source in mapping.items():
            print(f"{key:55s} {str(tuple(state[key].shape)):20s} ← {source or '(not exported: 0)'}")
    print(f"{a.onnx}: {meta['architecture']} {size}px, model {meta.get('model_version', '?')}, flip_tta={flip}; "
          f"{sum(v is not None for v in mapping.values())} tensors mapped, {n_bn} BatchNorm layers unfolded "
          f"(trained running statistics kept), classifier bias from {mapping[CLASSIFIER_BIAS]!r}")

    val = load_fer2013(a.data)["val"]
    x_val = preprocess_faces(val.images, size)
    n = min(a.parity_images, len(x_val))
    par = parity(net, a.onnx, flip, x_val[:n])
    print(f"parity on {n} PublicTest images: max |Δ logits| {par['max_abs_diff_logits']:.2e}, "
          f"max |Δ cam| {par['max_abs_diff_cam']:.2e}, argmax identical: {par['argmax_identical']}")
    if not (par["max_abs_diff_logits"] <= TOLERANCE and par["max_abs_diff_cam"] <= TOLERANCE and par["argmax_identical"]):
        raise SystemExit(f"recover: parity check failed (tolerance {TOLERANCE}): the recovered network is not the ONNX model; "
                         "nothing written")

    s = score(predict_logits(net, torch.from_numpy(x_val), torch.device("cpu")), torch.from_numpy(val.labels))
    recorded = (meta.get("validation") or {}).get("accuracy_plain")
    print(f"PublicTest (no TTA, as training scores checkpoints): acc {s['acc']:.4f}, macro-F1 {s['macro_f1']:.3f}"
          + (f" (the export recorded {recorded:.4f})" if recorded is not None else ""))

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = _train_config(meta, a.data, out.parent)
    config["recovered_from"] = {"onnx": str(a.onnx), "model_version": meta.get("model_version"), "exported": meta.get("exported"),
                                "parity": par}
    best = {"val_acc": s["acc"], "val_macro_f1": s["macro_f1"], "val_loss": s["loss"], "epoch": meta.get("best_epoch", 0),
            "weights": meta.get("weights", "model")}
    save(out, Checkpoint(model=net.state_dict(), arch=meta["architecture"], img_size=size, classes=list(CLASSES),
                         best=best, config=config))
    (out.parent / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    # The lineage: the commands that trained the model (from its metadata), then this recovery; a later
    # `python -m train --init <out>` appends to it, so train.export records the whole history.
    stamp = str(meta.get("exported", "unknown")).split("+")[0]
    lineage = [c for c in (meta.get("training_commands") or []) if c]
    (out.parent / "commands.log").write_text("".join(f"{stamp} {c}\n" for c in lineage))
    record_command(out.parent, "train.recover", args)
    print(f"wrote {out} (python -m train --init {out} … continues from it)")
    return {"parity": par, "val": s, "out": str(out), "mapping": mapping}


if __name__ == "__main__":
    main()
