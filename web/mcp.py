"""The app's photo analysis as one MCP tool, ``analyse_photo``, on Gradio's own MCP server.

Gradio serves it at ``/gradio_api/mcp/sse`` (SSE) and ``/gradio_api/mcp/`` (streamable HTTP) when the app is mounted
with ``mcp_server=True`` and the ``mcp`` package is installed (``gradio[mcp]``); without it Gradio turns the server off
and the page's "Use via API" panel does not offer it.

Gradio would make every public endpoint a tool and turn a tool's string argument into a file: a ``data:`` URL saved
to its cache, an ``http(s)`` URL fetched by the server. The tool here takes the photo as a plain string instead,
decoded in memory (a path or a URL is refused, nothing is fetched, opened or written), and it is the only tool: the
same photo pipeline, limits and error JSON as ``/api/predict``, through the same request guard (``web.guard``
bounds the MCP routes' bodies like the other image routes).
"""

from __future__ import annotations

import base64
import binascii
import json
import re

import gradio as gr

from emotion.result import ErrorResult
from web.service import EmotionService

TOOL = "analyse_photo"
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+\-]+;base64,", re.I)
NOT_A_PHOTO = ("Send the photo itself, base64-encoded (data:image/jpeg;base64,… or the bare base64 text): this tool "
               "never opens a file path or fetches a URL.")


def description(service: EmotionService) -> str:
    """What the tool does and how to read its answer, for the agent that chooses and calls it."""
    thresholds = ", ".join(f"{name} {service.recognizer.threshold_for(name):.2f}" for name in service.recognizer.model_names)
    return (
        "Facial emotion recognition: finds every face in one photo (JPEG, PNG or WebP, sent as base64 or a data: URL; "
        "not a path or a URL) and answers, per face, one of seven emotions (angry, disgust, fear, happy, neutral, "
        "sad, surprise) with its probabilities. Returns the result JSON of the app's /api/predict: emotion, "
        "confidence, is_uncertain and probabilities of the largest face, every face under `faces` (box [x, y, w, "
        "h], largest first), and `model`; or success false with an error code and a sentence (e.g. "
        "no_face_detected). The probabilities are calibrated: across many faces, answers given with confidence "
        "0.7 are right about 70 % of the time on the test data (less on photos unlike it; see the model card). "
        f"is_uncertain is true when the top probability is below the model's threshold ({thresholds}): then say "
        "the answer is uncertain and name the top two emotions rather than one. It reads a facial expression, not "
        "what a person feels.")


def decode_photo(image: str) -> bytes | ErrorResult:
    """The photo's bytes from a data URL or bare base64 text; anything else (a path, a URL) is refused."""
    text = (image or "").strip()
    if not text:
        return ErrorResult.of("invalid_image", "No image was received. " + NOT_A_PHOTO)
    text = _DATA_URL.sub("", text, count=1)
    try:  # a URL (":"), a file path ("." or "\\") or a data URL of another type is not base64: refused unread
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return ErrorResult.of("invalid_request", NOT_A_PHOTO)


def add_tool(demo: gr.Blocks, service: EmotionService) -> None:
    """Add ``analyse_photo`` to ``demo`` (before it is mounted: Gradio lists the tools when it mounts the app)."""
    models = list(service.recognizer.model_names)

    def analyse_photo(image: str, model: str = models[0], request: gr.Request = None) -> str:
        """Args:
            image: the photo as base64 text or a data URL (data:image/jpeg;base64,…): JPEG, PNG or WebP
            model: "accurate" (default) or "fast" (quicker, a little less accurate)
        """
        client = request.client.host if request is not None and request.client is not None else "local"
        data = decode_photo(image)
        result = data if isinstance(data, ErrorResult) else service.predict_upload(data, client, model=model or None)
        return json.dumps(result.to_dict())  # the tool's text: the result JSON itself (a dict would reach it as repr)

    with demo:
        gr.api(analyse_photo, api_name=TOOL, api_description=description(service), queue=False)


def only_the_tool(demo: gr.Blocks) -> None:
    """After mounting: the MCP server offers ``analyse_photo`` alone (Gradio lists every public endpoint, and the
    others take files by path or URL)."""
    server = getattr(demo, "mcp_server_obj", None)
    if server is not None:
        server.tool_to_endpoint = {name: ep for name, ep in server.tool_to_endpoint.items() if ep.lstrip("/") == TOOL}
