"""What a person sees: faces boxed and labelled on the photo, the headline verdict, the explanation
overlay. Pure functions of a result; the Gradio app only places them on the page."""

from __future__ import annotations

import html

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

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
        x, y, w, h = face.image_box if face.image_box is not None else (v / result.scale for v in face.box)
        colour = confidence_colour(face)
        if highlight is not None and i != highlight:
            colour = tuple(round(0.45 * c + 0.55 * 200) for c in colour)
        width = line * 2 if highlight == i else line
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        text = f"#{i + 1} {face.emotion} {face.confidence:.0%}"
        tb = draw.textbbox((0, 0), text, font=font)
        tw, th = tb[2] - tb[0], tb[3] - tb[1]
        ty = y - th - 2 * line if y - th - 2 * line >= 0 else y + h
        ty = min(ty, im.height - th - 2 * line)  # a face at the bottom edge: its label stays on the photo
        lx = max(0, min(x, im.width - tw - 2 * line))  # …and at the right edge: shifted left, never cut off
        draw.rectangle([lx, ty, lx + tw + 2 * line, ty + th + 2 * line], fill=colour)
        draw.text((lx + line, ty + line - tb[1]), text, fill=(255, 255, 255), font=font)
    return np.asarray(im)


def _first_sentence(message: str) -> tuple[str, str]:
    """A message's first sentence (the headline, in red) and the rest (what to do, in quiet type)."""
    for i, ch in enumerate(message[:-1]):
        if ch in ".:" and message[i + 1] == " " and i > 20:
            return message[:i + 1], message[i + 2:]
    return message, ""


def verdict_html(result: PredictionResult | ErrorResult, face_index: int = 0) -> str:
    """The headline: a big emoji and label with a colour-coded confidence, or the error's message."""
    if isinstance(result, ErrorResult):
        head, rest = _first_sentence(result.message)
        detail = f'<div class="verdict-detail">{html.escape(rest)}</div>' if rest else ""
        return (f'<div class="verdict verdict-error" role="status"><div class="verdict-title">⚠️ {html.escape(head)}</div>{detail}'
                f'<div class="verdict-code">code: {html.escape(result.error)}</div></div>')
    face = result.faces[face_index]
    r, g, b = confidence_colour(face)
    warn = ('<div class="verdict-warn">Uncertain: the model is not confident about this face; treat the answer as a guess.</div>'
            if face.is_uncertain else "")
    many = f" (face {face_index + 1} of {len(result.faces)})" if len(result.faces) > 1 else ""
    return (f'<div class="verdict"><div class="verdict-emoji">{EMOJI[face.emotion]}</div>'
            f'<div class="verdict-title">{face.emotion.capitalize()}{many}</div>'
            f'<div class="verdict-conf" style="color: rgb({r},{g},{b})">{face.confidence:.0%} confidence</div>{warn}'
            f'<div class="verdict-time">{html.escape(result.model)} model · {result.inference_time_ms:.0f} ms</div></div>')


def _heat_colours(heat: np.ndarray) -> np.ndarray:
    """Heat in [0, 1] → RGB: blue (none) through violet to red (most)."""
    return np.stack([heat, np.clip(1.5 * heat - 0.5, 0, 1) * 0.6, 1 - heat], axis=-1) * 255


def _overlay(crop: np.ndarray, heat: np.ndarray, size: int, blur: float = 0.0) -> Image.Image:
    face = Image.fromarray(crop).convert("L").convert("RGB").resize((size, size), Image.BILINEAR)
    hot_im = Image.fromarray((heat * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    if blur:
        hot_im = hot_im.filter(ImageFilter.GaussianBlur(blur))
    hot = np.asarray(hot_im, np.float32) / 255
    hot = hot / hot.max() if hot.max() > 0 else hot
    return Image.fromarray(np.clip(0.55 * np.asarray(face, np.float32) + 0.45 * _heat_colours(hot), 0, 255).astype(np.uint8))


def explanation_image(crop: np.ndarray, heat: np.ndarray, emotion: str, size: int = 256) -> np.ndarray:
    """The face as the classifier saw it with its evidence map, and a legend that says how to read the colours."""
    font = ImageFont.load_default(size=15)
    legend_h = 58
    out = Image.new("RGB", (size, size + legend_h), (255, 255, 255))
    out.paste(_overlay(crop, heat, size, blur=size / 40), (0, 0))
    bar = np.repeat(_heat_colours(np.linspace(0, 1, size - 20))[None], 12, axis=0).astype(np.uint8)
    out.paste(Image.fromarray(bar), (10, size + 8))
    draw = ImageDraw.Draw(out)
    draw.text((10, size + 23), "no effect", fill=(60, 60, 60), font=font)
    tb = draw.textbbox((0, 0), "strong evidence", font=font)
    draw.text((size - 10 - (tb[2] - tb[0]), size + 23), "strong evidence", fill=(60, 60, 60), font=font)
    caption = f"orange: hiding it lowers '{emotion}' most"
    tb = draw.textbbox((0, 0), caption, font=font)
    draw.text(((size - (tb[2] - tb[0])) // 2, size + 40), caption, fill=(30, 30, 30), font=font)
    return np.asarray(out)
