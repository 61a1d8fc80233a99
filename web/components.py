"""Gradio components whose input reaches our validation undecoded.

``gr.Image`` decodes what the client sends (``PIL.Image.open`` and a full pixel array) before any handler runs: a
20 KB PNG that declares 13000×13000 pixels costs gigabytes there, TIFF and BMP slip past our format rules, and a
file that is not an image ends in Gradio's own error toast. ``ImageBytes`` looks exactly like ``gr.Image`` on the
page but hands the handler what the client sent, undecoded: the bytes of an inline webcam frame (bounded in size)
or the path of an uploaded file (read by ``web.uploads.UploadStore``), so every event goes through the same
``emotion.validation`` as ``/predict``: size, format by magic bytes and pixel count from the header, before decoding.
"""

from __future__ import annotations

import base64
import binascii

import gradio as gr
from gradio.data_classes import ImageData

from emotion.errors import ImageRejected


class ImageBytes(gr.Image):
    """``gr.Image`` on the page; in the handler ``bytes`` (inline frame), ``str`` (uploaded file's path), an
    ``ImageRejected`` to report, or None."""

    def __init__(self, *args, max_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes

    def get_block_name(self) -> str:
        return "image"  # the front end's Image component

    def preprocess(self, payload: ImageData | None) -> bytes | str | ImageRejected | None:  # type: ignore[override]
        if payload is None:
            return None
        try:
            if payload.url and payload.url.startswith("data:"):
                return _data_url_bytes(payload.url, self.max_bytes)
            if not payload.path:
                return ImageRejected("invalid_image", "No image was received. Upload a JPEG, PNG or WebP photo.")
            return payload.path  # the guard admitted only the upload folder; the handler reads it (once)
        except ImageRejected as e:
            return e


def _data_url_bytes(url: str, max_bytes: int) -> bytes:
    """The bytes of a ``data:`` URL, refusing an oversized one from its length before decoding."""
    head, _, b64 = url.partition(",")
    if not head.endswith(";base64") or not b64:
        raise ImageRejected("invalid_image")
    if len(b64) > max_bytes * 4 // 3 + 4:
        raise ImageRejected("file_too_large", max_mb=max_bytes / 2**20)
    try:
        return base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        raise ImageRejected("invalid_image") from None
