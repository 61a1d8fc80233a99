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
from pathlib import Path

import gradio as gr
from gradio.data_classes import ImageData

from emotion.errors import ImageRejected


class ImageBytes(gr.Image):
    """``gr.Image`` on the page; in the handler ``bytes`` (inline frame), ``str`` (uploaded file's path), an
    ``ImageRejected`` to report, or None."""

    max_bytes: int = 20 * 2**20  # set per instance by ``image_bytes``; not an __init__ argument, because Gradio builds
    # the front end's props from the __init__ signature and a new one would hide all of gr.Image's

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

    def postprocess(self, value) -> ImageData | None:  # type: ignore[override]
        """A ``data:image/…`` URL is shown inline, never written to disk (the Upload tab's preview once the upload
        itself has been read and deleted); anything else as ``gr.Image`` shows it."""
        if isinstance(value, str) and value.startswith("data:image/"):
            mime = value[5:value.index(";")] if ";" in value else "image/jpeg"
            return ImageData(url=value, orig_name=f"photo.{mime.split('/')[1]}", mime_type=mime)
        return super().postprocess(value)


def image_bytes(max_bytes: int, **kwargs) -> ImageBytes:
    """An ``ImageBytes`` (any ``gr.Image`` arguments) that refuses inline images over ``max_bytes``."""
    component = ImageBytes(**kwargs)
    component.max_bytes = max_bytes
    return component


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


# The API page's examples are this server's own example files: its snippets run as shown against a local server
# (a file on the same machine: the Python client uploads it; a JSON "path" inside examples/ is read by the server).
# Never a web address: the server fetches nothing from outside, so a URL example could only be refused.
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_PHOTO = str(EXAMPLES_DIR / "astronaut.jpg")
EXAMPLE_CLIP = str(EXAMPLES_DIR / "clip.mp4")


class ExampleFile(gr.File):
    """``gr.File`` for the API endpoints, whose API page shows one of this server's example files as the input."""

    example_path: str = EXAMPLE_PHOTO  # per instance, set by ``api_file`` (not an __init__ argument: see ImageBytes)

    def get_block_name(self) -> str:
        return "file"

    def example_payload(self):
        from gradio_client import handle_file

        return handle_file(self.example_path) if self.file_count == "single" else [handle_file(self.example_path)] * 2

    def example_value(self):
        return self.example_path if self.file_count == "single" else [self.example_path] * 2


def api_file(example: str = EXAMPLE_PHOTO, **kwargs) -> ExampleFile:
    component = ExampleFile(**kwargs)
    component.example_path = example
    return component
