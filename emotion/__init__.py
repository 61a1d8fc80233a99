"""Facial emotion recognition: MediaPipe face detection + an ONNX Runtime FER-2013 classifier."""

from emotion.offline import go_offline

go_offline()  # before onnxruntime, MediaPipe or anything else loads: nothing phones home (emotion/offline.py)

from emotion.classes import CLASSES, EMOJI
from emotion.config import Settings
from emotion.recognizer import EmotionRecognizer
from emotion.result import ErrorResult, FaceResult, PredictionResult

__all__ = ["CLASSES", "EMOJI", "EmotionRecognizer", "ErrorResult", "FaceResult", "PredictionResult", "Settings"]
__version__ = "1.0.0"
