"""Gradio app: UI wiring only; every decision lives in the ``emotion`` package.

Run: ``python app.py`` (serves on GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, default 127.0.0.1:7860).
API:  ``Client(url).predict(handle_file("face.jpg"), api_name="/predict")``; ``GET /health``; ``GET /info``.
"""

from __future__ import annotations

import logging
import os
import tempfile

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from emotion.batch import MAX_BATCH, read_csv  # noqa: E402
from emotion.privacy import UploadJanitor, gradio_temp_dir  # noqa: E402
from emotion.render import annotate, cam_overlay, verdict_html  # noqa: E402
from emotion.result import ErrorResult, PredictionResult  # noqa: E402
from emotion.service import EmotionService  # noqa: E402
from emotion.ui_text import ABOUT_MD, CSS, DISCLAIMER_MD, INTRO_MD, model_info_md  # noqa: E402

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")
QUEUE_MAX_SIZE = int(os.environ.get("EMOTION_QUEUE_SIZE", "64"))
CONCURRENCY = int(os.environ.get("EMOTION_CONCURRENCY", "2"))
TIME_LIMIT_S = int(os.environ.get("EMOTION_TIME_LIMIT_S", "20"))
SESSION_CAPACITY = int(os.environ.get("EMOTION_SESSION_CAPACITY", "200"))

service = EmotionService()
THRESHOLD = service.recognizer.settings.confidence_threshold
EXAMPLES = [os.path.join(EXAMPLES_DIR, f) for f in ("astronaut.jpg", "grace_hopper.jpg", "chelsea.jpg")]
janitor = UploadJanitor(retention_s=float(os.environ.get("EMOTION_RETENTION_S", "30")),
                        interval_s=float(os.environ.get("EMOTION_JANITOR_INTERVAL_S", "5")),
                        keep={os.path.basename(p): os.path.getsize(p) for p in EXAMPLES})


def _client(request: gr.Request | None) -> str:
    return request.client.host if request is not None and request.client is not None else "local"


def _view(result: PredictionResult | ErrorResult, face: int = 0):
    """(annotated image, verdict, probabilities, face picker, CAM overlay, JSON) for one result."""
    if isinstance(result, ErrorResult):
        return None, verdict_html(result), None, gr.update(choices=[], value=None, visible=False), None, result.to_dict()
    choices = [f"Face {i + 1}" + (" (largest)" if i == 0 else "") for i in range(len(result.faces))]
    return (annotate(result, THRESHOLD), verdict_html(result, face, THRESHOLD), result.faces[face].probabilities,
            gr.update(choices=choices, value=choices[face], visible=len(choices) > 1), cam_overlay(result, face),
            result.to_dict())


def analyse_upload(path: str | None, request: gr.Request):
    if path is None:
        return (None, "", None, gr.update(choices=[], value=None, visible=False), None, None, None)
    result = service.predict_upload(path, _client(request), with_cam=True)
    return (*_view(result), result)


def pick_face(choice: str | None, result: PredictionResult | ErrorResult | None):
    if not isinstance(result, PredictionResult) or not choice:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    i = int(choice.split()[1]) - 1
    _, verdict, probs, _, cam, _ = _view(result, i)
    return verdict, probs, cam, result.to_dict()


def analyse_frame(frame, request: gr.Request):
    if frame is None:  # the camera was cleared
        return None, "", None
    result = service.predict_frame(frame, _client(request))
    annotated, verdict, probs, _, _, _ = _view(result)
    return annotated, verdict, probs


def stream_frame(frame, smoothed, request: gr.Request):
    """Live mode: the largest face's probabilities are smoothed over frames (EMA) so the label stays steady."""
    result, smoothed = service.stream_frame(frame, smoothed, _client(request))
    if isinstance(result, ErrorResult):
        return frame, verdict_html(result), None, smoothed
    return annotate(result, THRESHOLD), verdict_html(result, 0, THRESHOLD), result.faces[0].probabilities, smoothed


def api_predict(image_file: str | None, request: gr.Request) -> dict:
    """Emotion of every face in one image file (JPEG, PNG or WebP); the schema is in docs/API.md."""
    return service.predict_upload(image_file, _client(request)).to_dict()


def api_explain(image_file: str | None, request: gr.Request) -> dict:
    """As /predict, plus each face's class-activation map (``cam``: rows of heat in [0, 1] over the face crop)."""
    return service.predict_upload(image_file, _client(request), with_cam=True).to_dict(include_cam=True)


def analyse_batch(paths: list[str] | None, request: gr.Request, progress=gr.Progress()):
    """Gallery of annotated photos, a table of every face, and the CSV to download."""
    try:
        results, csv_text = service.predict_batch(paths, _client(request), progress)
    except ValueError as e:
        raise gr.Error(str(e)) from e
    gallery = [(annotate(r, THRESHOLD), f"{name}: " + ", ".join(f.emotion for f in r.faces)) for name, r in results if r.success]
    fd, csv_path = tempfile.mkstemp(prefix="emotions_", suffix=".csv", dir=gradio_temp_dir())  # removed by the janitor
    with os.fdopen(fd, "w") as fh:
        fh.write(csv_text)
    rows = read_csv(csv_text)
    table = [[r["file"], r["face"], r["emotion"] or r["error"], r["confidence"]] for r in rows]
    return gallery, table, csv_path


def api_predict_batch(image_files: list[str] | None, request: gr.Request) -> dict:
    """Several image files at once (at most 20): one result per file, in order, plus the CSV of all faces."""
    try:
        results, csv_text = service.predict_batch(image_files, _client(request))
    except ValueError as e:
        return {"success": False, "error": "too_many_files", "message": str(e)}
    return {"success": True, "results": [{"file": name, **r.to_dict()} for name, r in results], "csv": csv_text}


def stats_view():
    import pandas as pd  # a Gradio dependency

    summary = service.stats.summary()
    emotions = pd.DataFrame({"emotion": list(summary["emotions"]), "faces": list(summary["emotions"].values())})
    hist = service.stats.latency_histogram()
    latency = pd.DataFrame({"latency": [b for b, _ in hist], "requests": [c for _, c in hist]})
    return summary, emotions, latency


def build_ui() -> gr.Blocks:
    with gr.Blocks(title="Facial emotion recognition") as demo:
        gr.Markdown(INTRO_MD)
        with gr.Tabs():
            with gr.Tab("Upload", id="upload"):
                with gr.Row():
                    with gr.Column(scale=1):
                        photo = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Photo",
                                         elem_id="photo-input", height=360)
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
                state = gr.State()
                photo.change(analyse_upload, photo, [annotated, verdict, probs, face_pick, cam, raw, state],
                             api_visibility="private", concurrency_limit=CONCURRENCY, time_limit=TIME_LIMIT_S)
                face_pick.input(pick_face, [face_pick, state], [verdict, probs, cam, raw], api_visibility="private")
                clear.add([photo, annotated, verdict, probs, cam, raw])

            with gr.Tab("Webcam", id="webcam"):
                gr.Markdown("**Snapshot**: take a picture. **Live**: the label updates several times a second, smoothed over frames. "
                            "Frames are processed in memory and never stored.")
                with gr.Tabs():
                    with gr.Tab("Snapshot"):
                        with gr.Row():
                            snap = gr.Image(sources=["webcam"], type="numpy", label="Camera")
                            with gr.Column():
                                snap_out = gr.Image(label="Faces found", interactive=False)
                                snap_verdict = gr.HTML()
                                snap_probs = gr.Label(num_top_classes=7, label="Probabilities")
                        snap.change(analyse_frame, snap, [snap_out, snap_verdict, snap_probs], api_visibility="private",
                                    concurrency_limit=CONCURRENCY)
                    with gr.Tab("Live"):
                        with gr.Row():
                            live = gr.Image(sources=["webcam"], type="numpy", streaming=True, label="Camera")
                            with gr.Column():
                                live_out = gr.Image(label="Live", interactive=False)
                                live_verdict = gr.HTML()
                                live_probs = gr.Label(num_top_classes=3, label="Probabilities (smoothed)")
                        live_state = gr.State()
                        live.stream(stream_frame, [live, live_state], [live_out, live_verdict, live_probs, live_state],
                                    stream_every=0.1, time_limit=120, concurrency_limit=CONCURRENCY, api_visibility="private",
                                    show_progress="hidden")

            with gr.Tab("Batch", id="batch"):
                gr.Markdown(f"Up to {MAX_BATCH} photos at once: every face in a gallery and in a CSV (file, face, box, emotion, "
                            "confidence, 7 probabilities). The CSV is deleted from the server within 35 s; download it right away.")
                batch_in = gr.File(file_count="multiple", file_types=["image"], label="Photos", elem_id="batch-input")
                batch_go = gr.Button("Analyse all", variant="primary")
                batch_gallery = gr.Gallery(label="Results", columns=4, height=360)
                batch_table = gr.Dataframe(headers=["file", "face", "emotion / error", "confidence"], label="Faces", interactive=False)
                batch_csv = gr.File(label="CSV")
                batch_go.click(analyse_batch, batch_in, [batch_gallery, batch_table, batch_csv], api_visibility="private",
                               concurrency_limit=1, time_limit=120)

            with gr.Tab("Stats", id="stats"):
                gr.Markdown("Served since start-up, in memory only: no images, no identifiers.")
                with gr.Row():
                    stats_emotions = gr.BarPlot(x="emotion", y="faces", title="Emotions seen", sort=list(service.recognizer.classes))
                    stats_latency = gr.BarPlot(x="latency", y="requests", title="End-to-end latency",
                                               sort=[b for b, _ in service.stats.latency_histogram()])
                stats = gr.JSON(label="Session statistics")
                refresh = gr.Button("Refresh")
                refresh.click(stats_view, None, [stats, stats_emotions, stats_latency], api_visibility="private")
                demo.load(stats_view, None, [stats, stats_emotions, stats_latency], api_visibility="private")

            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT_MD)
                gr.Markdown(model_info_md(service.info()))
        gr.Markdown(DISCLAIMER_MD)

        # The programmatic API: exactly one input (an image file) and one output (the result as JSON).
        api_file, api_json, api_cam_json = gr.File(visible=False), gr.JSON(visible=False), gr.JSON(visible=False)
        gr.Button(visible=False).click(api_predict, api_file, api_json, api_name="predict",
                                       concurrency_limit=CONCURRENCY, time_limit=TIME_LIMIT_S)
        gr.Button(visible=False).click(api_explain, api_file, api_cam_json, api_name="explain",
                                       concurrency_limit=CONCURRENCY, time_limit=TIME_LIMIT_S)
        api_files, api_batch_json = gr.File(file_count="multiple", visible=False), gr.JSON(visible=False)
        gr.Button(visible=False).click(api_predict_batch, api_files, api_batch_json, api_name="predict_batch",
                                       concurrency_limit=1, time_limit=120)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=CONCURRENCY)
    # Gradio keeps per-session state for its 10,000 most recent sessions (every API call is a session): ~0.1 MB each,
    # which showed as steady RSS growth under load. A few hundred covers the people actually using the page.
    demo.state_session_capacity = SESSION_CAPACITY
    return demo


def create_app() -> FastAPI:
    api = FastAPI(title="Facial emotion recognition")

    @api.get("/health")
    def health() -> dict:
        return service.health()

    @api.get("/info")
    def info() -> dict:
        return service.info()

    @api.get("/stats")
    def stats() -> dict:
        return {**service.stats.summary(), "latency_histogram": dict(service.stats.latency_histogram())}

    max_upload = f"{int(service.recognizer.settings.max_file_mb * 3)}mb"  # larger files: refused by Gradio before disk
    return gr.mount_gradio_app(api, build_ui(), path="/", max_file_size=max_upload, css=CSS,
                               footer_links=["api"], allowed_paths=[EXAMPLES_DIR])


app = create_app()
janitor.start()

if __name__ == "__main__":
    uvicorn.run(app, host=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), log_level="warning")
