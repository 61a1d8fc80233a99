"""Pipeline settings with sane defaults, passed in by the caller.

``Settings()`` is the defaults: the library never reads the environment on its own. A caller that wants the
``EMOTION_*`` pipeline variables asks for them once, with ``Settings.from_env()``: the one reader of those variables,
used by the command line (``python -m emotion``) and by the server's configuration (``web.config.ServerConfig``,
which adds its own variables and documents the whole table in docs/API.md).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Mapping

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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The defaults, overridden by every ``ENVIRONMENT`` variable that is set (``environ``: default os.environ)."""
        environ = os.environ if environ is None else environ
        values = {}
        for var, name, _ in ENVIRONMENT:
            raw = environ.get(var, "").strip()
            if raw:
                values[name] = parse_field(cls, name, raw, var)
        return cls(**values)


# (variable, Settings field, meaning): the pipeline's settings a caller may take from the environment.
ENVIRONMENT: list[tuple[str, str, str]] = [
    ("EMOTION_MODEL_PATH", "model_path", "the `accurate` classifier (ONNX), the default"),
    ("EMOTION_FAST_MODEL_PATH", "fast_model_path", "the `fast` classifier (ONNX); served when the file exists"),
    ("EMOTION_CONFIDENCE_THRESHOLD", "confidence_threshold", "below it a face is flagged `is_uncertain`; unset: each "
                                                             "model's `uncertain_threshold` (chosen at export on "
                                                             "validation data)"),
    ("EMOTION_MAX_FILE_MB", "max_file_mb", "largest photo accepted, in MB"),
    ("EMOTION_MULTI_FACE", "multi_face", "`all`, `largest` or `error`"),
    ("EMOTION_MAX_FACES", "max_faces", "faces classified per photo (largest first)"),
    ("EMOTION_MIN_FACE_SCORE", "min_face_score", "face detection threshold"),
    ("EMOTION_ORT_THREADS", "ort_threads", "onnxruntime threads per request"),
]


def parse_field(owner: type, name: str, raw: str, var: str):
    """``raw`` (the text of variable ``var``) as the type of dataclass ``owner``'s field ``name``."""
    kind = {f.name: f.type for f in dataclasses.fields(owner)}[name]
    try:
        if kind == "int":
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        return raw.lower() if name == "multi_face" else raw
    except ValueError:
        raise ValueError(f"{var} must be a number, got {raw!r}") from None
