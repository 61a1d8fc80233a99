"""Benchmark photos of given sizes, made from the repo's public-domain examples (never FER-2013)."""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def photo_bytes(megapixels: float, source: str = "astronaut.jpg", quality: int = 90) -> tuple[bytes, tuple[int, int]]:
    """A 4:3 JPEG of about ``megapixels`` MP with the example's face in it."""
    w = round(math.sqrt(megapixels * 1e6 * 4 / 3))
    h = round(w * 3 / 4)
    src = Image.open(EXAMPLES / source).convert("RGB")
    canvas = Image.new("RGB", (w, h), (235, 235, 235))
    side = min(w, h)
    canvas.paste(src.resize((side, side), Image.BICUBIC), ((w - side) // 2, 0))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=quality)
    return buf.getvalue(), (w, h)
