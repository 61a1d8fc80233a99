"""The ONNX Runtime classifier: model input tensor → calibrated probabilities (and class-activation maps).

Everything the runtime needs (class order, input size, temperature) is read from the model's own
``metadata_props``, so a model file is self-describing and cannot drift from a separate config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort


def models_dir() -> Path:
    """Where the served models are: inside the package once installed (``pip install .`` puts the repository's
    ``models/`` files in ``emotion/models/``), else the repository's own ``models/`` folder beside the package."""
    here = Path(__file__).resolve().parent
    installed = here / "models"
    return installed if installed.is_dir() else here.parent / "models"


DEFAULT_MODEL_PATH = models_dir() / "emotion_classifier.onnx"
# The int8, no-TTA model made from the one above by ``python -m train.quantize`` (see docs/MODEL_CARD.md).
FAST_MODEL_PATH = DEFAULT_MODEL_PATH.with_name("emotion_classifier_fast.onnx")
# The models a caller can choose by name; the first is the default.
MODEL_NAMES = ("accurate", "fast")


def scale(logits: np.ndarray, temperature: float | np.ndarray = 1.0) -> np.ndarray:
    """Logits divided by the temperature: one number, or one per class (shape (C,)) applied to each row by its top
    class. Dividing a row by one positive number keeps its argmax, so calibration never changes the answer, only how
    sure it says it is (a model can be over-confident when it says "neutral" and under-confident on "surprise")."""
    t = np.asarray(temperature, dtype=np.float64)
    if t.ndim:
        t = t[logits.argmax(axis=1)][:, None]
    return logits.astype(np.float64) / t


def softmax(logits: np.ndarray, temperature: float | np.ndarray = 1.0) -> np.ndarray:
    z = scale(logits, temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def describe_temperature(meta: dict) -> str:
    """The calibration in words for model cards and the About tab: ``T = 0.94`` or ``T = 0.94; per predicted class …``."""
    text = f"T = {meta.get('temperature', '?')}"
    by_class = meta.get("temperature_by_class")
    if isinstance(by_class, dict):
        text += "; per predicted class " + ", ".join(f"{c} {float(t):.2f}" for c, t in by_class.items())
    return text


class OnnxEmotionClassifier:
    """One onnxruntime session, loaded once; thread-safe (``InferenceSession.run`` is)."""

    def __init__(self, model_path: str | os.PathLike = DEFAULT_MODEL_PATH, threads: int = 1):
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"model not found at {path}: train and export it with `python -m train` and `python -m train.export`")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.enable_cpu_mem_arena = False  # the arena grows per concurrent caller and never shrinks: steady RSS under load
        self.path = path
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        props = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict = {k: _maybe_json(v) for k, v in props.items()}
        self.classes: tuple[str, ...] = tuple(self.metadata["classes"])
        self.input_size = int(self.metadata["input_size"])
        self.temperature = float(self.metadata.get("temperature", 1.0))
        # Optional (python -m train.recalibrate --by-class): one temperature per predicted class; else the one above.
        by_class = self.metadata.get("temperature_by_class")
        self.temperatures: float | np.ndarray = (np.array([float(by_class[c]) for c in self.classes])
                                                 if isinstance(by_class, dict) else self.temperature)
        # Chosen at export on validation data (PublicTest and real photos): below it, a face is flagged uncertain.
        self.uncertain_threshold = float(self.metadata.get("uncertain_threshold", 0.6))
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Raw logits (N, 7) for a preprocessed batch (N, 1, S, S) float32 in [0, 1]."""
        return self.session.run(["logits"], {self.input_name: x})[0]

    def logits_and_cam(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and class-activation maps (N, 7, h, w) in one pass."""
        logits, cam = self.session.run(["logits", "cam"], {self.input_name: x})
        return logits, cam

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Logits → temperature-calibrated probabilities (N, 7); rows sum to 1; the argmax is the logits' argmax."""
        return softmax(logits, self.temperatures)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return self.calibrate(self.logits(x))


def _maybe_json(value: str):
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value
