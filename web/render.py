"""What a person sees: faces boxed and labelled on the photo, the headline verdict, the explanation
overlay. Pure functions of a result; the Gradio app only places them on the page."""

from __future__ import annotations

import html
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from emotion.classes import EMOJI
from emotion.result import ErrorResult, FaceResult, PredictionResult
from emotion.validation import downscale

GREEN, AMBER, RED = (22, 163, 74), (217, 119, 6), (220, 38, 38)
# The same three as text on white (and white text on them): darker shades with a contrast of at least 4.5:1.
TEXT_SHADE = {GREEN: (21, 128, 61), AMBER: (180, 83, 9), RED: (185, 28, 28)}


def confidence_colour(face: FaceResult) -> tuple[int, int, int]:
    """Green above 80 %, red when the face is flagged uncertain (the recognizer's rule), amber in between."""
    return RED if face.is_uncertain else GREEN if face.confidence > 0.8 else AMBER


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """The label font at one size, loaded once (loading it per frame was a sixth of a live frame's drawing)."""
    return ImageFont.load_default(size=size)


def annotate(result: PredictionResult, highlight: int | None = None, max_side: int | None = None) -> np.ndarray:
    """The working image with every face boxed (colour = confidence) and labelled ``#i emotion NN%``; the face
    ``highlight`` (0-based) drawn thicker, the others dimmed, so the picker's choice is visible on the photo.
    ``max_side``: shrink the image first and draw at that size (the live preview: no pixels drawn only to be dropped)."""
    rgb, s = (result.image, 1.0) if max_side is None else downscale(result.image, max_side)  # OpenCV: 10× PIL's resize
    im = Image.fromarray(rgb).convert("RGB")
    draw = ImageDraw.Draw(im)
    line = max(2, round(max(im.size) / 250))
    font = _font(max(16, round(max(im.size) / 26)))  # ~20 px tall on a 512 px photo
    taken: list[tuple[float, float, float, float]] = []  # labels already drawn: a new one never covers them
    for i, face in enumerate(result.faces):
        box = face.image_box if face.image_box is not None else tuple(v / result.scale for v in face.box)
        x, y, w, h = (v * s for v in box)
        colour = confidence_colour(face)
        fill = TEXT_SHADE[colour]  # white text on it reads at 4.5:1 or more
        if highlight is not None and i != highlight:
            colour, fill = (tuple(round(0.45 * c + 0.55 * 200) for c in colour), tuple(round(0.6 * c + 0.4 * 90) for c in fill))
        width = line * 2 if highlight == i else line
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        text = f"#{i + 1} {face.emotion} {face.confidence:.0%}"
        tb = draw.textbbox((0, 0), text, font=font)
        tw, th = tb[2] - tb[0] + 2 * line, tb[3] - tb[1] + 2 * line
        lx, ty = label_place(x, y, w, h, tw, th, im.size, taken)
        taken.append((lx, ty, lx + tw, ty + th))
        draw.rectangle([lx, ty, lx + tw, ty + th], fill=fill)
        draw.text((lx + line, ty + line - tb[1]), text, fill=(255, 255, 255), font=font)
    return np.asarray(im)


def label_place(x: float, y: float, w: float, h: float, tw: float, th: float, size: tuple[int, int],
                taken: list[tuple[float, float, float, float]]) -> tuple[float, float]:
    """Where a face's label goes: above its box, else below, else inside its top edge, always on the photo (shifted
    left at the right edge, up at the bottom), and moved down past any label already drawn that it would cover."""
    width, height = size
    lx = max(0.0, min(x, width - tw))
    for ty in (y - th, y + h, y):
        ty = max(0.0, min(ty, height - th))
        if not any(_overlap((lx, ty, lx + tw, ty + th), t) for t in taken):
            return lx, ty
    ty = max(0.0, min(y - th, height - th))
    for _ in range(len(taken) + 1):  # below the labels it meets, as far as the photo allows
        hit = [t for t in taken if _overlap((lx, ty, lx + tw, ty + th), t)]
        if not hit:
            break
        ty = min(max(t[3] for t in hit) + 1, height - th)
    return lx, ty


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def faces_summary(result: PredictionResult) -> str:
    """Every face in one line, numbered as on the photo: the group photo's headline and the boxed photo's text
    alternative (what a screen reader says instead of the picture)."""
    parts = [f"#{i + 1} {f.emotion} {f.confidence:.0%}" + (" (uncertain)" if f.is_uncertain else "")
             for i, f in enumerate(result.faces)]
    return f"{len(parts)} face{'s' if len(parts) != 1 else ''}: " + ", ".join(parts)


def photo_alt(result: PredictionResult) -> str:
    return f"The photo with each face boxed and labelled. {faces_summary(result)}."


REGIONS = ("the brows and eyes", "the nose and cheeks", "the mouth and chin")


def explanation_alt(heat: np.ndarray, emotion: str, face_index: int) -> str:
    """The explanation picture in words: which third of the face (top, middle, bottom) holds most of the evidence."""
    thirds = np.array_split(np.asarray(heat, np.float32), 3, axis=0)
    share = np.array([t.sum() for t in thirds])
    share = share / share.sum() if share.sum() > 0 else np.full(3, 1 / 3)
    top = int(share.argmax())
    return (f"Face {face_index + 1} in grey with its evidence map: the answer '{emotion}' rests most on {REGIONS[top]} "
            f"({share[top]:.0%} of the evidence; {REGIONS[(top + 1) % 3]} {share[(top + 1) % 3]:.0%}, "
            f"{REGIONS[(top + 2) % 3]} {share[(top + 2) % 3]:.0%}).")


def _first_sentence(message: str) -> tuple[str, str]:
    """A message's first sentence (the headline, in red) and the rest (what to do, in quiet type)."""
    for i, ch in enumerate(message[:-1]):
        if ch in ".:" and message[i + 1] == " " and i > 20:
            return message[:i + 1], message[i + 2:]
    return message, ""


def verdict_html(result: PredictionResult | ErrorResult, face_index: int = 0, note: str = "") -> str:
    """The headline: a big emoji and label with a colour-coded confidence (``note`` after it, on the same line), or the
    error's message."""
    if isinstance(result, ErrorResult):
        head, rest = _first_sentence(result.message)
        detail = f'<div class="verdict-detail">{html.escape(rest)}</div>' if rest else ""
        return (f'<div class="verdict verdict-error" role="status"><div class="verdict-title">⚠️ {html.escape(head)}</div>{detail}'
                f'<div class="verdict-code">code: {html.escape(result.error)}</div></div>')
    face = result.faces[face_index]
    level = {GREEN: "high", AMBER: "mid", RED: "low"}[confidence_colour(face)]
    warn = ('<div class="verdict-warn">Uncertain: the model is not confident about this face; treat the answer as a guess.</div>'
            if face.is_uncertain else "")
    many = f" (face {face_index + 1} of {len(result.faces)})" if len(result.faces) > 1 else ""
    group = f'<div class="verdict-faces">{html.escape(faces_summary(result))}</div>' if len(result.faces) > 1 else ""
    return (f'<div class="verdict"><div class="verdict-emoji" aria-hidden="true">{EMOJI[face.emotion]}</div>'
            f'<div class="verdict-title">{face.emotion.capitalize()}{many}</div>'
            f'<div class="verdict-conf conf-{level}">{face.confidence:.0%} confidence{html.escape(note)}</div>{warn}{group}'
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
