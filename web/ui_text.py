"""The words and styles of the web page, kept out of app.py so the wiring stays readable."""

from __future__ import annotations

import math

from emotion.classifier import describe_temperature

INTRO_MD = """# 😄 Facial emotion recognition
Drop a photo (or use your webcam): every face is boxed and labelled with one of seven emotions
(angry, disgust, fear, happy, neutral, sad, surprise), with **calibrated** probabilities, so that
"70 %" means right about 70 % of the time. When the model is unsure, it says so.
"""

# The Upload tab's answer area before a photo: says where the answer will be (and is what a screen reader finds there).
VERDICT_HINT = ('<div class="verdict-hint">Your answer shows here: add a photo (drop it, paste it or click the box) or '
                'click an example.</div>')

# Where web/page.js says how much of an upload has been sent (empty, and taking no room, the rest of the time).
# The first thing on screen (web/delivery.py puts it atop the page; Gradio's app takes a few seconds on a slow phone).
SPLASH_HTML = ('<div id="page-splash" role="status"><strong>Facial emotion recognition</strong>'
               '<small>Loading the page… (a few seconds on a slow connection)</small></div>')
SEND_STATUS = '<div class="send-status" role="status" aria-live="polite"></div>'

ABOUT_MD = """## How it works
1. **Validate**: the file must be a JPEG, PNG or WebP under the size limit (checked by its bytes, not its name);
   it is turned upright from its EXIF orientation and all metadata (GPS included) is dropped.
2. **Find faces**: Google's MediaPipe face detectors (its short-range model for close-ups, its full-range model, and
   a closer look at parts of large photos for small faces in a group) find every face.
3. **Crop like the training data**: each face is cut as a square framed the way FER-2013 framed its faces
   (measured, not guessed), turned grey and resized to 96×96.
4. **Classify**: three EfficientNet-Lite networks in one graph (the "fast" model: one of them, in int8), fine-tuned
   from ImageNet on FER-2013 and its crowd votes, run in ONNX Runtime. Their scores are calibrated on held-out data,
   with one temperature per answer (a model is not equally over-confident about every emotion).
5. **Explain** (on request, "Why this emotion?"): each part of the face is hidden in turn and the answer measured
   again; the parts whose hiding lowers it most are what it rests on (orange in the picture).
"""


# One colour per emotion on every plot: the Okabe–Ito palette (told apart with the common colour-vision deficiencies),
# neutral in grey. The video timeline and the Stats bars use the same map.
EMOTION_COLOURS = {"angry": "#D55E00", "disgust": "#009E73", "fear": "#CC79A7", "happy": "#E69F00", "neutral": "#7F7F7F",
                   "sad": "#0072B2", "surprise": "#56B4E9"}


def legend_html() -> str:
    """The emotions' colours as a legend that wraps on a narrow screen (the plot's own legend is one row, cut off on a
    phone)."""
    items = "".join(f'<span class="emotion-key"><span class="swatch" style="background:{c}"></span>{e}</span>'
                    for e, c in EMOTION_COLOURS.items())
    return f'<div class="emotion-legend" aria-label="Colours of the emotions">{items}</div>'


def _duration(seconds: float, up: bool = False) -> str:
    if seconds < 120:
        return f"{math.ceil(seconds) if up else math.floor(seconds):g} s"
    return f"{math.ceil(seconds / 60) if up else math.floor(seconds / 60):g} min"


def kept_for(retention_s: float, retention_window_s: float) -> str:
    """How long a download stays available: at least the retention (what the janitor spares), at most one sweep
    later. Said as a lower bound, so the page never promises more than the janitor keeps."""
    return f"at least {_duration(retention_s)} (deleted from the server within {_duration(retention_window_s, up=True)})"


def privacy_md(retention_window_s: float, face_view_ttl_s: float) -> str:
    """What happens to a visitor's photos, with the configured time limits (never typed by hand)."""
    return f"""## Privacy
Your photo is decoded in memory; its EXIF data (GPS included) is dropped before anything else looks at it.
The uploaded file is deleted from the server as soon as it has been read; the photo you then see in the box is sent
back inline from memory, never from a file. The pictures shown back to you (faces boxed, heatmaps, the batch CSV) are
deleted within {math.ceil(retention_window_s / 60)} min; the Batch tab keeps its photos in memory while your tab is open, so "Analyse all"
works again without a re-upload. The result behind the face picker is kept for at most {face_view_ttl_s:g} s; after that
the photo on your screen is simply answered again. Closing the tab forgets both. Live webcam frames are processed in
memory and never written to disk, and the camera is turned off as soon as you leave it. Nothing is logged but timings
and error codes: no images, no file names, no face crops.
"""


DISCLAIMER_MD = """---
**Not for high-stakes use.** This model guesses the *expression* on a face, not what a person feels. Do not use it
for clinical or mental-health assessment, hiring, education, policing, border control, insurance or any decision
about a person. FER-2013 is mostly frontal, web-sourced faces; accuracy is lower for under-represented groups,
children, older people, non-frontal poses, occlusions (masks, glasses) and poor light, and "disgust" has very few
training examples. See the [model card](/model-card) for measured per-class numbers.
"""

CSS = """
.verdict { text-align: center; padding: 0.5rem; }
.verdict-emoji { font-size: 3.2rem; line-height: 1.1; }
.verdict-title { font-size: 1.6rem; font-weight: 700; }
.verdict-conf { font-size: 1.2rem; font-weight: 600; }
/* Text at 4.5:1 or more on the page's background, light and dark (WCAG AA): colours as variables, because Gradio
   scopes this sheet under its container, where a ".dark …" rule would never match (the class is on <body>). */
:root { --emotion-quiet: #52525b; --emotion-high: #15803d; --emotion-mid: #b45309; --emotion-low: #b91c1c;
        --emotion-accent: #c2410c; }
.dark { --emotion-quiet: #a1a1aa; --emotion-high: #4ade80; --emotion-mid: #fbbf24; --emotion-low: #fca5a5;
        --emotion-accent: #fdba74; }
.conf-high { color: var(--emotion-high); } .conf-mid { color: var(--emotion-mid); } .conf-low { color: var(--emotion-low); }
.verdict-warn { color: var(--emotion-low); font-weight: 600; margin-top: 0.3rem; }
.verdict-faces { margin-top: 0.3rem; font-weight: 600; }
.verdict-error .verdict-title { font-size: 1rem; font-weight: 600; color: var(--emotion-low); line-height: 1.4; }
.verdict-detail { font-size: 0.95rem; color: var(--body-text-color); max-width: 36rem; margin: 0.2rem auto; }
.verdict-code, .verdict-time { color: var(--emotion-quiet); font-size: 0.8rem; }
.verdict-hint { text-align: center; padding: 1.2rem 1rem; border: 1px dashed var(--border-color-primary); border-radius: 8px;
                color: var(--body-text-color); }
/* Gradio's own quiet text, orange text and primary buttons (white on orange-500 is 2.8:1): the same shades, darker. */
:root { --body-text-color-subdued: #52525b !important; --block-info-text-color: #52525b !important;
        --button-primary-background-fill: #c2410c !important; --button-primary-background-fill-hover: #9a3412 !important;
        --button-primary-text-color: #ffffff !important; --color-accent: #c2410c !important; }
.dark { --body-text-color-subdued: #a1a1aa !important; --block-info-text-color: #a1a1aa !important;
        --button-primary-background-fill: #c2410c !important; --button-primary-background-fill-hover: #9a3412 !important;
        --button-primary-text-color: #ffffff !important; --color-accent: #fdba74 !important; }
.json-node .key, .api-docs .url, .api-docs .post, .api-docs .api-name, .api-docs .highlight,
button[role=tab].selected, .tab-container button.selected { color: var(--emotion-accent) !important; }
.send-status { font-weight: 600; padding: 0.4rem 0.6rem; border-left: 4px solid #2563eb; }
#photo-send:has(.send-status:empty), #batch-send:has(.send-status:empty), #video-send:has(.send-status:empty) { display: none !important; }
#live-verdict .verdict-detail { display: none; }
.rest-note { padding: 0.4rem 1rem; border-left: 4px solid var(--emotion-accent); margin: 0.6rem 0;
             background: var(--background-fill-primary); color: var(--body-text-color); }
.rest-note code { color: var(--body-text-color) !important; background: none !important; }
.rest-note pre { overflow-x: auto; padding: 0.5rem; background: var(--background-fill-secondary); }
.camera-message, .csv-expired { border: 1px solid rgb(220, 38, 38); color: rgb(185, 28, 28); background: rgba(220, 38, 38, 0.06);
                  border-radius: 6px; padding: 0.6rem 0.8rem; margin: 0.3rem 0; font-weight: 600; }
.batch-note { border-left: 4px solid rgb(217, 119, 6); background: rgba(217, 119, 6, 0.08); padding: 0.5rem 0.8rem;
              border-radius: 4px; overflow-wrap: anywhere; }
.live-view { max-width: 100%; border-radius: 6px; }
#live-verdict .verdict { padding: 0.2rem; }
/* Live: the room for the answer is kept whatever it says (the "uncertain" line on one line, there or not), so the
   camera below never jumps; with the camera off, no answer or numbers from an old frame are shown. */
#live-verdict { min-height: 5.7rem; }
#live-verdict .verdict { display: flex; flex-wrap: wrap; justify-content: center; align-items: baseline; column-gap: 0.6rem; }
#live-verdict .verdict-warn { flex-basis: 100%; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#live-verdict .verdict-time, #live-verdict .verdict-code { display: none; }
body.live-idle #live-verdict > *, body.live-idle #live-view .live-view { display: none; }
body.live-idle #live-probabilities { visibility: hidden; }
#live-verdict .verdict-emoji { font-size: 2rem; }
.emotion-legend { display: flex; flex-wrap: wrap; gap: 0.3rem 0.9rem; justify-content: center; font-size: 0.85rem; }
.emotion-key { display: inline-flex; align-items: center; gap: 0.3rem; white-space: nowrap; }
.emotion-key .swatch { width: 0.9rem; height: 0.9rem; border-radius: 50%; display: inline-block; }
/* Keyboard: a visible focus ring on the model choice and the face picker. */
#model-choice label:focus-within, #face-pick label:focus-within { outline: 2px solid #2563eb; outline-offset: 2px; }
/* The Batch gallery: as many columns as fit (never a fixed four that hides photos on a phone). */
#batch-gallery .grid-container { grid-template-columns: repeat(auto-fill, minmax(min(140px, 45%), 1fr)) !important; }
/* Webcam: the camera and its start button within a laptop's first screen. */
#snap-camera, #live-camera { max-height: 420px; }
@media (max-width: 768px) {
  .verdict-emoji { font-size: 3rem; }
  #live-verdict { min-height: 7.4rem; }  /* the answer's first line wraps on a phone */
  #batch-table table { font-size: 0.85rem; }
  #batch-table td, #batch-table th { padding: 0.25rem 0.35rem; }
  #batch-table td:first-child { overflow-wrap: anywhere; }
  #video-segments th, #video-segments th * { word-break: normal !important; overflow-wrap: normal !important; font-size: 0.72rem; }
  #video-segments th { padding: 0.2rem !important; }
  #video-segments th .cell-wrap, #batch-table th .cell-wrap { padding: 0 0.1rem !important; gap: 0 !important; }
  #video-segments th .cell-menu-button, #batch-table th .cell-menu-button { display: none !important; }
  #video-segments table { font-size: 0.85rem; }
  #video-segments td { padding: 0.25rem 0.3rem; }
  #batch-table th, #batch-table th * { word-break: normal !important; overflow-wrap: normal !important; font-size: 0.72rem; }
  #batch-table th { padding: 0.2rem !important; }
  #batch-table td { white-space: normal; overflow-wrap: anywhere; }
  .prose table { display: block; overflow-x: auto; }
  .prose table td, .prose table th { min-width: 5.5rem; word-break: normal; overflow-wrap: normal; }
  #video-plot { overflow-x: hidden; }
}
"""


def model_info_md(info: dict) -> str:
    """Model facts for the About tab, from the model's metadata."""
    test = info.get("metrics", {}).get("test", {})
    lines = ["## Model", f"- Architecture: **{info.get('architecture', '?')}**, input {info.get('input_size', '?')}×"
             f"{info.get('input_size', '?')} grey, version {info.get('model_version', '?')}",
             f"- Classes: {', '.join(info.get('classes', []))}",
             f"- Calibration: {describe_temperature(info)}; a face is flagged uncertain below "
             f"{info.get('uncertain_threshold', 0.6):.0%} confidence"]
    priors = info.get("logit_offset") or {}
    if priors:  # class priors baked into the graph (train.offset_sweep --choose): part of why it answers as it does
        lines.append("- Class priors (added to the scores, chosen on validation photos): "
                     + ", ".join(f"{c} {v:+g}" for c, v in priors.items()))
    if test:
        lines.append(f"- FER-2013 PrivateTest: accuracy **{test['accuracy']:.1%}**, macro-F1 {test['macro_f1']:.3f}, "
                     f"ECE {test['ece_calibrated']:.3f} ({test['images']} images)")
    return "\n".join(lines)


def models_table_md(comparison: dict | None) -> str:
    """The accurate/fast comparison as written by ``python -m bench.compare_models`` (never typed by hand)."""
    if not comparison:
        return ""
    rows = ["## Accurate or fast", "", f"Measured by `{comparison['command']}` on {comparison['date'][:10]} "
            f"(onnxruntime, {comparison['onnxruntime_threads']} thread; timings vary with the machine).", "",
            "| model | FER-2013 test accuracy | macro-F1 | ECE | real photos accuracy | ms per face | size |",
            "|---|---|---|---|---|---|---|"]
    for name, m in comparison["models"].items():
        rows.append(f"| **{name}** ({m['description']}) | {m['privatetest_accuracy']:.1%} | {m['privatetest_macro_f1']:.3f} | "
                    f"{m['privatetest_ece']:.3f} | {m['real_accuracy']:.1%} | {m['ms_per_face_batch1']:.1f} | {m['size_mb']:.1f} MB |")
    return "\n".join(rows)
