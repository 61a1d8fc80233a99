"""The validation layer: every input becomes an upright RGB image or an ``ImageRejected`` with an API error code."""

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from emotion.errors import MESSAGES, ImageRejected
from emotion.validation import DRAFT_MIN_SIDE, MIN_SIDE, WORK_MAX_SIDE, downscale, sniff_format, validate_image
from tests.conftest import EXAMPLES
from tests.corpus import exif_rotated_jpeg, gps_jpeg, png_with_declared_size


def _code(source, **kw) -> str:
    with pytest.raises(ImageRejected) as e:
        validate_image(source, **kw)
    assert e.value.message
    return e.value.code


def test_format_is_sniffed_from_bytes_not_names():
    assert sniff_format(b"\xff\xd8\xff\xe0rest") == "JPEG"
    assert sniff_format(b"\x89PNG\r\n\x1a\nrest") == "PNG"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff_format(b"GIF89a") is None and sniff_format(b"BM") is None


def test_each_rejection_has_its_code(tmp_path):
    assert _code(b"") == "invalid_image"
    assert _code(b"GIF89a" + b"\x00" * 50) == "unsupported_format"
    assert _code(b"\xff\xd8\xff" + b"\x00" * 2000, max_bytes=1000) == "file_too_large"
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\x00" * 3000)
    assert _code(big, max_bytes=1000) == "file_too_large"
    assert _code(tmp_path / "missing.jpg") == "invalid_image"
    assert _code(png_with_declared_size(200_000, 10)) == "invalid_image"
    tiny = io.BytesIO()
    Image.new("RGB", (MIN_SIDE - 1, 100)).save(tiny, "PNG")
    assert _code(tiny.getvalue()) == "image_too_small"
    assert _code(np.zeros((10, 10, 5), np.uint8)) == "invalid_image"


def test_every_code_has_a_message():
    for code in ("no_face_detected", "invalid_image", "unsupported_format", "file_too_large", "image_too_small", "multiple_faces"):
        assert code in MESSAGES and len(MESSAGES[code]) > 20


def test_exif_orientation_is_applied_and_metadata_dropped():
    img = validate_image(exif_rotated_jpeg())
    assert img.original_size == (512, 600) and img.rgb.shape == (600, 512, 3)
    upright = np.asarray(Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB"), dtype=np.float32)
    assert np.abs(img.rgb.astype(np.float32) - upright).mean() < 12  # same picture, the right way up
    gps = validate_image(gps_jpeg())
    assert isinstance(gps.rgb, np.ndarray) and gps.rgb.dtype == np.uint8  # plain pixels: no EXIF can travel on


def test_large_photo_is_downscaled_not_refused():
    buf = io.BytesIO()
    Image.new("RGB", (9000, 4500), (200, 150, 100)).save(buf, "JPEG", quality=50)
    img = validate_image(buf.getvalue())
    assert img.original_size == (9000, 4500)
    assert DRAFT_MIN_SIDE <= max(img.rgb.shape[:2]) <= WORK_MAX_SIDE
    assert img.scale == pytest.approx(9000 / img.rgb.shape[1], rel=1e-6)
    png = io.BytesIO()
    Image.new("RGB", (3000, 1500), (200, 150, 100)).save(png, "PNG")  # no draft decoding for PNG: plain downscale
    assert validate_image(png.getvalue()).rgb.shape == (WORK_MAX_SIDE // 2, WORK_MAX_SIDE, 3)


def test_downscale_keeps_aspect_and_reports_the_factor():
    img = np.zeros((1000, 3000, 3), np.uint8)
    small, f = downscale(img, 640)
    assert small.shape == (213, 640, 3) and f == pytest.approx(640 / 3000)
    same, g = downscale(img[:100, :100], 640)
    assert same.shape == (100, 100, 3) and g == 1.0


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "1", "I", "F"])
def test_any_mode_becomes_rgb(mode):
    im = Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").resize((64, 64))
    im = Image.fromarray((np.asarray(im.convert("L"), np.uint16) * 257).astype(np.uint16)) if mode == "I;16" else im.convert(mode)
    out = validate_image(im)
    assert out.rgb.shape == (64, 64, 3) and out.rgb.dtype == np.uint8
    assert 20 < out.rgb.mean() < 235  # not blown to white or crushed to black


def test_arrays_of_any_common_shape_are_accepted():
    for arr in (np.zeros((50, 60), np.uint8), np.zeros((50, 60, 1), np.uint8), np.zeros((50, 60, 4), np.uint8),
                np.random.default_rng(0).random((50, 60, 3))):
        assert validate_image(arr).rgb.shape == (50, 60, 3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise_anything_but_image_rejected(data):
    try:
        img = validate_image(data)
        assert img.rgb.ndim == 3
    except ImageRejected as e:
        assert e.code in MESSAGES


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=st.integers(1, 400), h=st.integers(1, 400), mode=st.sampled_from(["RGB", "L", "RGBA", "P", "CMYK", "LA", "1"]),
       fmt=st.sampled_from(["PNG", "JPEG", "WEBP"]), seed=st.integers(0, 2**16), cut=st.integers(0, 3))
def test_random_valid_images_of_random_sizes_and_modes(w, h, mode, fmt, seed, cut):
    if fmt == "JPEG" and mode in ("RGBA", "P", "LA"):
        mode = "RGB"
    if fmt != "JPEG" and mode == "CMYK":  # only JPEG stores CMYK
        fmt = "JPEG"
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, fmt)
    data = buf.getvalue()
    if cut:  # also truncated versions of the same file
        data = data[: len(data) * cut // 4]
    try:
        img = validate_image(data)
    except ImageRejected as e:
        assert e.code in {"image_too_small", "invalid_image", "unsupported_format"}  # a cut can fall inside the magic bytes
        if not cut:
            assert e.code == "image_too_small" and min(w, h) < MIN_SIDE
        return
    assert img.rgb.shape == (h, w, 3) and min(w, h) >= MIN_SIDE


def test_jpeg_scans_are_counted_from_the_markers_and_scan_bombs_refused():
    from emotion.validation import MAX_JPEG_SCANS, jpeg_scans

    from bench.attacks import scan_bomb_jpeg

    im = Image.new("RGB", (320, 240), (90, 120, 150))
    baseline, progressive = io.BytesIO(), io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 1
    im.save(baseline, "JPEG", exif=exif)
    im.save(progressive, "JPEG", progressive=True)
    assert jpeg_scans(baseline.getvalue()) == (False, 1)
    prog, scans = jpeg_scans(progressive.getvalue())
    assert prog and 2 <= scans <= MAX_JPEG_SCANS
    assert validate_image(progressive.getvalue()).rgb.shape == (240, 320, 3)
    bomb = scan_bomb_jpeg(400, MAX_JPEG_SCANS + 1)
    assert jpeg_scans(bomb) == (True, MAX_JPEG_SCANS + 1)
    assert _code(bomb) == "invalid_image"


def test_one_decode_gives_the_working_copy_and_the_sharper_detail_copy():
    big = Image.new("RGB", (4000, 3000), (200, 100, 50))
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=80)
    img = validate_image(buf.getvalue(), detail_max_side=2000)
    assert img.detail is not None and img.detail.shape == (1500, 2000, 3)
    assert max(img.rgb.shape[:2]) == WORK_MAX_SIDE and img.original_size == (4000, 3000)
    assert validate_image(buf.getvalue()).detail is None  # not asked for


def test_jpegs_up_to_100_megapixels_are_accepted_as_documented_and_bigger_ones_told_the_right_limit():
    """Pillow warns from 89.5 MP on: a 95 MP JPEG was refused as "under 24 megapixels" (issue #33)."""
    from emotion.validation import validate_image as validate

    def grey_jpeg(w, h):
        buf = io.BytesIO()
        Image.new("L", (w, h), 128).save(buf, "JPEG", quality=50)
        return buf.getvalue()

    assert validate(grey_jpeg(10_000, 9_500)).original_size == (10_000, 9_500)
    with pytest.raises(ImageRejected) as e:
        validate(grey_jpeg(14_000, 13_000))  # 182 MP: past Pillow's own error threshold
    assert "100 megapixels" in e.value.message


def test_a_png_of_countless_chunks_is_refused_from_its_bytes():
    from bench.attacks import chunk_bomb_png
    from emotion.validation import MAX_PNG_CHUNKS, png_chunks

    assert png_chunks(chunk_bomb_png(10)) < 20
    with pytest.raises(ImageRejected) as e:
        validate_image(chunk_bomb_png(MAX_PNG_CHUNKS + 1))
    assert e.value.code == "invalid_image" and "chunks" in e.value.message
