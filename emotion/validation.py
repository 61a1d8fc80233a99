"""Untrusted input → a validated, upright, metadata-free RGB image, or ``ImageRejected``.

Order matters: the byte size is checked before reading, the format by magic bytes before decoding, the
declared dimensions before any pixel is decoded (decompression bombs, and MediaPipe's native abort on a
side ≥ 32767 px), EXIF orientation is applied and then every bit of metadata (GPS included) dropped by
building a fresh pixel array. Very large photos are decoded at reduced size (JPEG draft mode) and
downscaled to ``WORK_MAX_SIDE``; boxes are mapped back to the original coordinates by ``scale``.
"""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageOps

from emotion.errors import ImageRejected

MIN_SIDE = 32  # smaller than this cannot hold a detectable face
MAX_SIDE = 20_000  # refuse absurd dimensions (MediaPipe aborts the process at ≥ 32767)
MAX_PIXELS = 100_000_000  # JPEG: decoded at 1/2–1/8 scale (draft mode), so even 100 MP stays cheap
MAX_PIXELS_FULL_DECODE = 24_000_000  # PNG, WebP, arrays: decoded at full size (~3 bytes a pixel, two copies at most)
FULL_DECODE_MEGAPIXELS_PER_PHOTO = 12  # the cost of a full decode, in photos of a client's allowance: 1 per 12 MP started
DRAFT_DECODE_MEGAPIXELS_PER_PHOTO = 48  # JPEG, decoded at reduced size: 1 per 48 MP started
WORK_MAX_SIDE = 1280  # the working copy that faces are cropped from (a face of 5 % of the width keeps ≥ 64 px)
MAX_JPEG_SCANS = 32  # baseline JPEGs have 1 scan, progressive ones ~10; each scan is a pass over every block
MAX_JPEG_SCAN_MEGAPIXELS = 600  # progressive: scans × megapixels (a 10-scan 60 MP photo; ~0.5 s of decoding at most)
MAX_PNG_CHUNKS = 20_000  # a 20 MB PNG in 8 KB data chunks has 2,500; Pillow spends ~5 µs of Python on each chunk
DRAFT_MIN_SIDE = 800  # big JPEGs are decoded at 1/2, 1/4 or 1/8 scale, but never below this
ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray]


@dataclass(frozen=True)
class ValidatedImage:
    """``rgb``: uint8 H×W×3 working copy; ``original_size``: (w, h) upright; ``scale``: original px per working px;
    ``detail``: a sharper copy of the same photo (up to ``detail_max_side``) from the same decode, when one was asked
    for and the original is larger than the working copy, else None."""

    rgb: np.ndarray
    original_size: tuple[int, int]
    scale: float
    format: str
    detail: np.ndarray | None = None


def sniff_format(head: bytes) -> str | None:
    """JPEG, PNG or WEBP from the first bytes of a file, else None; the extension is never trusted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def read_bytes(source: str | os.PathLike | bytes | bytearray | memoryview, max_bytes: int) -> bytes:
    """The raw bytes of a path or buffer, refusing anything over ``max_bytes`` before reading it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ImageRejected("file_too_large", max_mb=max_bytes / 2**20)
        return data
    data = _read_file(source, max_bytes, refuse_larger=True)
    if len(data) > max_bytes:
        raise ImageRejected("file_too_large", max_mb=max_bytes / 2**20)
    return data


def _read_file(source: str | os.PathLike, limit: int, refuse_larger: bool) -> bytes:
    """At most ``limit`` + 1 bytes of a regular file (never a device, FIFO or folder); with ``refuse_larger`` a file
    over ``limit`` is refused before anything is read."""
    path = Path(source)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file ignores the flag
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):  # a device (/dev/zero), FIFO or folder: never read it
                raise ImageRejected("invalid_image", "The file could not be opened. Upload an image file.")
            if refuse_larger and st.st_size > limit:
                raise ImageRejected("file_too_large", max_mb=limit / 2**20)
            return fh.read(limit + 1)  # bounded even if the file grows while we read it
    except (OSError, ValueError) as e:  # missing, a folder, unreadable, bad path string
        raise ImageRejected("invalid_image", "The file could not be opened. Upload an image file.") from e


def validate_image(source: ImageSource, max_bytes: int = 20 * 2**20, work_max_side: int = WORK_MAX_SIDE,
                   detail_max_side: int = 0) -> ValidatedImage:
    """Turn any accepted input into a ``ValidatedImage`` or raise ``ImageRejected`` (never anything else). With
    ``detail_max_side`` the same single decode also yields the sharper ``detail`` copy (a file is decoded once)."""
    fmt = None
    try:
        if isinstance(source, np.ndarray):
            return _from_array(source, work_max_side, detail_max_side)
        if isinstance(source, Image.Image):
            return _from_pil(source, "PIL", work_max_side, detail_max_side)
        data = read_bytes(source, max_bytes)
        if not data:
            raise ImageRejected("invalid_image", "The file is empty. Upload a JPEG, PNG or WebP photo.")
        fmt = sniff_format(data[:16])
        if fmt is None:
            raise ImageRejected("unsupported_format")
        if fmt == "PNG":
            _check_png_chunks(data)
        with warnings.catch_warnings():
            # Pillow warns from 89.5 MP on; our own limits (checked from the header before any pixel is decoded) are
            # 100 MP for JPEG and 24 MP otherwise, so its warning is not ours to raise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=[fmt])
            if fmt == "JPEG":
                _check_jpeg_scans(data, *im.size)
            return _from_pil(im, fmt, work_max_side, detail_max_side)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # over 179 MP: PIL refused first
        limit = MAX_PIXELS if fmt == "JPEG" else MAX_PIXELS_FULL_DECODE
        raise ImageRejected("invalid_image", f"The image dimensions are too large. Upload a photo under "
                                             f"{limit // 1_000_000} megapixels.") from e
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, ZeroDivisionError,
            MemoryError, struct.error) as e:
        raise ImageRejected("invalid_image") from e


def _check_dimensions(w: int, h: int, fmt: str = "JPEG") -> None:
    """From the header, before any pixel is decoded: memory is bounded by what passes here."""
    max_pixels = MAX_PIXELS if fmt == "JPEG" else MAX_PIXELS_FULL_DECODE
    if w > MAX_SIDE or h > MAX_SIDE or w * h > max_pixels:
        raise ImageRejected("invalid_image", f"The image dimensions ({w}×{h}) are too large. Upload a photo under "
                                             f"{MAX_SIDE} pixels per side and {max_pixels // 1_000_000} megapixels"
                                             + (" (JPEG photos may be larger)." if fmt != "JPEG" else "."))
    if min(w, h) < MIN_SIDE:
        raise ImageRejected("image_too_small", min_side=MIN_SIDE)


HEADER_BYTES = 256 * 1024


def decode_cost(source: ImageSource) -> int:
    """What decoding ``source`` costs, in photos of a per-client allowance: a 24 MP PNG of 100 KB is as much work as
    several ordinary photos, so a client pays for pixels, not for requests. From the header only; 1 when it cannot
    be read (validation then refuses it cheaply)."""
    if isinstance(source, (np.ndarray, Image.Image)):
        return 1
    try:  # the header only: a JPEG's size sits after its EXIF (at most a few 64 KB segments)
        head = bytes(source[:HEADER_BYTES]) if isinstance(source, (bytes, bytearray, memoryview)) else \
            _read_file(source, HEADER_BYTES, refuse_larger=False)
        fmt = sniff_format(head[:16])
        if fmt is None or (fmt == "PNG" and png_chunks(head) > MAX_PNG_CHUNKS):
            return 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w, h = Image.open(io.BytesIO(head), formats=[fmt]).size
    except Exception:  # noqa: BLE001 - anything unreadable is refused by validation at the cost of one photo
        return 1
    per = DRAFT_DECODE_MEGAPIXELS_PER_PHOTO if fmt == "JPEG" else FULL_DECODE_MEGAPIXELS_PER_PHOTO
    return max(1, math.ceil(w * h / 1e6 / per))


def jpeg_scans(data: bytes) -> tuple[bool, int]:
    """(progressive, number of scans) of a JPEG, read from its markers without decoding anything.

    The header segments up to the first scan are walked by their lengths (so a thumbnail inside EXIF is not counted);
    after it, a scan-start marker ``FF DA`` cannot occur inside entropy-coded data (an ``FF`` there is always followed
    by ``00`` or a restart marker), so counting it is exact and runs at memory speed."""
    progressive, i, n = False, 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ImageRejected("invalid_image")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        if marker == 0xDA:
            return progressive, 1 + data.count(b"\xff\xda", i + 2)
        if marker in (0xC2, 0xC6, 0xCA, 0xCE):
            progressive = True
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return progressive, 0


def png_chunks(data: bytes, limit: int = MAX_PNG_CHUNKS) -> int:
    """Chunks of a PNG up to ``IEND`` (or the end of the bytes), counted by their lengths without decoding anything;
    counting stops at ``limit`` + 1."""
    i, n, count = 8, len(data), 0
    while i + 8 <= n and count <= limit:
        length = int.from_bytes(data[i:i + 4], "big")
        count += 1
        if data[i + 4:i + 8] == b"IEND":
            break
        i += 12 + length
    return count


def _check_png_chunks(data: bytes) -> None:
    """Pillow walks every chunk in Python: 1.46 million empty chunks (19 MB) took 7 s of CPU for one "photo"."""
    chunks = png_chunks(data)
    if chunks > MAX_PNG_CHUNKS:
        raise ImageRejected("invalid_image", f"This PNG is cut into more than {MAX_PNG_CHUNKS:,} pieces (chunks), which "
                                             "no camera or editor writes and which would take very long to read. Save it "
                                             "again as an ordinary PNG or JPEG and upload that.")


def _check_jpeg_scans(data: bytes, w: int, h: int) -> None:
    """Decoding cost grows with scans × pixels: a small file can repeat a cheap scan thousands of times (a 566 KB
    8000² progressive JPEG with 2,000 scans took 90 s to decode). Refuse what no camera or editor writes."""
    progressive, scans = jpeg_scans(data)
    megapixels = w * h / 1e6
    if scans > MAX_JPEG_SCANS or (progressive and scans * megapixels > MAX_JPEG_SCAN_MEGAPIXELS):
        raise ImageRejected("invalid_image", f"This JPEG is built in an unusual way ({scans} scans over {megapixels:.0f} "
                                             "megapixels) that would take very long to decode. Save it again as an "
                                             "ordinary JPEG or PNG and upload that.")
    if progressive and w * h > MAX_PIXELS_FULL_DECODE:  # progressive decoding holds every coefficient in memory
        raise ImageRejected("invalid_image", f"The image dimensions ({w}×{h}) are too large for a progressive JPEG. "
                                             f"Upload a photo under {MAX_PIXELS_FULL_DECODE // 1_000_000} megapixels.")


def _from_pil(im: Image.Image, fmt: str, work_max_side: int, detail_max_side: int = 0) -> ValidatedImage:
    _check_dimensions(*im.size, fmt)
    if getattr(im, "is_animated", False):
        im.seek(0)
    orientation = im.getexif().get(0x0112, 1)
    upright_size = im.size if orientation in (1, 2, 3, 4) else im.size[::-1]
    want = max(DRAFT_MIN_SIDE, min(detail_max_side, max(im.size)))
    if fmt == "JPEG" and max(im.size) >= 2 * want:  # scaled decoding inside the DCT: several times faster
        im.draft("RGB", (im.size[0] * want // max(im.size), im.size[1] * want // max(im.size)))
    im = ImageOps.exif_transpose(im)  # also works on the draft-decoded, smaller image
    rgb = _to_rgb(im)
    del im
    arr = np.asarray(rgb, dtype=np.uint8)  # a fresh array: no EXIF, ICC, XMP or text chunks survive (read-only here)
    del rgb  # the decoded image goes before any smaller copy is made: two full-size buffers at most
    detail = None
    if detail_max_side > work_max_side and max(arr.shape[:2]) > work_max_side:
        detail, _ = downscale(arr, detail_max_side)
        arr = detail
    arr, _ = downscale(arr, work_max_side)
    if not arr.flags.writeable:  # small enough to keep as decoded: a writable copy of its own
        arr = arr.copy()
    if detail is not None and not detail.flags.writeable:
        detail = detail.copy()
    return ValidatedImage(arr, upright_size, upright_size[0] / arr.shape[1], fmt, detail)


def downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most ``max_side`` (area averaging, no aliasing); returns the image and the
    factor applied (1.0 when it was small enough already)."""
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb, 1.0
    f = max_side / max(h, w)
    out = rgb
    while max(out.shape[:2]) >= 2 * max_side:  # exact 2× area averaging: fast and alias-free
        out = cv2.resize(out, (out.shape[1] // 2, out.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(out, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_LINEAR), f


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode → RGB: 16-bit and float scaled to 8 bits, transparency composited on white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float32)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return im.convert("RGB")


def _from_array(arr: np.ndarray, work_max_side: int, detail_max_side: int = 0) -> ValidatedImage:
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4)):
        if arr.dtype != np.uint8:
            if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
                arr = arr * 255.0
            arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        _check_dimensions(arr.shape[1], arr.shape[0], "array")
        return _from_pil(Image.fromarray(np.ascontiguousarray(arr)), "PIL", work_max_side, detail_max_side)
    raise ImageRejected("invalid_image", f"An image array must be H×W or H×W×3 (RGB), got shape {arr.shape}.")
