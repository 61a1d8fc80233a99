"""The Gradio page and the Gradio API: handlers plus wiring. Every decision lives in ``web.service`` / ``emotion``."""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile
from pathlib import Path

import gradio as gr
from PIL import Image

from emotion.batch import read_csv
from emotion.errors import ImageRejected
from emotion.result import ErrorResult, PredictionResult
from web.components import ImageBytes
from web.config import ServerConfig
from web.face_views import ExpiringStore
from web.guard import EventRule
from web.privacy import gradio_temp_dir
from web.render import annotate, cam_overlay, verdict_html
from web.service import EmotionService
from web.ui_text import ABOUT_MD, DISCLAIMER_MD, INTRO_MD, model_info_md, privacy_md
from web.uploads import UploadStore

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = [str(EXAMPLES_DIR / f) for f in ("astronaut.jpg", "grace_hopper.jpg", "chelsea.jpg")]
LIVE_PREVIEW_SIDE = 480  # the live view is sent back inline (never a file), so it is kept small


def _client(request: gr.Request | None) -> str:
    """The visitor's address (uvicorn's proxy-headers middleware has already resolved trusted proxies)."""
    return request.client.host if request is not None and request.client is not None else "local"


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def _data_url(rgb) -> str:
    """A small JPEG as a data URL: shown on the page without ever being written to disk."""
    im = Image.fromarray(rgb)
    im.thumbnail((LIVE_PREVIEW_SIDE, LIVE_PREVIEW_SIDE))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def build_ui(service: EmotionService, config: ServerConfig, uploads: UploadStore) -> gr.Blocks:
    threshold = service.recognizer.settings.confidence_threshold

    def load(image, owner: str | None):
        """An uploaded file's path → its bytes (the file is deleted as it is read); anything else as it came."""
        if not isinstance(image, str):
            return image
        try:
            return uploads.read(image, owner)
        except ImageRejected as e:
            return e

    views: ExpiringStore[PredictionResult] = ExpiringStore(config.face_view_ttl_s, config.session_capacity)
    no_picker = gr.update(choices=[], value=None, visible=False)

    def view(result: PredictionResult | ErrorResult, face: int = 0):
        """(annotated image, verdict, probabilities, face picker, CAM overlay, JSON) for one result."""
        if isinstance(result, ErrorResult):
            return None, verdict_html(result), None, no_picker, None, result.to_dict()
        choices = [f"Face {i + 1}" + (" (largest)" if i == 0 else "") for i in range(len(result.faces))]
        return (annotate(result, threshold), verdict_html(result, face, threshold), result.faces[face].probabilities,
                gr.update(choices=choices, value=choices[face], visible=len(choices) > 1), cam_overlay(result, face),
                result.to_dict())

    def analyse_upload(image, request: gr.Request):
        session = _session(request)
        if image is None:
            if session:
                views.drop(session)
            return None, "", None, no_picker, None, None
        result = service.predict_upload(load(image, session), _client(request), with_cam=True)
        if session and isinstance(result, PredictionResult) and len(result.faces) > 1:
            views.put(session, result)  # for the face picker: in memory, bounded in time, dropped when the tab closes
        return view(result)

    def pick_face(choice: str | None, request: gr.Request):
        result = views.get(_session(request) or "")
        if not choice:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if result is None:
            expired = ErrorResult.of("invalid_image", f"This result is no longer kept (results are kept {config.face_view_ttl_s:g} s). "
                                                      "Upload the photo again to look at another face.")
            return verdict_html(expired), None, None, expired.to_dict()
        i = min(int(choice.split()[1]) - 1, len(result.faces) - 1)
        _, verdict, probs, _, cam, raw = view(result, i)
        return verdict, probs, cam, raw

    def forget_session(request: gr.Request):
        """The tab closed: its face-picker result and the photos kept for its Batch tab go."""
        views.drop(_session(request) or "")
        uploads.forget(_session(request) or "")

    def analyse_frame(frame, request: gr.Request):
        if frame is None:  # the camera was cleared
            return None, "", None
        annotated, verdict, probs, _, _, _ = view(service.predict_frame(load(frame, None), _client(request)))
        return annotated, verdict, probs

    def stream_frame(frame, smoothed, request: gr.Request):
        """Live mode: the view goes back inline (a data URL), so no live frame ever reaches the disk."""
        result, smoothed = service.stream_frame(load(frame, None), smoothed, _client(request))
        if isinstance(result, ErrorResult):
            return "", verdict_html(result), None, smoothed
        img = f'<img class="live-view" alt="Faces found" src="{_data_url(annotate(result, threshold))}">'
        return img, verdict_html(result, 0, threshold), result.faces[0].probabilities, smoothed

    def api_predict(image_file: str | None, request: gr.Request) -> dict:
        """Emotion of every face in one image file (JPEG, PNG or WebP); the schema is in docs/API.md."""
        return service.predict_upload(load(image_file, None), _client(request)).to_dict()

    def api_explain(image_file: str | None, request: gr.Request) -> dict:
        """As /predict, plus each face's class-activation map (``cam``: rows of heat in [0, 1] over the face crop)."""
        return service.predict_upload(load(image_file, None), _client(request), with_cam=True).to_dict(include_cam=True)

    def analyse_batch(paths: list[str] | None, request: gr.Request, progress=gr.Progress()):
        """Gallery of annotated photos, a table of every face, and the CSV to download."""
        try:
            session = _session(request)
            results, csv_text = service.predict_batch([(Path(p).name, load(p, session)) for p in paths or []], _client(request),
                                                      lambda i, n: progress((i, n), desc="Analysing photos"))
        except ValueError as e:
            raise gr.Error(str(e), print_exception=False) from e
        if results and all(isinstance(r, ErrorResult) and r.error == "rate_limited" for _, r in results):
            raise gr.Error(results[0][1].message, title="Please wait", print_exception=False)  # the whole batch waits: say so, once
        gallery = [(annotate(r, threshold), f"{name}: " + ", ".join(f.emotion for f in r.faces)) for name, r in results if r.success]
        fd, csv_path = tempfile.mkstemp(prefix="emotions_", suffix=".csv", dir=gradio_temp_dir())  # removed by the janitor
        with os.fdopen(fd, "w") as fh:
            fh.write(csv_text)
        table = [[r["file"], r["face"], r["emotion"] or r["error"], r["confidence"]] for r in read_csv(csv_text)]
        return gallery, table, csv_path

    def api_predict_batch(image_files: list[str] | None, request: gr.Request) -> dict:
        """Several image files at once (at most ``max_batch``): one result per file, in order, plus the CSV of all faces."""
        try:
            results, csv_text = service.predict_batch([(Path(p).name, load(p, None)) for p in image_files or []], _client(request))
        except ValueError as e:
            return ErrorResult.of("too_many_files", str(e)).to_dict()
        return {"success": True, "results": [{"file": name, **r.to_dict()} for name, r in results], "csv": csv_text}

    def stats_view():
        import pandas as pd  # a Gradio dependency

        summary = service.stats.summary()
        emotions = pd.DataFrame({"emotion": list(summary["emotions"]), "faces": list(summary["emotions"].values())})
        hist = service.stats.latency_histogram()
        latency = pd.DataFrame({"latency": [b for b, _ in hist], "requests": [c for _, c in hist]})
        return summary, emotions, latency

    one_shot = dict(concurrency_id="pipeline", concurrency_limit=config.concurrency, time_limit=config.time_limit_s)
    max_mb = service.recognizer.settings.max_file_mb
    with gr.Blocks(title="Facial emotion recognition") as demo:
        gr.Markdown(INTRO_MD)
        with gr.Tabs():
            with gr.Tab("Upload", id="upload"):
                with gr.Row():
                    with gr.Column(scale=1):
                        photo = ImageBytes(sources=["upload", "clipboard"], label=f"Photo (JPEG, PNG or WebP, up to {max_mb:g} MB)",
                                           elem_id="photo-input", height=360, max_bytes=config.max_image_bytes)
                        clear = gr.ClearButton(value="Try another", elem_id="try-another")
                        gr.Examples(EXAMPLES, inputs=photo, label="Examples (public-domain photos; the cat has no human face)")
                    with gr.Column(scale=1):
                        annotated = gr.Image(label="Faces found", interactive=False, elem_id="annotated", height=360)
                        verdict = gr.HTML(elem_id="verdict")
                        face_pick = gr.Radio(label="Face", visible=False, elem_id="face-pick")
                        probs = gr.Label(num_top_classes=7, label="Probabilities (calibrated)", elem_id="probabilities")
                        cam = gr.Image(label="Why this emotion? (class-activation heat on the face crop)", interactive=False,
                                       height=200, elem_id="cam")
                        with gr.Accordion("Raw result (JSON)", open=False):
                            raw = gr.JSON(elem_id="raw-json")
                photo.change(analyse_upload, photo, [annotated, verdict, probs, face_pick, cam, raw], api_visibility="private", **one_shot)
                face_pick.input(pick_face, face_pick, [verdict, probs, cam, raw], api_visibility="private")
                clear.add([photo, annotated, verdict, probs, cam, raw])

            with gr.Tab("Webcam", id="webcam"):
                gr.Markdown("**Snapshot**: take a picture. **Live**: the label updates several times a second, smoothed over frames. "
                            "Live frames are processed in memory and never stored.")
                with gr.Tabs():
                    with gr.Tab("Snapshot"):
                        with gr.Row():
                            snap = ImageBytes(sources=["webcam"], label="Camera", max_bytes=config.max_image_bytes)
                            with gr.Column():
                                snap_out = gr.Image(label="Faces found", interactive=False)
                                snap_verdict = gr.HTML()
                                snap_probs = gr.Label(num_top_classes=7, label="Probabilities")
                        snap.change(analyse_frame, snap, [snap_out, snap_verdict, snap_probs], api_visibility="private", **one_shot)
                    with gr.Tab("Live"):
                        with gr.Row():
                            live = ImageBytes(sources=["webcam"], streaming=True, label="Camera", max_bytes=config.max_image_bytes)
                            with gr.Column():
                                live_out = gr.HTML(label="Live", elem_id="live-view")
                                live_verdict = gr.HTML()
                                live_probs = gr.Label(num_top_classes=3, label="Probabilities (smoothed)")
                        live_state = gr.State()
                        live.stream(stream_frame, [live, live_state], [live_out, live_verdict, live_probs, live_state],
                                    stream_every=0.1, time_limit=config.stream_time_limit_s, concurrency_id="live",
                                    concurrency_limit=config.streams_total, api_visibility="private", show_progress="hidden")

            with gr.Tab("Batch", id="batch"):
                gr.Markdown(f"Up to {config.max_batch} photos at once: every face in a gallery and in a CSV (file, face, box, emotion, "
                            f"confidence, 7 probabilities). Results and the CSV stay downloadable for "
                            f"{math.ceil(config.retention_window_s / 60)} min, then are deleted from the server.")
                batch_in = gr.File(file_count="multiple", file_types=["image"], label="Photos", elem_id="batch-input")
                batch_go = gr.Button("Analyse all", variant="primary", elem_id="batch-go")
                batch_gallery = gr.Gallery(label="Results", columns=4, height=360)
                batch_table = gr.Dataframe(headers=["file", "face", "emotion / error", "confidence"], label="Faces",
                                           interactive=False, elem_id="batch-table")
                batch_csv = gr.File(label="CSV")
                batch_go.click(analyse_batch, batch_in, [batch_gallery, batch_table, batch_csv], api_visibility="private",
                               concurrency_id="batch", concurrency_limit=1, time_limit=120)

            with gr.Tab("Stats", id="stats"):
                gr.Markdown("Served since start-up, in memory only: no images, no identifiers.")
                with gr.Row():
                    stats_emotions = gr.BarPlot(x="emotion", y="faces", title="Emotions seen", sort=list(service.recognizer.classes))
                    stats_latency = gr.BarPlot(x="latency", y="requests", title="End-to-end latency",
                                               sort=[b for b, _ in service.stats.latency_histogram()])
                stats = gr.JSON(label="Server statistics")
                refresh = gr.Button("Refresh")
                refresh.click(stats_view, None, [stats, stats_emotions, stats_latency], api_visibility="private")
                demo.load(stats_view, None, [stats, stats_emotions, stats_latency], api_visibility="private")

            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT_MD)
                gr.Markdown(privacy_md(config.retention_window_s, config.face_view_ttl_s))
                gr.Markdown(model_info_md(service.info()))
        gr.Markdown(DISCLAIMER_MD)
        demo.unload(forget_session)

        # The programmatic API: exactly one input (an image file) and one output (the result as JSON).
        api_file, api_json, api_cam_json = gr.File(visible=False), gr.JSON(visible=False), gr.JSON(visible=False)
        gr.Button(visible=False).click(api_predict, api_file, api_json, api_name="predict", **one_shot)
        gr.Button(visible=False).click(api_explain, api_file, api_cam_json, api_name="explain", **one_shot)
        api_files, api_batch_json = gr.File(file_count="multiple", visible=False), gr.JSON(visible=False)
        gr.Button(visible=False).click(api_predict_batch, api_files, api_batch_json, api_name="predict_batch",
                                       concurrency_id="batch", concurrency_limit=1, time_limit=120)
    demo.queue(max_size=config.queue_size, default_concurrency_limit=config.concurrency)
    # Gradio keeps per-session state for its 10,000 most recent sessions (every API call is one): ~0.1 MB each,
    # which showed as steady RSS growth under load. A few hundred covers the people actually using the page.
    demo.state_session_capacity = config.session_capacity
    return demo


def event_rules(demo: gr.Blocks, max_batch: int) -> dict[int, EventRule]:
    """What each of the page's and API's events may receive, for ``web.guard.RequestGuard``."""
    takes = {"analyse_upload": (1, False), "api_predict": (1, False), "api_explain": (1, False),
             "analyse_frame": (1, True), "stream_frame": (1, True), "analyse_batch": (max_batch, False),
             "api_predict_batch": (max_batch, False)}
    rules = {}
    for fn_index, fn in demo.fns.items():
        files, data_urls = takes.get(fn.name, (0, False))
        rules[fn_index] = EventRule(fn.name, files, data_urls, stream=fn.connection == "stream")
    return rules
