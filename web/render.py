"""What a person sees: faces boxed and labelled on the photo, the headline verdict, the class-activation
overlay. Pure functions of a result; the Gradio app only places them on the page."""

from __future__ import annotations

import html

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from emotion.classes import EMOJI
from emotion.result import ErrorResult, FaceResult, PredictionResult

GREEN, AMBER, RED = (22, 163, 74), (217, 119, 6), (220, 38, 38)


def confidence_colour(face: FaceResult) -> tuple[int, int, int]:
    """Green above 80 %, red when the face is flagged uncertain (the recognizer's rule), amber in between."""
    return RED if face.is_uncertain else GREEN if face.confidence > 0.8 else AMBER


def annotate(result: PredictionResult, highlight: int | None = None) -> np.ndarray:
    """The working image with every face boxed (colour = confidence) and labelled ``#i emotion NN%``; the face
    ``highlight`` (0-based) drawn thicker, the others dimmed, so the picker's choice is visible on the photo."""
    im = Image.fromarray(result.image).convert("RGB")
    draw = ImageDraw.Draw(im)
    line = max(2, round(max(im.size) / 250))
    font = ImageFont.load_default(size=max(16, round(max(im.size) / 26)))  # ~20 px tall on a 512 px photo
    for i, face in enumerate(result.faces):
        x, y, w, h = (v / result.scale for v in face.box)
        colour = confidence_colour(face)
        if highlight is not None and i != highlight:
            colour = tuple(round(0.45 * c + 0.55 * 200) for c in colour)
        width = line * 2 if highlight == i else line
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        text = f"#{i + 1} {face.emotion} {face.confidence:.0%}"
        tb = draw.textbbox((0, 0), text, font=font)
        tw, th = tb[2] - tb[0], tb[3] - tb[1]
        ty = y - th - 2 * line if y - th - 2 * line >= 0 else y + h
        draw.rectangle([x, ty, x + tw + 2 * line, ty + th + 2 * line], fill=colour)
        draw.text((x + line, ty + line - tb[1]), text, fill=(255, 255, 255), font=font)
    return np.asarray(im)


def verdict_html(result: PredictionResult | ErrorResult, face_index: int = 0) -> str:
    """The headline: a big emoji and label with a colour-coded confidence, or the error's message."""
    if isinstance(result, ErrorResult):
        return (f'<div class="verdict verdict-error"><div class="verdict-title">⚠️ {html.escape(result.message)}</div>'
                f'<div class="verdict-code">error: {html.escape(result.error)}</div></div>')
    face = result.faces[face_index]
    r, g, b = confidence_colour(face)
    warn = ('<div class="verdict-warn">Uncertain: the model is not confident about this face; treat the answer as a guess.</div>'
            if face.is_uncertain else "")
    many = f" (face {face_index + 1} of {len(result.faces)})" if len(result.faces) > 1 else ""
    return (f'<div class="verdict"><div class="verdict-emoji">{EMOJI[face.emotion]}</div>'
            f'<div class="verdict-title">{face.emotion.capitalize()}{many}</div>'
            f'<div class="verdict-conf" style="color: rgb({r},{g},{b})">{face.confidence:.0%} confidence</div>{warn}'
            f'<div class="verdict-time">{result.inference_time_ms:.0f} ms</div></div>')


def cam_overlay(result: PredictionResult, face_index: int = 0, size: int = 192) -> np.ndarray | None:
    """The face crop with the class-activation heat of its predicted class laid over it (red = most evidence)."""
    from emotion.faces import crop_face  # local: render stays light for callers that only draw boxes

    face: FaceResult = result.faces[face_index]
    if face.cam is None:
        return None
    box = tuple(round(v / result.scale) for v in face.box)
    crop = Image.fromarray(crop_face(result.image, box)).convert("L").convert("RGB").resize((size, size), Image.BILINEAR)
    heat = np.asarray(Image.fromarray((face.cam * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC), np.float32) / 255
    colour = np.stack([heat, np.clip(1.5 * heat - 0.5, 0, 1) * 0.6, 1 - heat], axis=-1) * 255
    out = 0.55 * np.asarray(crop, np.float32) + 0.45 * colour
    return np.clip(out, 0, 255).astype(np.uint8)
