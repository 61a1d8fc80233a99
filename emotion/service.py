"""The app's request handling, independent of Gradio: rate limit → pipeline → upload deleted → stats.

Logs carry only timings and error codes: never image bytes, upload file names or face crops."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from emotion.ratelimit import RateLimiter
from emotion.recognizer import EmotionRecognizer
from emotion.result import ErrorResult, PredictionResult
from emotion.stats import SessionStats

log = logging.getLogger("emotion.service")


class EmotionService:
    def __init__(self, recognizer: EmotionRecognizer | None = None, rate_limit_per_minute: int | None = None,
                 stream_limit_per_minute: int = 900):
        self.recognizer = recognizer or EmotionRecognizer()
        per_minute = rate_limit_per_minute if rate_limit_per_minute is not None else int(os.environ.get("EMOTION_RATE_LIMIT", "30"))
        self.limiter = RateLimiter(per_minute)
        self.stream_limiter = RateLimiter(stream_limit_per_minute)
        self.stats = SessionStats(self.recognizer.classes)
        self.started = time.time()

    def predict_upload(self, path: str | None, client: str = "local", with_cam: bool = False) -> PredictionResult | ErrorResult:
        """One uploaded file through the pipeline (the upload itself is removed by ``privacy.UploadJanitor``)."""
        if not self.limiter.allow(client):
            result: PredictionResult | ErrorResult = ErrorResult.of("rate_limited")
        elif not path:
            result = ErrorResult.of("invalid_image", "No image was received. Upload a JPEG, PNG or WebP photo.")
        else:
            result = self.recognizer.predict(path, with_cam=with_cam)
        self._record(result)
        return result

    def predict_batch(self, paths: list[str] | None, client: str = "local", progress=None) -> tuple[list[tuple[str, PredictionResult | ErrorResult]], str]:
        """Up to ``MAX_BATCH`` uploaded files → (name, result) pairs and the CSV of all faces. One rate-limit
        token per photo, so a batch cannot dodge the limit."""
        from emotion.batch import MAX_BATCH, csv_rows, to_csv

        paths = list(paths or [])
        if len(paths) > MAX_BATCH:
            raise ValueError(f"At most {MAX_BATCH} photos per batch; you sent {len(paths)}.")
        out, rows = [], []
        for i, path in enumerate(paths):
            if progress is not None:
                progress((i, len(paths)), desc="Analysing photos")
            name = Path(path).name  # returned to its uploader only; never logged
            result = self.predict_upload(path, client)
            out.append((name, result))
            rows.extend(csv_rows(name, result))
        return out, to_csv(rows)

    def predict_frame(self, frame: np.ndarray | None, client: str = "local") -> PredictionResult | ErrorResult:
        """A webcam frame (RGB array, never written to disk by us)."""
        if frame is None:
            return ErrorResult.of("invalid_image", "No camera frame was received. Allow camera access and try again.")
        if not self.stream_limiter.allow(client):
            return ErrorResult.of("rate_limited")
        result = self.recognizer.predict(frame)
        self._record(result)
        return result

    def stream_frame(self, frame: np.ndarray | None, smoothed: np.ndarray | None, client: str = "local",
                     alpha: float = 0.35) -> tuple[PredictionResult | ErrorResult, np.ndarray | None]:
        """Live webcam: the largest face's probabilities are averaged over frames (EMA) so the label does not
        flicker; returns the result (with smoothed probabilities) and the new smoothing state."""
        from emotion.smoothing import ema

        result = self.predict_frame(frame, client)
        if isinstance(result, ErrorResult):
            return result, smoothed
        face = result.faces[0]
        smoothed = ema(smoothed, np.array([face.probabilities[c] for c in self.recognizer.classes]), alpha)
        face.probabilities = {c: float(p) for c, p in zip(self.recognizer.classes, smoothed)}
        face.is_uncertain = bool(smoothed.max() < self.recognizer.settings.confidence_threshold)
        return result, smoothed

    def _record(self, result: PredictionResult | ErrorResult) -> None:
        self.stats.record(result)
        if isinstance(result, ErrorResult):
            log.info("predict error=%s", result.error)
        else:
            log.info("predict faces=%d ms=%.1f", len(result.faces), result.inference_time_ms)

    def health(self) -> dict:
        return {"status": "ok", "model_loaded": self.recognizer.classifier.session is not None,
                "uptime_seconds": round(time.time() - self.started, 1)}

    def info(self) -> dict:
        """The model card in numbers: the JSON written beside the model by export/evaluate, else the ONNX metadata."""
        sidecar = Path(self.recognizer.classifier.path).with_suffix(".json")
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else dict(self.recognizer.metadata)
        meta["classes"] = list(self.recognizer.classes)
        return meta
