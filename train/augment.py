"""Batch augmentation for 48×48-derived grey faces, vectorised in torch so that two CPU cores
spend their time on the network, not on per-image Python.

One random affine per image (scale / aspect / rotation / shift / horizontal flip) is applied with
a single ``grid_sample``; then per-image brightness and contrast jitter and random erasing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    scale: tuple[float, float] = (0.85, 1.15)  # zoom factor (>1 zooms in)
    max_rotate_deg: float = 12.0
    max_shift: float = 0.08  # fraction of the side
    max_aspect: float = 0.08  # ± log-ish aspect jitter
    flip_p: float = 0.5
    brightness: float = 0.25  # ± additive shift in [0, 1] units, scaled by a random factor
    contrast: float = 0.3  # multiplicative factor range 1 ± contrast
    erase_p: float = 0.25
    erase_area: tuple[float, float] = (0.02, 0.15)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a float batch (N, 1, H, W) in [0, 1]; returns a new tensor of the same shape."""
    n, _, h, w = x.shape
    dev = x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu").to(dev)

    zoom = cfg.scale[0] + (cfg.scale[1] - cfg.scale[0]) * rand(n)
    aspect = torch.exp((rand(n) * 2 - 1) * cfg.max_aspect)
    angle = (rand(n) * 2 - 1) * math.radians(cfg.max_rotate_deg)
    tx, ty = (rand(n) * 2 - 1) * cfg.max_shift * 2, (rand(n) * 2 - 1) * cfg.max_shift * 2
    flip = torch.where(rand(n) < cfg.flip_p, -1.0, 1.0)
    sx, sy = aspect / zoom, 1.0 / (aspect * zoom)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos * sx * flip, -sin * sy, tx], dim=1),
            torch.stack([sin * sx * flip, cos * sy, ty], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    contrast = 1 + (rand(n, 1, 1, 1) * 2 - 1) * cfg.contrast
    brightness = (rand(n, 1, 1, 1) * 2 - 1) * cfg.brightness * 0.5
    mean = out.mean(dim=(2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean + brightness).clamp_(0, 1)

    if cfg.erase_p > 0:
        area = cfg.erase_area[0] + (cfg.erase_area[1] - cfg.erase_area[0]) * rand(n)
        eh = (area.sqrt() * h).clamp(min=1)
        ew = (area.sqrt() * w).clamp(min=1)
        cy, cx = rand(n) * h, rand(n) * w
        ys = torch.arange(h, device=dev).view(1, h, 1)
        xs = torch.arange(w, device=dev).view(1, 1, w)
        box = ((ys - cy.view(n, 1, 1)).abs() < eh.view(n, 1, 1) / 2) & ((xs - cx.view(n, 1, 1)).abs() < ew.view(n, 1, 1) / 2)
        box &= (rand(n) < cfg.erase_p).view(n, 1, 1)
        noise = rand(n, 1, 1, 1).expand(n, 1, h, w)
        out = torch.where(box.unsqueeze(1), noise, out)
    return out
