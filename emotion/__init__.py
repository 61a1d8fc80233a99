"""Facial emotion recognition: MediaPipe face detection + an ONNX Runtime FER-2013 classifier."""

from emotion.classes import CLASSES, EMOJI
from emotion.config import Settings
from emotion.recognizer import EmotionRecognizer
from emotion.result import ErrorResult, FaceResult, PredictionResult

__all__ = ["CLASSES", "EMOJI", "EmotionRecognizer", "ErrorResult", "FaceResult", "PredictionResult", "Settings"]
__version__ = "1.0.0"
