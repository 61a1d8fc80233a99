"""Pipeline settings with sane defaults, passed in by the caller (the library never reads the environment:
``web.config`` does, once, for the server and the command line)."""

from __future__ import annotations

from dataclasses import dataclass

from emotion.classifier import DEFAULT_MODEL_PATH, FAST_MODEL_PATH

MULTI_FACE_POLICIES = ("all", "largest", "error")


@dataclass(frozen=True)
class Settings:
    model_path: str = str(DEFAULT_MODEL_PATH)  # the "accurate" model, the default
    fast_model_path: str = str(FAST_MODEL_PATH)  # the "fast" model (loaded only when a recognizer asks for it)
    confidence_threshold: float | None = None  # below this a face is flagged is_uncertain; None: the model's own
    max_file_mb: float = 20.0  # phone photos are 3–12 MB; JPEGs decode at reduced size, so size costs little
    multi_face: str = "all"  # all | largest | error
    max_faces: int = 20  # at most this many faces are classified (largest first)
    min_face_score: float = 0.5  # MediaPipe detection threshold
    ort_threads: int = 1

    def __post_init__(self) -> None:
        if self.multi_face not in MULTI_FACE_POLICIES:
            raise ValueError(f"EMOTION_MULTI_FACE must be one of {MULTI_FACE_POLICIES}, got {self.multi_face!r}")
        if self.confidence_threshold is not None and not 0.0 <= self.confidence_threshold <= 1.0:
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
