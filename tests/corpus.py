"""A corpus of hostile or awkward inputs, generated on the fly (nothing is committed), each with the answers
that are acceptable for it. ``python tests/corpus.py`` runs it through ``EmotionRecognizer.predict`` in this
process and prints one JSON line per case, so that a native abort is seen by the parent as a dead child."""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FACE = ROOT / "examples" / "astronaut.jpg"
PORTRAIT = ROOT / "examples" / "grace_hopper.jpg"  # 512×600: not square, so a wrong orientation shows in the size
OK = "ok"  # success with at least one face


def _img(mode: str | None = None, size: tuple[int, int] | None = None, path: Path = FACE) -> Image.Image:
    im = Image.open(path).convert("RGB")
    if size:
        im = im.resize(size, Image.BILINEAR)
    return im.convert(mode) if mode else im


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_declared_size(w: int, h: int) -> bytes:
    """A tiny PNG whose header declares w×h (a decompression bomb's shape) with one compressed row of zeros."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (min(w, 4096) + 1))
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def exif_rotated_jpeg() -> bytes:
    """Pixels stored rotated 90° clockwise with EXIF orientation 8 (rotate back on display): upright only if honoured."""
    im = _img(path=PORTRAIT).transpose(Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = 8
    return _save(im, "JPEG", quality=90, exif=exif.tobytes())


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    return _save(_img(), "JPEG", quality=90, exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    return _save(_img("CMYK"), "JPEG", quality=90)


def grey16_png() -> bytes:
    a = (np.asarray(_img("L"), dtype=np.uint16) * 257).astype(np.uint16)
    return _save(Image.fromarray(a), "PNG")


def animated(fmt: str) -> bytes:
    frames = [_img(), _img().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def large_photo() -> bytes:
    return _save(_img(size=(8192, 8192)), "JPEG", quality=40)


def cases() -> dict[str, tuple[bytes, set[str]]]:
    """name → (file bytes, acceptable answers: OK or error codes)."""
    from emotion.config import Settings  # the default size limit

    jpeg = FACE.read_bytes()
    rng = np.random.default_rng(0)
    corrupt = bytearray(jpeg)
    mid = len(corrupt) // 2
    corrupt[mid:mid + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    bad_crc = bytearray(_save(_img(), "PNG"))
    bad_crc[40:60] = b"\x00" * 20
    blank = Image.new("RGB", (640, 480), (255, 255, 255))
    return {
        "empty": (b"", {"invalid_image"}),
        "one_byte": (b"\xff", {"unsupported_format"}),
        "text_as_jpg": (b"hello, this is not an image\n" * 10, {"unsupported_format"}),
        "html": (b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>", {"unsupported_format"}),
        "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><circle r="40"/></svg>', {"unsupported_format"}),
        "pdf": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", {"unsupported_format"}),
        "zip": (b"PK\x03\x04" + b"\x00" * 100, {"unsupported_format"}),
        "truncated_jpeg": (jpeg[: len(jpeg) // 2], {"invalid_image"}),
        "header_only_jpeg": (jpeg[:300], {"invalid_image"}),
        "corrupted_middle_jpeg": (bytes(corrupt), {OK, "no_face_detected", "invalid_image"}),
        "png_bomb_declared_100k_square": (png_with_declared_size(100_000, 100_000), {"invalid_image"}),
        "png_very_wide_200000x10": (png_with_declared_size(200_000, 10), {"invalid_image"}),
        "png_side_32767": (png_with_declared_size(32_767, 64), {"invalid_image"}),
        "png_bad_crc": (bytes(bad_crc), {"invalid_image"}),
        "over_the_limit": (b"\xff\xd8\xff\xe0" + rng.integers(0, 256, Settings().max_bytes + 2**20, dtype=np.uint8).tobytes(),
                           {"file_too_large"}),
        "one_pixel": (_save(Image.new("RGB", (1, 1)), "PNG"), {"image_too_small"}),
        "eight_pixels": (_save(Image.new("RGB", (8, 8), (128, 0, 0)), "PNG"), {"image_too_small"}),
        "blank": (_save(blank, "PNG"), {"no_face_detected"}),
        "small_no_face": (_save(Image.new("RGB", (40, 40), (90, 90, 90)), "JPEG"), {"no_face_detected"}),
        "animated_gif": (animated("GIF"), {"unsupported_format"}),
        "bmp": (_save(_img(), "BMP"), {"unsupported_format"}),
        "tiff": (_save(_img(), "TIFF"), {"unsupported_format"}),
        "grey_jpeg": (_save(_img("L"), "JPEG", quality=90), {OK}),
        "rgba_png": (_save(_img("RGBA"), "PNG"), {OK}),
        "la_png": (_save(_img("LA"), "PNG"), {OK}),
        "palette_png": (_save(_img().convert("P", palette=Image.Palette.ADAPTIVE), "PNG"), {OK}),
        "one_bit_png": (_save(_img("1"), "PNG"), {OK, "no_face_detected"}),
        "cmyk_jpeg": (cmyk_jpeg(), {OK}),
        "grey_16bit_png": (grey16_png(), {OK}),
        "progressive_jpeg": (_save(_img(), "JPEG", quality=85, progressive=True), {OK}),
        "exif_rotated_jpeg": (exif_rotated_jpeg(), {OK}),
        "gps_exif_jpeg": (gps_jpeg(), {OK}),
        "webp": (_save(_img(), "WEBP", quality=85), {OK}),
        "animated_webp": (animated("WEBP"), {OK}),
        "png_named_jpg": (_save(_img(), "PNG"), {OK}),
        "jpeg_trailing_garbage": (jpeg + b"\x00garbage" * 100, {OK}),
        "large_8192px_photo": (large_photo(), {OK}),
    }


def outcome(result: dict) -> str:
    return OK if result.get("success") and result.get("faces") else result.get("error", "?")


def main() -> None:
    from emotion import EmotionRecognizer

    rec = EmotionRecognizer()
    for name, (data, _) in cases().items():
        print(json.dumps({"case": name, "result": rec.predict(data).to_dict()}), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
