"""The words and styles of the web page, kept out of app.py so the wiring stays readable."""

from __future__ import annotations

import math

INTRO_MD = """# 😄 Facial emotion recognition
Drop a photo (or use your webcam): every face is boxed and labelled with one of seven emotions
(angry, disgust, fear, happy, neutral, sad, surprise), with **calibrated** probabilities, so that
"70 %" means right about 70 % of the time. When the model is unsure, it says so.
"""

ABOUT_MD = """## How it works
1. **Validate**: the file must be a JPEG, PNG or WebP under the size limit (checked by its bytes, not its name);
   it is turned upright from its EXIF orientation and all metadata (GPS included) is dropped.
2. **Find faces**: Google's MediaPipe face detectors (its short-range model for close-ups, its full-range model, and
   a closer look at parts of large photos for small faces in a group) find every face.
3. **Crop like the training data**: each face is cut as a square framed the way FER-2013 framed its faces
   (measured, not guessed), turned grey and resized to 96×96.
4. **Classify**: an EfficientNet-Lite0 network, fine-tuned from ImageNet on FER-2013, runs in ONNX Runtime.
   Its scores are calibrated with a temperature fitted on held-out data.
5. **Explain** (on request, "Why this emotion?"): each part of the face is hidden in turn and the answer measured
   again; the parts whose hiding lowers it most are what it rests on (orange in the picture).
"""


def privacy_md(retention_window_s: float, face_view_ttl_s: float) -> str:
    """What happens to a visitor's photos, with the configured time limits (never typed by hand)."""
    return f"""## Privacy
Your photo is decoded in memory; its EXIF data (GPS included) is dropped before anything else looks at it.
The uploaded file is deleted from the server as soon as it has been read. The pictures shown back to you (faces
boxed, heatmaps, the batch CSV) are deleted within {math.ceil(retention_window_s / 60)} min; the Batch tab keeps its photos in
memory while your tab is open, so "Analyse all" works again without a re-upload. The result behind the face picker
is kept for at most {face_view_ttl_s:g} s. Closing the tab forgets both. Live webcam frames are processed in memory and
never written to disk. Nothing is logged but timings and error codes: no images, no file names, no face crops.
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
.verdict-emoji { font-size: 4rem; line-height: 1.1; }
.verdict-title { font-size: 1.6rem; font-weight: 700; }
.verdict-conf { font-size: 1.2rem; font-weight: 600; }
.verdict-warn { color: rgb(220, 38, 38); font-weight: 600; margin-top: 0.3rem; }
.verdict-error .verdict-title { font-size: 1.2rem; color: rgb(220, 38, 38); }
.verdict-code, .verdict-time { color: #888; font-size: 0.85rem; }
.camera-message { border: 1px solid rgb(220, 38, 38); color: rgb(185, 28, 28); background: rgba(220, 38, 38, 0.06);
                  border-radius: 6px; padding: 0.6rem 0.8rem; margin: 0.3rem 0; font-weight: 600; }
.live-view { max-width: 100%; border-radius: 6px; }
#live-verdict .verdict { padding: 0.2rem; }
#live-verdict .verdict-emoji { font-size: 2.4rem; }
@media (max-width: 768px) {
  .verdict-emoji { font-size: 3rem; }
  #batch-table table { font-size: 0.85rem; }
  #batch-table td, #batch-table th { padding: 0.25rem 0.35rem; }
  #batch-table td:first-child { max-width: 7rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
}
"""


def model_info_md(info: dict) -> str:
    """Model facts for the About tab, from the model's metadata."""
    test = info.get("metrics", {}).get("test", {})
    lines = ["## Model", f"- Architecture: **{info.get('architecture', '?')}**, input {info.get('input_size', '?')}×"
             f"{info.get('input_size', '?')} grey, version {info.get('model_version', '?')}",
             f"- Classes: {', '.join(info.get('classes', []))}",
             f"- Temperature (calibration): {info.get('temperature', '?')}; a face is flagged uncertain below "
             f"{info.get('uncertain_threshold', 0.6):.0%} confidence"]
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
