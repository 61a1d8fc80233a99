"""Batch augmentation for 48×48-derived grey faces, vectorised in torch so that two CPU cores
spend their time on the network, not on per-image Python.

One random affine per image (scale / aspect / rotation / shift / horizontal flip) is applied with
a single ``grid_sample``; then the degradations of real photos (``degrade_batch``: lower resolution, blur or
sharpening, JPEG re-compression, sensor noise, gamma), per-image brightness and contrast jitter and random erasing.

Why the degradations: every FER-2013 face is a soft 48×48 image upscaled to the input size, while serving crops faces
out of phone photos (sharp, large) and news stills (soft, compressed). A model that only ever saw one look learns it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

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
    degrade: bool = True
    lowres_p: float = 0.3  # shrink to lowres_px (the side of a 48-px face) and back up
    lowres_px: tuple[int, int] = (24, 48)
    blur_p: float = 0.2  # Gaussian blur, sigma in input pixels
    blur_sigma: tuple[float, float] = (0.4, 1.6)
    sharpen_p: float = 0.25  # unsharp mask: the crisp edges of a large crop from a phone photo
    sharpen_amount: tuple[float, float] = (0.3, 1.5)
    jpeg_p: float = 0.25
    jpeg_quality: tuple[int, int] = (25, 90)
    noise_p: float = 0.25
    noise_sigma: tuple[float, float] = (0.005, 0.03)
    gamma_p: float = 0.4
    max_log_gamma: float = 0.35


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

    if cfg.degrade:
        out = degrade_batch(out, cfg, generator)

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


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image (N, 1, H, W) with its own sigma (N,) by one grouped convolution."""
    n, _, h, w = x.shape
    radius = int(math.ceil(3 * float(sigma.max())))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k1 = torch.exp(-0.5 * (t.view(1, -1) / sigma.view(-1, 1).clamp(min=1e-3)) ** 2)
    k1 = k1 / k1.sum(1, keepdim=True)
    kernel = (k1.view(n, -1, 1) * k1.view(n, 1, -1)).unsqueeze(1)  # (N, 1, k, k)
    padded = F.pad(x.view(1, n, h, w), (radius,) * 4, mode="replicate")
    return F.conv2d(padded, kernel, groups=n).view(n, 1, h, w)


def _jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    arr = (img[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    back = np.asarray(Image.open(buf).convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(back).to(img.device).view_as(img)


def degrade_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """The looks of real photos, each applied to a random share of the batch (N, 1, H, W) in [0, 1]."""
    n, _, h, w = x.shape
    dev = x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu").to(dev)

    def pick(p: float) -> torch.Tensor:
        return rand(n) < p

    out = x.clone()
    lowres = torch.nonzero(pick(cfg.lowres_p)).flatten()
    if len(lowres):  # one size per batch keeps it to two interpolations; sizes vary from batch to batch
        side = int(cfg.lowres_px[0] + (cfg.lowres_px[1] - cfg.lowres_px[0]) * float(rand(1)))
        small = F.interpolate(out[lowres], size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        out[lowres] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    u = rand(n)  # blur and sharpening exclude each other
    blur, sharpen = u < cfg.blur_p, (u >= cfg.blur_p) & (u < cfg.blur_p + cfg.sharpen_p)
    if bool(blur.any()) or bool(sharpen.any()):
        sigma = torch.where(blur, cfg.blur_sigma[0] + (cfg.blur_sigma[1] - cfg.blur_sigma[0]) * rand(n), torch.ones(n, device=dev))
        soft = _gaussian_blur(out, sigma)
        amount = (cfg.sharpen_amount[0] + (cfg.sharpen_amount[1] - cfg.sharpen_amount[0]) * rand(n)).view(n, 1, 1, 1)
        out = torch.where(blur.view(n, 1, 1, 1), soft, out)
        out = torch.where(sharpen.view(n, 1, 1, 1), (out + amount * (out - soft)).clamp(0, 1), out)
    gamma = pick(cfg.gamma_p).view(n, 1, 1, 1)
    g = torch.exp((rand(n, 1, 1, 1) * 2 - 1) * cfg.max_log_gamma)
    out = torch.where(gamma, out.clamp(min=1e-4) ** g, out)
    noise = pick(cfg.noise_p).view(n, 1, 1, 1)
    sigma = cfg.noise_sigma[0] + (cfg.noise_sigma[1] - cfg.noise_sigma[0]) * rand(n, 1, 1, 1)
    gauss = torch.randn(n, 1, h, w, generator=generator).to(dev)
    out = torch.where(noise, (out + sigma * gauss).clamp(0, 1), out)
    quality = cfg.jpeg_quality[0] + (cfg.jpeg_quality[1] - cfg.jpeg_quality[0]) * rand(n)
    for i in torch.nonzero(pick(cfg.jpeg_p)).flatten().tolist():
        out[i] = _jpeg(out[i], int(quality[i]))
    return out
