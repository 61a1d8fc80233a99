"""The Gradio page and the Gradio API: handlers plus wiring. Every decision lives in ``web.service`` / ``emotion``."""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from pathlib import Path

import gradio as gr
from PIL import Image

from emotion.classes import EMOJI
from emotion.errors import ImageRejected
from emotion.result import ErrorResult, PredictionResult
from emotion.validation import validate_image
from emotion.video import VideoResult
from web.components import EXAMPLE_CLIP, api_file, image_bytes
from web.config import ServerConfig
from web.face_views import ExpiringStore
from web.guard import EventRule
from web.privacy import gradio_temp_dir
from web.render import annotate, explanation_alt, explanation_image, photo_alt, verdict_html
from web.service import EmotionService
from web.ui_text import (ABOUT_MD, DISCLAIMER_MD, EMOTION_COLOURS, INTRO_MD, SEND_STATUS, VERDICT_HINT, kept_for, legend_html,
                         model_info_md, models_table_md, privacy_md)
from web.uploads import UploadStore

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = [str(EXAMPLES_DIR / f) for f in ("astronaut.jpg", "grace_hopper.jpg", "chelsea.jpg")]
LIVE_PREVIEW_SIDE = 480  # the live view is sent back inline (never a file), so it is kept small
LIVE_SHED_NOTE = " · {model} model (many cameras live)"  # service.live_model moved this frame to the fast model
PREVIEW_SIDE = 800  # the Upload tab's photo, shown back inline once read: ~50 KB, not the 1.2 MB of 1280 px at q88
PREVIEW_QUALITY = 80  # WebP (half a JPEG's bytes: every answer carries it, before its verdict shows, and Gradio keeps
PREVIEW_FORMAT = "WEBP"  # answers until the page reads them); the live view stays JPEG (10 a second: 1 ms, not 14)
SHOWABLE_ERRORS = ("no_face_detected", "image_too_small", "multiple_faces")  # a valid photo, without an answer


def _client(request: gr.Request | None) -> str:
    """The visitor's address (uvicorn's proxy-headers middleware has already resolved trusted proxies)."""
    return request.client.host if request is not None and request.client is not None else "local"


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def _is_example(path: str) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(EXAMPLES_DIR)


def _data_url(rgb, side: int = LIVE_PREVIEW_SIDE, quality: int = 80, fmt: str = "JPEG") -> str:
    """A JPEG (or WebP) as a data URL: shown on the page without ever being written to disk."""
    im = Image.fromarray(rgb)
    im.thumbnail((side, side), Image.Resampling.BILINEAR)  # half the time of the default bicubic (bench.capacity's profile)
    buf = io.BytesIO()
    im.save(buf, fmt, quality=quality, **({"method": 2} if fmt == "WEBP" else {}))  # WebP's method 2: 14 ms, 4 % larger than 4's 34
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def _note(text: str) -> str:
    """A plain, quiet message on the page (what to do next), instead of an error toast."""
    return f'<div class="batch-note" role="status">{html.escape(text)}</div>'


def _table_rows(results: list[tuple[str, PredictionResult | ErrorResult]]) -> list[list]:
    """The Batch table: one row per face, numbered as on the photos (1, 2, …); a photo without an answer shows the
    message a person can act on, not the error code."""
    rows = []
    for name, r in results:
        if isinstance(r, ErrorResult):
            rows.append([name, "", r.message, ""])
        else:
            rows += [[name, i + 1, f.emotion + (" (uncertain)" if f.is_uncertain else ""), f"{f.confidence:.0%}"]
                     for i, f in enumerate(r.faces)]
    return rows


NOT_READ = ("unsupported_format", "invalid_image", "file_too_large")  # files of a batch that were not photos it could read


def _skipped_note(results: list[tuple[str, PredictionResult | ErrorResult]]) -> str:
    """What a batch skipped, by name (a file that is not a photo is listed, never dropped in silence); "" when none."""
    skipped = [name for name, r in results if isinstance(r, ErrorResult) and r.error in NOT_READ]
    if not skipped:
        return ""
    names = ", ".join(skipped[:8]) + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else "")
    return _note(f"Skipped {len(skipped)} of {len(results)} file{'s' if len(results) != 1 else ''}: {names} "
                 f"({'is not a photo' if len(skipped) == 1 else 'are not photos'} this page can read: JPEG, PNG or WebP, "
                 "within the size limit). Each one's reason is in the table.")


def _refusal(text: str | None, max_mb: float) -> ErrorResult:
    """The photo box's refusal of a file the browser did not send (web/page.js): the server's message and code, with
    the file's name (JSON from the page: code, name, bytes)."""
    import json

    try:
        got = json.loads(text or "{}")
    except ValueError:
        got = {}
    name = str(got.get("name", ""))[:80] or "This file"
    if got.get("code") == "file_too_large":
        size = float(got.get("bytes") or 0) / 2**20
        return ErrorResult.of("file_too_large", f"The file is too large: {name} is {size:.1f} MB. Upload an image under "
                                                f"{max_mb:g} MB (a phone photo is usually 2–8 MB).")
    return ErrorResult.of("unsupported_format", f"Unsupported file type: {name} is not a photo. Upload a JPEG, PNG or WebP image.")


def _video_summary_html(result: VideoResult) -> str:
    """The Video tab's verdict: the dominant emotion and how much of the clip had a face (fixed strings only)."""
    s = result.summary
    top = s["dominant_emotion"]
    share = s["emotion_frames"].get(top, 0) / max(1, s["frames_with_face"])
    return (f'<div class="verdict"><div class="verdict-emoji">{EMOJI.get(top, "")}</div>'
            f'<div class="verdict-title">Mostly {top}</div>'
            f'<div class="verdict-conf">{share:.0%} of the frames with a face</div>'
            f'<div class="verdict-time">{s["frames_sampled"]} frames looked at over {result.duration_s:.1f} s '
            f'({result.fps_sampled:g} per second), a face in {s["face_share"]:.0%} of them; answered in '
            f'{result.processing_time_s:.1f} s</div></div>')


def _segment_rows(result: VideoResult) -> list[list]:
    return [[f"{seg['start']:.1f}", f"{seg['end']:.1f}", seg["emotion"] or "(no face)", seg["frames"],
             "" if seg["confidence"] is None else f"{seg['confidence']:.0%}"] for seg in result.summary["segments"]]


def build_ui(service: EmotionService, config: ServerConfig, uploads: UploadStore,
             video_uploads: UploadStore | None = None) -> gr.Blocks:
    # Clips get their own store: their size limit, and at most two clips' bytes held in memory (for a re-analysis
    # with the other model); the file leaves the disk as it is read, as photos do.
    video_uploads = video_uploads or UploadStore(uploads.root, config.max_video_bytes, owner_ttl_s=config.retention_s,
                                                 max_bytes=2 * config.max_video_bytes)

    def load(image, owner: str | None, store: UploadStore = uploads):
        """An uploaded file's path → its bytes (the file is deleted as it is read); anything else as it came."""
        if not isinstance(image, str):
            return image
        try:
            return store.read(image, owner)
        except ImageRejected as e:
            return e

    def load_video(path, owner: str | None):
        """An uploaded clip's path → its bytes (the file is deleted as it is read), or the refusal in video words."""
        got = load(path, owner, video_uploads)
        if not isinstance(got, ImageRejected):
            return got
        if got.code == "file_too_large":
            return ImageRejected("file_too_large", f"The video is too large. Upload a clip under {config.video_max_mb:g} MB.")
        return ImageRejected("invalid_video", got.message.replace("photo", "video").replace("image", "video"))

    # The Upload tab's last result per page session (for the face picker, "Why" and the model switch), with the upload
    # it came from. When it has gone (its time, or memory), the photo still on screen is answered again: what the page
    # says never contradicts what it shows.
    views: ExpiringStore[tuple[PredictionResult, str | None]] = ExpiringStore(config.face_view_ttl_s, config.session_capacity)
    no_picker = gr.update(choices=[], value=None, visible=False)

    def view(result: PredictionResult | ErrorResult, face: int = 0):
        """(annotated image, verdict, probabilities, face picker, CAM overlay, JSON) for one result."""
        if isinstance(result, ErrorResult):
            return None, verdict_html(result), None, no_picker, None, result.to_dict()
        choices = [f"Face {i + 1}" + (" (largest)" if i == 0 else "") for i in range(len(result.faces))]
        boxed = gr.update(value=annotate(result, face if len(result.faces) > 1 else None), alt_text=photo_alt(result))
        return (boxed, verdict_html(result, face), result.faces[face].probabilities,
                gr.update(choices=choices, value=choices[face], visible=len(choices) > 1), None, result.to_dict())

    def preview(image, data, result: PredictionResult | ErrorResult):
        """The photo box's new value: the validated, upright photo inline (a data URL), so the preview never depends
        on the uploaded file, which is deleted as soon as it has been read. Examples keep their own URL."""
        if not isinstance(image, str) or _is_example(image):
            return gr.skip()
        rgb = result.image if isinstance(result, PredictionResult) else None
        if rgb is None and isinstance(data, bytes) and getattr(result, "error", "") in SHOWABLE_ERRORS:
            try:
                rgb = validate_image(data, config.max_image_bytes).rgb
            except Exception:  # noqa: BLE001 - no preview is better than no answer
                rgb = None
        return _data_url(rgb, PREVIEW_SIDE, PREVIEW_QUALITY, PREVIEW_FORMAT) if rgb is not None else gr.skip()

    def answer(image, model: str, session: str | None, client: str, source: str | None = None):
        """A photo → (result, the bytes read, where they came from); the result is kept for the session."""
        data = None
        if source:  # the original upload, while its bytes are still held for this page (sharper than the preview)
            try:
                data = uploads.read(source, session)
            except ImageRejected:
                data = None
        if data is None:
            data, source = load(image, session), (image if isinstance(image, str) and not _is_example(image) else source)
        result = service.predict_upload(data, client, model=model)
        if session and isinstance(result, PredictionResult):
            views.put(session, (result, source))  # in memory, bounded in time and number, dropped when the tab closes
        elif session:
            views.drop(session)
        return result, data

    def cleared():
        return None, VERDICT_HINT, None, no_picker, None, None, gr.skip(), gr.update(interactive=False), 0

    def analyse_upload(image, model: str, request: gr.Request):
        """A new photo (uploaded, pasted or an example): one answer. Outputs: the six of ``view``, then the photo box
        (an inline preview), the "Why" button (usable only with an answer) and the chosen face."""
        session = _session(request)
        if image is None:
            if session:
                views.drop(session)
            return cleared()
        result, data = answer(image, model, session, _client(request))
        return (*view(result), preview(image, data, result), gr.update(interactive=result.success), 0)

    def analyse_example(index: int | None, model: str, request: gr.Request):
        """An example clicked: it goes in the photo box and is answered, in one queued event (the client names the
        example by its number, never by a path)."""
        if not isinstance(index, int) or not 0 <= index < len(EXAMPLES):
            return cleared()
        out = analyse_upload(EXAMPLES[index], model, request)
        return (*out[:6], EXAMPLES[index], *out[7:])

    def refuse_upload(text: str | None, request: gr.Request):
        """A file the page refused before sending (web/page.js): said in the verdict, the box and answer cleared."""
        session = _session(request)
        if session:
            views.drop(session)
        return (*view(_refusal(text, max_mb)), None, gr.update(interactive=False), 0)

    def clear_upload(request: gr.Request):
        """"Try another" or the photo box's ×: nothing shown, nothing kept, nothing to explain."""
        return analyse_upload(None, "", request)

    def shown_result(photo, model: str, request: gr.Request) -> PredictionResult | ErrorResult:
        """The result behind what the page shows: kept, or answered again from the photo on screen."""
        session = _session(request) or ""
        kept = views.get(session)
        if kept is not None:
            return kept[0]
        if photo is None:
            return ErrorResult.of("invalid_image", "This result is no longer kept. Upload the photo again to look at another face.")
        return answer(photo, model, session, _client(request))[0]

    def reanswer(photo, model: str, request: gr.Request):
        """The model was switched: the photo on screen is answered again by it (one request), first face chosen."""
        if photo is None:
            return (gr.skip(),) * 6 + (gr.skip(), gr.skip(), gr.skip())
        session = _session(request) or ""
        kept = views.get(session)
        result, _ = answer(photo, model, session, _client(request), source=kept[1] if kept else None)
        return (*view(result), gr.skip(), gr.update(interactive=result.success), 0)

    def pick_face(choice: str | None, photo=None, model: str | None = None, request: gr.Request = None):
        if not choice:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        result = shown_result(photo, model or models[0], request)
        if isinstance(result, ErrorResult):
            return gr.skip(), verdict_html(result), None, None, result.to_dict(), 0
        i = max(0, min(int(choice.split()[1]) - 1, len(result.faces) - 1))
        annotated_, verdict_, probs_, _, why, raw_ = view(result, i)
        return annotated_, verdict_, probs_, why, raw_, i

    def explain_face(face: int | None, photo=None, model: str | None = None, request: gr.Request = None):
        """"Why this emotion?" on request: an occlusion map of the chosen face (it costs ~65 classifications)."""
        if photo is None:
            gr.Warning("Upload a photo first: there is nothing to explain yet.", title="Nothing to explain")
            return None
        result = shown_result(photo, model or models[0], request)
        if isinstance(result, ErrorResult):
            gr.Warning(result.message, title="Nothing to explain")
            return None
        i = max(0, min(int(face or 0), len(result.faces) - 1))
        explanation = service.explain(result, i, _client(request))
        if isinstance(explanation, ErrorResult):
            gr.Warning(explanation.message, title="Please wait" if explanation.error == "rate_limited" else "Not explained")
            return None
        return gr.update(value=explanation_image(result.faces[i].crop, explanation.heat, explanation.emotion),
                         alt_text=explanation_alt(explanation.heat, explanation.emotion, i))

    def forget_session(request: gr.Request):
        """The tab closed: its face-picker result and the photos kept for its Batch tab go."""
        views.drop(_session(request) or "")
        uploads.forget(_session(request) or "")

    def analyse_frame(frame, model: str, request: gr.Request):
        if frame is None:  # the picture was removed (to take another): its answer stays until the next one
            return gr.skip(), gr.skip(), gr.skip()
        annotated, verdict, probs, _, _, _ = view(service.predict_frame(load(frame, None), _client(request), model))
        return annotated, verdict, probs

    def stream_frame(frame, smoothed, model: str, request: gr.Request):
        """Live mode: the view goes back inline (a data URL), so no live frame ever reaches the disk."""
        result, smoothed = service.stream_frame(load(frame, None), smoothed, _client(request), model=model)
        if isinstance(result, ErrorResult):
            return "", verdict_html(result), None, smoothed
        img = f'<img class="live-view" alt="{html.escape(photo_alt(result))}" src="{_data_url(annotate(result, max_side=LIVE_PREVIEW_SIDE))}">'
        shed = LIVE_SHED_NOTE.format(model=result.model) if result.model != (model or models[0]) else ""
        return img, verdict_html(result, note=shed), result.faces[0].probabilities, smoothed

    def api_predict(image_file: str | None, model: str | None, request: gr.Request) -> dict:
        """Emotion of every face in one image file (JPEG, PNG or WebP); `model`: "accurate" (default) or "fast".
        Result schema and error codes: /guide/api"""
        return service.predict_upload(load(image_file, None), _client(request), model=model or None).to_dict()

    def api_explain(image_file: str | None, model: str | None, request: gr.Request) -> dict:
        """As /predict, plus each face's class-activation map (``cam``: rows of heat in [0, 1] over the face crop)."""
        return service.predict_upload(load(image_file, None), _client(request), with_cam=True,
                                      model=model or None).to_dict(include_cam=True)

    def analyse_batch(paths: list[str] | None, model: str, request: gr.Request, progress=gr.Progress()):
        """Gallery of annotated photos, a table of every face, the CSV to download, and a note. A refusal (too many
        photos, the per-minute allowance) is said plainly in the note and keeps the results already shown."""
        keep = (gr.skip(), gr.skip(), gr.skip())
        if not paths:
            return (*keep, _note(f"Add photos first (up to {config.max_batch}), then click “Analyse all”."))
        if len(paths) > config.max_batch:  # counted before a single photo is read
            return (*keep, _note(f"{len(paths)} photos are selected; a batch takes at most {config.max_batch}. Remove "
                                 f"{len(paths) - config.max_batch} and try again; the results below are from the last batch."))
        try:
            session = _session(request)
            results, csv_text = service.predict_batch([(Path(p).name, load(p, session)) for p in paths], _client(request),
                                                      lambda i, n: progress((i, n), desc="Analysing photos"), model=model)
        except ValueError as e:
            return (*keep, _note(f"{e} Remove some and try again; the results below are from the last batch."))
        if results and all(isinstance(r, ErrorResult) and r.error == "rate_limited" for _, r in results):
            # the whole batch waits: say so, once
            return (*keep, _note(f"{results[0][1].message} The results below are from the last batch."))
        gallery = [(annotate(r), f"{name}: " + ", ".join(f"#{i + 1} {f.emotion}" for i, f in enumerate(r.faces)))
                   for name, r in results if r.success]
        fd, csv_path = tempfile.mkstemp(prefix="emotions_", suffix=".csv", dir=gradio_temp_dir())  # removed by the janitor
        with os.fdopen(fd, "w") as fh:
            fh.write(csv_text)
        return gallery, _table_rows(results), csv_path, _skipped_note(results)

    def api_predict_batch(image_files: list[str] | None, request: gr.Request) -> dict:
        """Several image files at once (at most ``max_batch``): one result per file, in order, plus the CSV of all faces."""
        try:
            results, csv_text = service.predict_batch([(Path(p).name, load(p, None)) for p in image_files or []], _client(request))
        except ValueError as e:
            return ErrorResult.of("too_many_files", str(e)).to_dict()
        return {"success": True, "results": [{"file": name, **r.to_dict()} for name, r in results], "csv": csv_text}

    def analyse_video(path: str | None, model: str, request: gr.Request, progress=gr.Progress()):
        """(verdict, timeline plot, segments, CSV, JSON) of one clip."""
        import pandas as pd  # a Gradio dependency

        empty = pd.DataFrame({"time": [], "emotion": [], "probability": []})
        if path is None:
            return _note("Add a clip first (MP4, WebM or MOV), then click “Analyse video”."), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        progress((0, 1), desc="Reading the video")
        result = service.predict_video(load_video(path, _session(request)), _client(request), model,
                                       lambda i, n: progress((i, n), desc="Analysing frames", unit="frames"))
        if isinstance(result, ErrorResult):
            return verdict_html(result), empty, [], None, result.to_dict()
        timeline = pd.DataFrame(result.timeline(), columns=["time", "emotion", "probability"])
        fd, csv_path = tempfile.mkstemp(prefix="video_emotions_", suffix=".csv", dir=gradio_temp_dir())  # the janitor removes it
        with os.fdopen(fd, "w") as fh:
            fh.write(result.csv_text())
        return _video_summary_html(result), timeline, _segment_rows(result), csv_path, result.to_dict()

    def api_predict_video(video_file: str | None, model: str | None, request: gr.Request) -> dict:
        """The emotion of the main face over time in one video clip (MP4, WebM or MOV); `model`: "accurate" (default) or
        "fast". Frames sampled at EMOTION_VIDEO_FPS per second, each with its faces, plus a summary. Schema: /guide/api"""
        return service.predict_video(load_video(video_file, None), _client(request), model or None).to_dict()

    def stats_view():
        import pandas as pd  # a Gradio dependency

        summary = service.stats.summary()
        emotions = pd.DataFrame({"emotion": list(summary["emotions"]), "faces": list(summary["emotions"].values())})
        hist = service.stats.latency_histogram()
        latency = pd.DataFrame({"latency": [b for b, _ in hist], "requests": [c for _, c in hist]})
        return summary, emotions, latency

    one_shot = dict(concurrency_id="pipeline", concurrency_limit=config.concurrency, time_limit=config.time_limit_s)
    # A "Why" waits in its own group, one fewer than the pipeline: waiting for the service's explanation slot inside a
    # pipeline worker would hold a worker that photos queue for (bench.capacity: 20 visitors, p95 2.98 s with one group)
    why_shot = dict(one_shot, concurrency_id="explain", concurrency_limit=max(1, config.concurrency - 1))
    max_mb = service.recognizer.settings.max_file_mb
    models = list(service.recognizer.model_names)
    with gr.Blocks(title="Facial emotion recognition") as demo:
        gr.Markdown(INTRO_MD)
        model = gr.Radio(models, value=models[0], label="Model", elem_id="model-choice", visible=len(models) > 1,
                         info="accurate: best answers · fast: about 3× quicker per face, slightly less accurate (see About)")
        with gr.Tabs():
            with gr.Tab("Upload", id="upload"):
                with gr.Row():
                    with gr.Column(scale=1):
                        photo = image_bytes(config.max_image_bytes, sources=["upload", "clipboard"], elem_id="photo-input",
                                            label=f"Photo (JPEG, PNG or WebP, up to {max_mb:g} MB)", height=360)
                        clear = gr.ClearButton(value="Try another", elem_id="try-another")
                        examples = gr.Dataset(components=[photo], samples=[[p] for p in EXAMPLES], type="index",
                                              label="Examples (public-domain photos; the cat has no human face)",
                                              elem_id="examples")
                    with gr.Column(scale=1):
                        # The answer first, beside the photo: readable in a laptop's first screen (the boxed photo,
                        # the same picture again, comes below the probabilities).
                        gr.HTML(SEND_STATUS, elem_id="photo-send", padding=False)
                        verdict = gr.HTML(VERDICT_HINT, elem_id="verdict")
                        face_pick = gr.Radio(label="Face", visible=False, elem_id="face-pick")
                        probs = gr.Label(num_top_classes=7, label="Probabilities (calibrated)", elem_id="probabilities",
                                         show_heading=False)  # the verdict above already says it
                        annotated = gr.Image(label="Faces found", interactive=False, elem_id="annotated", height=360)
                        why_go = gr.Button("Why this emotion?", elem_id="explain-go", size="sm", interactive=False)
                        cam = gr.Image(label="What the answer rests on",  # short: the picture's own legend explains it
                                       interactive=False, height=300, elem_id="cam")
                        with gr.Accordion("Raw result (JSON)", open=False):
                            raw = gr.JSON(elem_id="raw-json")
                face = gr.State(0)  # the face the picker shows (0-based), for "Why"
                refuse_text = gr.Textbox(visible=False)  # what web/page.js refused (filled by the event's js)
                shown = [annotated, verdict, probs, face_pick, cam, raw]
                upload_outputs = [*shown, photo, why_go, face]
                # One photo, one answer: `upload` fires once per file chosen, dropped or pasted (a value set by the
                # server, such as the inline preview, fires none); an example answers once it is in the box.
                photo.upload(analyse_upload, [photo, model], upload_outputs, api_visibility="private", **one_shot)
                examples.click(analyse_example, [examples, model], upload_outputs, api_visibility="private", **one_shot)
                photo.clear(clear_upload, None, upload_outputs, api_visibility="private")
                model.input(reanswer, [photo, model], upload_outputs, api_visibility="private", show_progress="minimal",
                            **one_shot)
                face_pick.input(pick_face, [face_pick, photo, model], [annotated, verdict, probs, cam, raw, face],
                                api_visibility="private", **one_shot)
                why_go.click(explain_face, [face, photo, model], cam, api_visibility="private", **why_shot)
                clear.add([photo, *shown])
                refuse = gr.Button("refuse", visible="hidden", elem_id="refuse-photo")
                refuse.click(refuse_upload, refuse_text, upload_outputs, js="() => [window.emotionRefusal || '']",
                             api_visibility="private")
                clear.click(clear_upload, None, upload_outputs, api_visibility="private")

            with gr.Tab("Webcam", id="webcam"):
                gr.Markdown("**Snapshot**: take a picture. **Live**: the label updates several times a second, smoothed over frames. "
                            "Live frames are processed in memory and never stored.")
                camera_help = '<div class="camera-message" role="alert" style="display:none"></div>'
                with gr.Tabs(elem_id="webcam-tabs"):
                    with gr.Tab("Snapshot"):
                        gr.HTML(camera_help)
                        with gr.Row():
                            snap = image_bytes(config.max_image_bytes, sources=["webcam"], label="Camera", elem_id="snap-camera")
                            with gr.Column():
                                snap_out = gr.Image(label="Faces found", interactive=False, elem_id="snap-view")
                                snap_verdict = gr.HTML(elem_id="snap-verdict")
                                snap_probs = gr.Label(num_top_classes=7, label="Probabilities", elem_id="snap-probabilities",
                                                      show_heading=False)
                        snap.change(analyse_frame, [snap, model], [snap_out, snap_verdict, snap_probs], api_visibility="private", **one_shot)
                    with gr.Tab("Live"):
                        gr.HTML(camera_help)
                        live_verdict = gr.HTML(elem_id="live-verdict")  # above the camera: in view with it on a phone
                        with gr.Row():
                            live = image_bytes(config.max_image_bytes, sources=["webcam"], streaming=True, label="Camera",
                                               elem_id="live-camera")
                            with gr.Column():
                                live_out = gr.HTML(label="Live", elem_id="live-view")
                                live_probs = gr.Label(num_top_classes=3, label="Probabilities (smoothed)", elem_id="live-probabilities",
                                                      show_heading=False)  # the answer above is the heading
                        live_state = gr.State()
                        live.stream(stream_frame, [live, live_state, model], [live_out, live_verdict, live_probs, live_state],
                                    stream_every=0.1, time_limit=config.stream_time_limit_s, concurrency_id="live",
                                    concurrency_limit=config.streams_total, api_visibility="private", show_progress="hidden")
                # web/page.js clicks this when a running camera's box leaves the screen (any tab, the phone's "⋯" menu,
                # another browser tab): it has released the camera and closed the stream; this rebuilds both camera
                # boxes in the browser (hidden, then shown: Gradio's webcam starts over at "Click to Access Webcam")
                # and clears the live answer, so coming back never shows a dead camera or a stale message.
                camera_reset = gr.Button("reset cameras", visible="hidden", elem_id="camera-reset")
                camera_reset.click(None, None, [snap, live, live_verdict, live_out, live_probs],
                                   js="() => [{__type__: 'update', visible: false}, {__type__: 'update', visible: false}, '', '', null]",
                                   ).then(None, None, [snap, live, live_verdict, live_out, live_probs],
                                          js="async () => { await new Promise((r) => setTimeout(r, 600));"  # a frame's late answer
                                             " return [{__type__: 'update', visible: true}, {__type__: 'update', visible: true}, '', '', null]; }")

            with gr.Tab("Batch", id="batch"):
                gr.Markdown(f"Up to {config.max_batch} photos at once: every face in a gallery and in a CSV (file, face, box, emotion, "
                            f"confidence, 7 probabilities). Results and the CSV stay downloadable for "
                            f"{kept_for(config.retention_s, config.retention_window_s)}.", elem_id="batch-tab-text")
                # Any file is taken (not only images): one that is not a photo is listed as skipped, never dropped in silence.
                batch_in = gr.File(file_count="multiple", label="Photos", elem_id="batch-input", height=220)
                batch_go = gr.Button("Analyse all", variant="primary", elem_id="batch-go")
                gr.HTML(SEND_STATUS, elem_id="batch-send", padding=False)
                batch_message = gr.HTML(elem_id="batch-message")
                batch_gallery = gr.Gallery(label="Results", columns=4, height=360, elem_id="batch-gallery")
                batch_table = gr.Dataframe(headers=["file", "#", "emotion (or what went wrong)", "confidence"], label="Faces",
                                           interactive=False, elem_id="batch-table", wrap=True,
                                           column_widths=["21%", "10%", "39%", "30%"])  # fits a phone: no column cut off
                batch_csv = gr.File(label="CSV", elem_id="batch-csv", elem_classes=["csv-download"])
                batch_go.click(analyse_batch, [batch_in, model], [batch_gallery, batch_table, batch_csv, batch_message],
                               api_visibility="private", concurrency_id="batch", concurrency_limit=1, time_limit=120,
                               show_progress_on=[batch_gallery])

            with gr.Tab("Video", id="video"):
                lim = config.video_limits
                gr.Markdown(f"A clip (MP4, WebM or MOV, up to **{lim.max_seconds:g} s** and **{lim.max_mb:g} MB**): "
                            f"{lim.fps:g} frames per second are analysed, the main face (the largest, then followed from "
                            "frame to frame) gives the timeline, and every face goes in the CSV (time, face, box, emotion, "
                            "confidence, 7 probabilities). The clip is decoded in memory and its file deleted from the "
                            "server as soon as it has been read; the CSV stays downloadable for "
                            f"{kept_for(config.retention_s, config.retention_window_s)}.", elem_id="video-tab-text")
                with gr.Row():
                    with gr.Column(scale=1):
                        # Any file: a photo or a document gets the server's sentence in the verdict, not Gradio's toast.
                        video_in = gr.File(label="Video clip", elem_id="video-input")
                        gr.HTML(SEND_STATUS, elem_id="video-send", padding=False)
                        video_go = gr.Button("Analyse video", variant="primary", elem_id="video-go")
                        video_verdict = gr.HTML(elem_id="video-verdict")
                    with gr.Column(scale=2):
                        video_plot = gr.LinePlot(x="time", y="probability", color="emotion", title="Main face over time",
                                                 x_title="seconds", y_title="probability", y_lim=[0, 1], elem_id="video-plot",
                                                 color_map=EMOTION_COLOURS, colors_in_legend=[])
                        gr.HTML(legend_html(), elem_id="video-legend")  # wraps on a phone, unlike the plot's own
                video_segments = gr.Dataframe(headers=["from", "to", "emotion", "frames", "confidence"],
                                              label="Segments, in seconds (the same emotion; runs under 1 s joined to a "
                                                    "neighbour; confidence: their mean)",
                                              interactive=False, elem_id="video-segments", wrap=True,
                                              column_widths=["16%", "15%", "22%", "18%", "29%"])  # fits a phone
                video_csv = gr.File(label="CSV (every face of every frame analysed)", elem_id="video-csv", elem_classes=["csv-download"])
                with gr.Accordion("Raw result (JSON)", open=False):
                    video_raw = gr.JSON(elem_id="video-raw-json")
                video_outputs = [video_verdict, video_plot, video_segments, video_csv, video_raw]
                # The progress shows once, on the verdict (not over every output, text over text).
                video_go.click(analyse_video, [video_in, model], video_outputs, api_visibility="private",
                               concurrency_id="video", concurrency_limit=1, time_limit=config.video_time_limit_s,
                               show_progress_on=[video_verdict])
                video_in.upload(analyse_video, [video_in, model], video_outputs, api_visibility="private",
                                concurrency_id="video", concurrency_limit=1, time_limit=config.video_time_limit_s,
                                show_progress_on=[video_verdict])

            with gr.Tab("Stats", id="stats") as stats_tab:
                gr.Markdown("Served since start-up, in memory only: no images, no identifiers.")
                with gr.Row():
                    stats_emotions = gr.BarPlot(x="emotion", y="faces", color="emotion", color_map=EMOTION_COLOURS, colors_in_legend=[],
                                                title="Emotions seen", sort=list(service.recognizer.classes), elem_id="stats-emotions")
                    stats_latency = gr.BarPlot(x="latency", y="requests", title="End-to-end latency", x_title="milliseconds",
                                               x_label_angle=-40, elem_id="stats-latency",
                                               sort=[b for b, _ in service.stats.latency_histogram()])
                stats = gr.JSON(label="Server statistics (all visitors since start-up)", elem_id="stats-json")
                refresh = gr.Button("Refresh", elem_id="stats-refresh")
                refresh.click(stats_view, None, [stats, stats_emotions, stats_latency], api_visibility="private")
                demo.load(stats_view, None, [stats, stats_emotions, stats_latency], api_visibility="private")
            # Fresh numbers whenever the Stats tab is opened (no stale page until Refresh).
            stats_tab.select(stats_view, None, [stats, stats_emotions, stats_latency], api_visibility="private")

            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT_MD)
                gr.Markdown(privacy_md(config.retention_window_s, config.face_view_ttl_s))
                gr.Markdown(model_info_md(service.info()))
                gr.Markdown(models_table_md(service.comparison()))
        gr.Markdown(DISCLAIMER_MD)
        demo.unload(forget_session)

        # The programmatic API: exactly one input (an image file) and one output (the result as JSON).
        api_image = api_file(visible=False, label="image")
        api_json, api_cam_json = gr.JSON(visible=False, label="result"), gr.JSON(visible=False, label="result")
        api_model = gr.Dropdown(models, value=models[0], visible=False, label="model")  # optional: defaults to "accurate"
        gr.Button(visible=False).click(api_predict, [api_image, api_model], api_json, api_name="predict", **one_shot)
        gr.Button(visible=False).click(api_explain, [api_image, api_model], api_cam_json, api_name="explain", **one_shot)
        api_files, api_batch_json = api_file(file_count="multiple", visible=False, label="images"), gr.JSON(visible=False, label="results")
        gr.Button(visible=False).click(api_predict_batch, api_files, api_batch_json, api_name="predict_batch",
                                       concurrency_id="batch", concurrency_limit=1, time_limit=120)
        api_video, api_video_json = api_file(EXAMPLE_CLIP, visible=False, label="video"), gr.JSON(visible=False, label="result")
        gr.Button(visible=False).click(api_predict_video, [api_video, api_model], api_video_json, api_name="predict_video",
                                       concurrency_id="video", concurrency_limit=1, time_limit=config.video_time_limit_s)
    demo.queue(max_size=config.queue_size, default_concurrency_limit=config.concurrency)
    # Gradio keeps per-session state for its 10,000 most recent sessions (every API call is one): ~0.1 MB each,
    # which showed as steady RSS growth under load. A few hundred covers the people actually using the page.
    demo.state_session_capacity = config.session_capacity
    return demo


def event_rules(demo: gr.Blocks, max_batch: int) -> dict[int, EventRule]:
    """What each of the page's and API's events may receive, for ``web.guard.RequestGuard``. The page's batch may name
    a few times ``max_batch`` files: the handler counts them before reading any and says plainly how many to remove
    (a refusal by the guard would reach the page as a bare error toast)."""
    # The photo on screen (an inline preview once answered) goes with the model switch, the picker and "Why".
    takes = {"analyse_upload": (1, False), "analyse_example": (0, False), "reanswer": (1, True), "pick_face": (1, True),
             "explain_face": (1, True), "api_predict": (1, False), "api_explain": (1, False),
             "analyse_frame": (1, True), "stream_frame": (1, True), "analyse_batch": (4 * max_batch, False),
             "api_predict_batch": (max_batch, False), "analyse_video": (1, False), "api_predict_video": (1, False)}
    rules = {}
    for fn_index, fn in demo.fns.items():
        files, data_urls = takes.get(fn.name, (0, False))
        defaults = tuple(getattr(c, "value", None) if not isinstance(c, gr.State) else None for c in fn.inputs)
        rules[fn_index] = EventRule(fn.name, files, data_urls, stream=fn.connection == "stream", defaults=defaults)
    return rules
