"""A generated group photo: package-shipped portraits pasted at known sizes and places on a large canvas.

No dataset image is needed (or committed): the faces are the repo's public-domain examples (the astronaut and Grace
Hopper), mirrored and tinted so that no two pasted faces are identical, and the background is scikit-image's rocket
photo (no face in it), so a box that matches no pasted face is a false detection on real photographic texture.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from emotion.faces import iou

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PORTRAITS = ("astronaut.jpg", "grace_hopper.jpg")
CONTEXT = 2.4  # the pasted patch is this many face-box sides wide: hair, ears and shoulders come with the face


@dataclass(frozen=True)
class GroupPhoto:
    """The JPEG bytes, its size, and the true face boxes [x, y, w, h] in its pixels (the detector's framing)."""

    jpeg: bytes
    size: tuple[int, int]
    faces: tuple[tuple[int, int, int, int], ...]


@lru_cache(maxsize=None)
def _portrait(name: str) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A portrait and its face box, found by the full-range detector on the untouched photo (once per process)."""
    from emotion.faces import FaceDetector

    rgb = np.asarray(Image.open(EXAMPLES / name).convert("RGB"))
    det = FaceDetector(model_selection=1)
    try:
        return rgb, det.detect(rgb)[0].box
    finally:
        det.close()


def face_sides(n: int, smallest: int, largest: int) -> list[int]:
    """``n`` face sizes spaced geometrically from ``smallest`` to ``largest`` px: as many small faces as large ones."""
    return [round(v) for v in np.geomspace(smallest, largest, n)]


def make_group_photo(size: tuple[int, int] = (4000, 3000), sides: list[int] | None = None, grid: tuple[int, int] = (4, 3),
                     seed: int = 0, quality: int = 90) -> GroupPhoto:
    """Paste one face per grid cell (random place inside the cell), face box side ``sides[i]`` px, and save as JPEG,
    as a phone would. Defaults: 12 faces of 80–300 px on 4000×3000 (issue 11's target photo)."""
    from skimage import data

    rng = np.random.default_rng(seed)
    w, h = size
    cols, rows = grid
    sides = sides if sides is not None else face_sides(cols * rows, 80, 300)
    assert len(sides) <= cols * rows, "one face per grid cell"
    canvas = Image.fromarray(data.rocket()).resize(size, Image.BICUBIC)
    order = rng.permutation(cols * rows)[: len(sides)]  # which cell gets which size: small faces everywhere
    boxes = []
    for i, (side, cell) in enumerate(zip(sides, order)):
        rgb, (fx, fy, fw, fh) = _portrait(PORTRAITS[i % len(PORTRAITS)])
        src = Image.fromarray(rgb)
        f = side / max(fw, fh)
        half = CONTEXT * max(fw, fh) / 2
        cx, cy = fx + fw / 2, fy + fh / 2
        patch = src.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))  # black outside
        patch = ImageEnhance.Brightness(patch).enhance(float(rng.uniform(0.8, 1.15)))
        mirrored = bool(i // len(PORTRAITS) % 2)
        if mirrored:
            patch = ImageOps.mirror(patch)
        p = round(2 * half * f)
        patch = patch.resize((p, p), Image.LANCZOS)
        cw, ch = w // cols, h // rows
        x0 = (cell % cols) * cw + int(rng.integers(0, max(1, cw - p)))
        y0 = (cell // cols) * ch + int(rng.integers(0, max(1, ch - p)))
        canvas.paste(patch, (x0, y0))
        bx = (fx - (cx - half)) * f
        if mirrored:
            bx = p - bx - fw * f
        boxes.append((round(x0 + bx), round(y0 + (fy - (cy - half)) * f), round(fw * f), round(fh * f)))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=quality)
    return GroupPhoto(buf.getvalue(), size, tuple(boxes))


def match(truth: tuple[tuple[int, int, int, int], ...], found: list[tuple[int, int, int, int]],
          min_iou: float = 0.3) -> tuple[int, int]:
    """(true faces found, false boxes): each found box is matched greedily to the unmatched true face it overlaps most."""
    left = list(truth)
    hits = false = 0
    for box in found:
        best = max(left, key=lambda t: iou(t, box), default=None)
        if best is not None and iou(best, box) >= min_iou:
            left.remove(best)
            hits += 1
        else:
            false += 1
    return hits, false
