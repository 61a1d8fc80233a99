"""The app's request handling: per-client limit → bounded pipeline → stats. No Gradio in here.

Every entry point (photo, snapshot, live frame, batch, API) counts against its per-client limit *before* the image
is decoded, and at most ``concurrency`` images are decoded and classified at once across all of them, which bounds
memory whatever mix of events arrives. Logs carry only timings and error codes: never image bytes, upload file
names or face crops."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Union

import numpy as np

from emotion.batch import csv_rows, to_csv
from emotion.classifier import MODEL_NAMES
from emotion.errors import ImageRejected
from emotion.explain import Explanation, occlusion
from emotion.recognizer import EmotionRecognizer
from emotion.result import ErrorResult, PredictionResult, is_uncertain
from emotion.smoothing import ema
from emotion.validation import ImageSource, decode_cost
from emotion.video import VideoLimits, VideoResult, analyse as analyse_video, probe as probe_video
from web.fairness import FairSlot
from web.memory import return_memory
from web.ratelimit import RateLimiter
from web.stats import SessionStats

log = logging.getLogger("web.service")
Result = Union[PredictionResult, ErrorResult]
ImageInput = Union[ImageSource, ImageRejected, None]  # what a handler receives: bytes, a path, or a refusal to report
Progress = Callable[[int, int], None]
FAST_MODEL = MODEL_NAMES[1]  # the one live frames fall back to under load


class EmotionService:
    def __init__(self, recognizer: EmotionRecognizer, rate_limit_per_minute: int = 30, frame_limit_per_minute: int = 900,
                 concurrency: int = 2, max_batch: int = 20, max_waiting: int = 64, batch_photos_per_minute: int = 100):
        self.recognizer = recognizer
        self.limiter = RateLimiter(rate_limit_per_minute)
        self.frame_limiter = RateLimiter(frame_limit_per_minute)
        self.batch_limiter = RateLimiter(batch_photos_per_minute)  # a batch is one request with its own photo allowance
        self.max_batch = max_batch
        self.concurrency = max(1, concurrency)
        self._slots = threading.BoundedSemaphore(self.concurrency)
        # A "Why" is 64 classifications (0.8 s of a core with the accurate model): explanations take at most all slots
        # but one, so photos never wait behind them all (bench.capacity: the photo p95 knee with one "Why" in four).
        self._explain_slots = threading.BoundedSemaphore(max(1, self.concurrency - 1))
        self.max_waiting, self._waiting, self._waiting_lock = max_waiting, 0, threading.Lock()
        self.stats = SessionStats(self.recognizer.classes)
        self.started = time.time()
        self.video_limits = VideoLimits()
        self._live_seen: dict[str, float] = {}  # client → its last live frame (monotonic), for ``live_model``
        self._live_lock = threading.Lock()
        self.configure_live()
        self._video_slot = FairSlot(1)  # one clip decoded at a time, shared fairly; its frames share `_slots`

    def configure_video(self, limits: VideoLimits, concurrent: int = 1, slice_s: float = 30.0) -> None:
        """The clip limits (``web.config``: EMOTION_VIDEO_MAX_S, EMOTION_VIDEO_MAX_MB, EMOTION_VIDEO_FPS); ``slice_s``:
        how long a clip may keep the slot while another client's clip waits (``web.fairness``)."""
        self.video_limits = limits
        self._video_slot = FairSlot(concurrent, slice_s=slice_s)

    def configure_live(self, fast_from: int = 0, window_s: float = 1.0) -> None:
        """Live frames under load: from ``fast_from`` live cameras at once (clients that sent a frame in the last
        ``window_s``), frames asking for another model are read by the fast one, whose ensemble-free frame costs about
        half (bench.capacity's profile: the accurate ensemble is 40 % of a live frame's CPU). 0: never."""
        self._live_fast_from, self._live_window_s = fast_from, window_s

    def live_model(self, client: str, model: str | None) -> str | None:
        """The model that reads this client's next live frame (see ``configure_live``); records the frame's arrival."""
        now = time.monotonic()
        with self._live_lock:
            self._live_seen[client] = now
            for c in [c for c, t in self._live_seen.items() if now - t > self._live_window_s]:
                del self._live_seen[c]
            cameras = len(self._live_seen)
        if self._live_fast_from and cameras >= self._live_fast_from and FAST_MODEL in self.recognizer.model_names:
            return FAST_MODEL
        return model

    def _run(self, image: ImageInput, with_cam: bool = False, model: str | None = None) -> Result:
        if isinstance(image, ImageRejected):
            return ErrorResult.of(image.code, image.message)
        if image is None or (isinstance(image, (str, bytes)) and not image):
            return ErrorResult.of("invalid_image", "No image was received. Upload a JPEG, PNG or WebP photo.")
        if (unknown := self._unknown_model(model)) is not None:
            return unknown
        with self._turn() as admitted:
            if not admitted:
                return ErrorResult.of("busy")
            with self._slots:  # decode + detect + classify: at most `concurrency` at once, whatever the entry point
                return self.recognizer.predict(image, with_cam=with_cam, model=model)

    def _unknown_model(self, model: str | None) -> ErrorResult | None:
        if model is None or model in self.recognizer.model_names:
            return None
        return ErrorResult.of("invalid_request", f"Unknown model {model!r}: choose one of {', '.join(self.recognizer.model_names)}.")

    @contextmanager
    def _turn(self) -> Iterator[bool]:
        """Count a request as waiting or running while it is; False (not counted) when running + waiting already
        reach the bound: the caller answers ``busy`` at once instead of queueing without end."""
        with self._waiting_lock:
            admitted = not self._full()
            self._waiting += admitted
        try:
            yield admitted
        finally:
            if admitted:
                with self._waiting_lock:
                    self._waiting -= 1
                    idle = self._waiting == 0
                if idle:  # the last one out returns the heap's free pages (one trim at a time; others skip)
                    threading.Thread(target=return_memory, name="trim", daemon=True).start()

    def explain(self, result: PredictionResult, face: int, client: str = "local") -> Explanation | ErrorResult:
        """"Why this emotion?" for one face of a result: occlusion sensitivity with the model that answered, on the
        crop it saw. Counted like a photo (it costs about as much as classifying 60 faces), and bounded like one."""
        if not self.limiter.allow(client):
            return self._limited(self.limiter, client)
        with self._turn() as admitted:
            if not admitted:
                return ErrorResult.of("busy")
            with self._explain_slots, self._slots:
                return occlusion(self.recognizer.classifier_for(result.model), result.faces[face].crop)

    def admission(self, client: str) -> ErrorResult | None:
        """``rate_limited`` or ``busy`` when a request from ``client`` would be refused now (nothing is counted): lets
        a route answer before it reads a body or takes a thread it would only wait in."""
        if not self.limiter.would_allow(client):
            return self._limited(self.limiter, client)
        with self._waiting_lock:
            if self._full():
                return ErrorResult.of("busy")
        return None

    def _full(self) -> bool:
        """Running + waiting at the bound (hold ``_waiting_lock``)."""
        return self._waiting >= self.max_waiting + self.concurrency

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may send another photo."""
        return self.limiter.retry_after(client)

    def predict_upload(self, image: ImageInput, client: str = "local", with_cam: bool = False, model: str | None = None) -> Result:
        """One photo (bytes or an uploaded file's path): the per-client limit first (a photo of many megapixels counts
        as several: ``emotion.validation.decode_cost``), then the pipeline with ``model`` (one of
        ``recognizer.model_names``; None = the default, "accurate")."""
        cost = decode_cost(image)
        result = self._run(image, with_cam, model) if self.limiter.allow(client, cost) else self._limited(self.limiter, client, cost)
        self._record(result)
        if cost > 1:  # a large decode: what it freed goes back to the system, not to the next request's arena
            return_memory()
        return result

    def predict_batch(self, images: list[tuple[str, ImageInput]] | None, client: str = "local",
                      progress: Progress | None = None, model: str | None = None) -> tuple[list[tuple[str, Result]], str]:
        """Up to ``max_batch`` (name, image) pairs → (name, result) pairs and the CSV of all faces. One limit token
        per photo (more for photos of many megapixels: ``decode_cost``) from the batch allowance (separate from single
        photos), taken for the whole batch up front: a batch
        is answered whole or refused whole, with how long to wait."""
        images = list(images or [])
        if len(images) > self.max_batch:
            raise ValueError(f"At most {self.max_batch} photos per batch; you sent {len(images)}.")
        cost = sum(decode_cost(image) for _, image in images)
        if images and not self.batch_limiter.allow(client, cost=cost):
            limited = self._limited(self.batch_limiter, client, cost=cost)
            self._record(limited)
            return [(name, limited) for name, _ in images], to_csv(r for name, _ in images for r in csv_rows(name, limited))
        out, rows = [], []
        for i, (name, image) in enumerate(images):
            if progress is not None:
                progress(i, len(images))
            result = self._run(image, model=model)
            self._record(result)
            out.append((name, result))
            rows.extend(csv_rows(name, result))
        if cost > len(images):
            return_memory()
        return out, to_csv(rows)

    def predict_frame(self, frame: ImageInput, client: str = "local", model: str | None = None) -> Result:
        """A webcam snapshot: counted like a photo."""
        if frame is None:
            return ErrorResult.of("invalid_image", "No camera frame was received. Allow camera access and try again.")
        return self.predict_upload(frame, client, model=model)

    def stream_frame(self, frame: ImageInput, smoothed: np.ndarray | None, client: str = "local",
                     alpha: float = 0.35, model: str | None = None) -> tuple[Result, np.ndarray | None]:
        """Live webcam: its own per-client frame limit; the largest face's probabilities are averaged over frames
        (EMA) so the label does not flicker. Returns the result and the new smoothing state."""
        if frame is None:
            return ErrorResult.of("invalid_image", "No camera frame was received. Allow camera access and try again."), smoothed
        cost = decode_cost(frame)
        if not self.frame_limiter.allow(client, cost):
            return self._limited(self.frame_limiter, client, cost), smoothed
        result = self._run(frame, model=self.live_model(client, model))
        self._record(result)
        if isinstance(result, ErrorResult):
            return result, smoothed
        face = result.faces[0]
        smoothed = ema(smoothed, np.array([face.probabilities[c] for c in self.recognizer.classes]), alpha)
        face.probabilities = {c: float(p) for c, p in zip(self.recognizer.classes, smoothed)}
        face.is_uncertain = is_uncertain(smoothed, self.recognizer.threshold_for(model))
        return result, smoothed

    def video_cost(self, seconds: float | None) -> int:
        """Photos of the per-client limit one clip counts as: one per started 10 s (a 60 s clip = 6 photos)."""
        return max(1, math.ceil((seconds if seconds is not None else self.video_limits.max_seconds) / 10))

    def predict_video(self, data: bytes | ImageRejected | None, client: str = "local", model: str | None = None,
                      progress: Progress | None = None) -> Union[VideoResult, ErrorResult]:
        """One clip (its bytes): one photo of the per-client limit at once, the rest (``video_cost``) once the
        container says how long it is; then one clip decoded at a time, each sampled frame through the same
        bounded pipeline as a photo (a slot per frame, so photos keep being answered while a clip runs)."""
        if isinstance(data, ImageRejected):
            return self._record_video(ErrorResult.of(data.code, data.message))
        if not data:
            return self._record_video(ErrorResult.of("invalid_video", "No video was received. Upload an MP4, WebM or MOV clip."))
        if (unknown := self._unknown_model(model)) is not None:
            return unknown
        if not self.limiter.allow(client):
            return self._record_video(self._limited(self.limiter, client))
        with self._turn() as admitted:
            if not admitted:
                return self._record_video(ErrorResult.of("busy"))
            with self._video_slot.hold(client) as turn:
                try:
                    info = probe_video(data, self.video_limits)  # metadata only: no frame decoded yet
                except ImageRejected as e:
                    return self._record_video(ErrorResult.of(e.code, e.message))
                extra = self.video_cost(info.duration_s) - 1
                if extra and not self.limiter.allow(client, cost=extra):
                    return self._record_video(self._limited(self.limiter, client, cost=extra))

                def frame(rgb: np.ndarray) -> Result:
                    if turn.overdue():  # another client's clip waits: this one has had its share of the slot
                        raise ImageRejected("busy", f"Another person's clip was waiting, so this one was stopped after "
                                                    f"{turn.elapsed():.0f} s of analysis. Send a shorter clip (or one "
                                                    "with fewer faces), or try again in a minute.")
                    with self._slots:
                        return self.recognizer.predict(rgb, model=model)

                return self._record_video(analyse_video(data, self.recognizer, limits=self.video_limits, model=model,
                                                        progress=progress, predict=frame, info=info))

    @staticmethod
    def _record_video(result: Union[VideoResult, ErrorResult]) -> Union[VideoResult, ErrorResult]:
        """Videos are not counted in the photo statistics; the log gets the code or the size of the work only."""
        if isinstance(result, ErrorResult):
            log.info("video error=%s", result.error)
        else:
            log.info("video frames=%d faces=%d s=%.1f", len(result.frames), result.summary["frames_with_face"],
                     result.processing_time_s)
        return result

    @staticmethod
    def _limited(limiter: RateLimiter, client: str, cost: int = 1) -> ErrorResult:
        wait = limiter.retry_after(client, cost)
        return ErrorResult.of("rate_limited", f"Too many requests from you. Please wait {wait} s and try again.")

    def _record(self, result: Result) -> None:
        self.stats.record(result)
        if isinstance(result, ErrorResult):
            log.info("predict error=%s", result.error)
        else:
            log.info("predict faces=%d ms=%.1f", len(result.faces), result.inference_time_ms)

    def health(self) -> dict:
        return {"status": "ok", "model_loaded": self.recognizer.classifier.session is not None,
                "uptime_seconds": round(time.time() - self.started, 1)}

    def info(self) -> dict:
        """The model card in numbers: the default model's JSON (written beside it by export/evaluate, else its ONNX
        metadata) at the top level, as before, and every model this server holds under ``models``."""
        def card(name: str) -> dict:
            classifier = self.recognizer.classifier_for(name)
            sidecar = Path(classifier.path).with_suffix(".json")
            meta = json.loads(sidecar.read_text()) if sidecar.is_file() else dict(classifier.metadata)
            meta["classes"] = list(classifier.classes)
            meta["uncertain_threshold"] = self.recognizer.threshold_for(name)  # the one in force (configured or the model's)
            return meta

        cards = {name: card(name) for name in self.recognizer.model_names}
        return {**cards[self.recognizer.default_model], "default_model": self.recognizer.default_model, "models": cards}

    def comparison(self) -> dict | None:
        """The side-by-side evaluation of the models (``python -m bench.compare_models``), for the About tab."""
        return self.info().get("comparison")
