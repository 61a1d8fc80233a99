"""The lukemelas → timm mapping of the packaged ImageNet weights is exact: proved by a real ImageNet prediction."""

import numpy as np
import pytest

from tests.conftest import training_stack

pytestmark = training_stack("torch")  # skipped without PyTorch/ONNX

import torch  # noqa: E402
from PIL import Image

from train.model import build_model, load_imagenet_lite0, lite0_weights_path, map_lukemelas_to_timm

# ImageNet classes 281 tabby, 282 tiger cat, 285 Egyptian cat; 967 espresso.
CATS = {281, 282, 285}


def _imagenet_input(rgb: np.ndarray) -> torch.Tensor:
    img = Image.fromarray(rgb).resize((224, 224), Image.BICUBIC)
    x = torch.tensor(np.asarray(img) / 255.0, dtype=torch.float32).permute(2, 0, 1)[None]
    return (x - 0.5) / 0.5


def test_every_packaged_key_maps_onto_tf_efficientnet_lite0():
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    mapped = map_lukemelas_to_timm(state)
    assert len(mapped) == len(state) == 296
    model = load_imagenet_lite0("tf_efficientnet_lite0")  # strict=True inside: no missing or unexpected key
    assert torch.equal(model.state_dict()["blocks.2.0.conv_pw.weight"], state["_blocks.3._expand_conv.weight"])


@torch.no_grad()
def test_chelsea_is_a_cat_and_coffee_is_espresso():
    import skimage.data

    model = load_imagenet_lite0("tf_efficientnet_lite0")
    cat = model(_imagenet_input(skimage.data.chelsea())).softmax(1)[0]
    assert int(cat.argmax()) in CATS and float(cat[list(CATS)].sum()) > 0.8
    coffee = model(_imagenet_input(skimage.data.coffee())).softmax(1)[0]
    assert int(coffee.argmax()) == 967


@torch.no_grad()
def test_emotion_net_starts_near_uniform_with_grey_input():
    torch.manual_seed(0)
    net = build_model().eval()
    logits = net(torch.rand(4, 1, 96, 96))
    assert logits.shape == (4, 7)
    loss = torch.nn.functional.cross_entropy(logits, torch.arange(4))
    assert abs(float(loss) - np.log(7)) < 0.1  # small head init: first loss ≈ ln 7, not 5.7
    lg, cam = net.forward_with_cam(torch.rand(2, 1, 96, 96))
    assert cam.shape == (2, 7, 3, 3)


@torch.no_grad()
def test_lite1_and_lite2_weights_map_exactly_and_see_a_cat():
    """The larger members' backbones: same mapping, their own stage depths (strict load inside)."""
    import skimage.data

    for arch in ("tf_efficientnet_lite1", "tf_efficientnet_lite2"):
        model = load_imagenet_lite0(arch)
        cat = model(_imagenet_input(skimage.data.chelsea())).softmax(1)[0]
        assert int(cat.argmax()) in CATS, arch
