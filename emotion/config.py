"""Runtime settings, read once from environment variables with sane defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass

from emotion.classifier import DEFAULT_MODEL_PATH, FAST_MODEL_PATH

MULTI_FACE_POLICIES = ("all", "largest", "error")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default).strip() or default


@dataclass(frozen=True)
class Settings:
    model_path: str = str(DEFAULT_MODEL_PATH)  # the "accurate" model, the default
    fast_model_path: str = str(FAST_MODEL_PATH)  # the "fast" model (loaded only when a recognizer asks for it)
    confidence_threshold: float = 0.6  # below this a prediction is flagged is_uncertain
    max_file_mb: float = 20.0  # phone photos are 3–12 MB; JPEGs decode at reduced size, so size costs little
    multi_face: str = "all"  # all | largest | error
    max_faces: int = 20  # at most this many faces are classified (largest first)
    min_face_score: float = 0.5  # MediaPipe detection threshold
    ort_threads: int = 1

    def __post_init__(self) -> None:
        if self.multi_face not in MULTI_FACE_POLICIES:
            raise ValueError(f"EMOTION_MULTI_FACE must be one of {MULTI_FACE_POLICIES}, got {self.multi_face!r}")
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise ValueError("EMOTION_CONFIDENCE_THRESHOLD must be within [0, 1]")
        if self.max_file_mb <= 0 or self.max_faces < 1:
            raise ValueError("EMOTION_MAX_FILE_MB and EMOTION_MAX_FACES must be positive")

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def model_paths(self) -> dict[str, str]:
        """Model name → ONNX file, for ``EmotionRecognizer(models=...)``."""
        return {"accurate": self.model_path, "fast": self.fast_model_path}

    @classmethod
    def from_env(cls) -> "Settings":
        """EMOTION_MODEL_PATH, EMOTION_FAST_MODEL_PATH, EMOTION_CONFIDENCE_THRESHOLD, EMOTION_MAX_FILE_MB, EMOTION_MULTI_FACE,
        EMOTION_MAX_FACES, EMOTION_MIN_FACE_SCORE, EMOTION_ORT_THREADS."""
        d = cls()
        return cls(
            model_path=_env("EMOTION_MODEL_PATH", d.model_path),
            fast_model_path=_env("EMOTION_FAST_MODEL_PATH", d.fast_model_path),
            confidence_threshold=float(_env("EMOTION_CONFIDENCE_THRESHOLD", str(d.confidence_threshold))),
            max_file_mb=float(_env("EMOTION_MAX_FILE_MB", str(d.max_file_mb))),
            multi_face=_env("EMOTION_MULTI_FACE", d.multi_face).lower(),
            max_faces=int(_env("EMOTION_MAX_FACES", str(d.max_faces))),
            min_face_score=float(_env("EMOTION_MIN_FACE_SCORE", str(d.min_face_score))),
            ort_threads=int(_env("EMOTION_ORT_THREADS", str(d.ort_threads))),
        )
