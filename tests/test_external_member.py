"""bench.external_member rebuilds face-api.js's expression net from its weight files: the loader, the resize face-api
uses and the class order, checked on a synthetic weight set of the same layout (the real one is not in the repo)."""

import json

import numpy as np
import pytest

from tests.conftest import training_stack

pytestmark = training_stack("torch")  # skipped without PyTorch/ONNX

import torch

from bench.external_member import FaceApiExpressionNet, _legacy_resize, load_weights
from emotion.classes import CLASSES


def layout() -> list[tuple[str, list[int]]]:
    """face-api's expression model: (name, shape) in its manifest's order."""
    out, c_in = [], 3
    for k, c in enumerate((32, 64, 128, 256)):
        for j in range(4):
            name = f"dense{k}/conv{j}"
            if k == 0 and j == 0:
                out.append((f"{name}/filters", [3, 3, 3, c]))
            else:
                cin = c_in if j == 0 else c
                out += [(f"{name}/depthwise_filter", [3, 3, cin, 1]), (f"{name}/pointwise_filter", [1, 1, cin, c])]
            out.append((f"{name}/bias", [c]))
        c_in = c
    return out + [("fc/weights", [256, 7]), ("fc/bias", [7])]


def write_model(folder, happy_bias: float = 0.0, truncate: int = 0):
    """A weight shard in face-api's format: filters quantized to uint8 (scale, min), biases float32."""
    rng, entries, chunks = np.random.default_rng(0), [], []
    for name, shape in layout():
        if name.endswith("bias"):
            a = np.zeros(shape, np.float32)
            if name == "fc/bias":
                a[1] = happy_bias  # face-api's order: neutral, happy, …
            entries.append({"name": name, "shape": shape, "dtype": "float32"})
            chunks.append(a.tobytes())
        else:
            q = rng.integers(0, 256, int(np.prod(shape)), dtype=np.uint8)
            entries.append({"name": name, "shape": shape, "dtype": "float32",
                            "quantization": {"dtype": "uint8", "scale": 0.002, "min": -0.25}})
            chunks.append(q.tobytes())
    (folder / "face_expression_model-weights_manifest.json").write_text(
        json.dumps([{"paths": ["face_expression_model.bin"], "weights": entries}]))
    blob = b"".join(chunks)
    (folder / "face_expression_model.bin").write_bytes(blob[: len(blob) - truncate])
    return folder


def test_weights_are_dequantized_as_tfjs_does(tmp_path):
    w = load_weights(write_model(tmp_path))
    assert w["dense0/conv0/filters"].shape == (3, 3, 3, 32) and w["fc/weights"].shape == (256, 7)
    assert w["dense1/conv0/pointwise_filter"].min() >= -0.25 and w["dense1/conv0/pointwise_filter"].max() <= -0.25 + 255 * 0.002 + 1e-6
    assert not w["dense3/conv3/bias"].any()


def test_a_shard_of_another_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not face-api"):
        load_weights(write_model(tmp_path, truncate=4))


def test_resize_is_tfjs_legacy_bilinear():
    # tfjs 1.x without half-pixel centres samples source = target · in / out: 0, 0.5, 1, 1.5 for 2 → 4 px
    x = torch.tensor([[10.0, 20.0], [30.0, 40.0]])[None, None]
    y = _legacy_resize(x, 4)[0, 0]
    assert y[0].tolist() == pytest.approx([10, 15, 20, 20]) and y[:, 0].tolist() == pytest.approx([10, 20, 30, 30])


def test_the_net_answers_in_this_projects_class_order(tmp_path):
    net = FaceApiExpressionNet(write_model(tmp_path, happy_bias=1e4))
    z = net.logits(np.random.default_rng(1).random((3, 1, 96, 96), dtype=np.float32))
    assert z.shape == (3, len(CLASSES)) and np.isfinite(z).all()
    assert (z.argmax(1) == CLASSES.index("happy")).all()
