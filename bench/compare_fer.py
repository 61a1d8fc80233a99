"""``python -m bench.compare_fer --data ../shared/fer2013``: this app against the popular ``fer`` library
(v25.10.3, its bundled quantized .tflite model and Haar cascade), side by side in one run:

1. FER-2013 PrivateTest, each model given the 48×48 crop directly: accuracy, macro-F1, ms per face.
2. The repo's example photos through each full pipeline (detector + classifier): label and ms per photo.

fer is installed with ``pip install --no-deps -r bench/requirements-compare.txt`` (no tensorflow): its
``FER.detect_emotions`` pipeline is re-done here step by step (grey → Haar → square box + 10 px offsets →
64×64 → (x/255 − 0.5)·2 → tflite), as in fer/fer.py of that release.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import f1_score

from emotion import EmotionRecognizer
from emotion.classes import CLASSES

ROOT = Path(__file__).resolve().parent.parent
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer's output order
FER_PADDING = 40


class FerLibrary:
    def __init__(self):
        from ai_edge_litert.interpreter import Interpreter

        spec = importlib.util.find_spec("fer")
        if spec is None:
            raise SystemExit("fer is not installed: pip install --no-deps -r bench/requirements-compare.txt")
        data = Path(list(spec.submodule_search_locations)[0]) / "data"
        self.interpreter = Interpreter(model_path=str(data / "emotion_model_quantized.tflite"), num_threads=1)
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]["index"]
        self.out = self.interpreter.get_output_details()[0]["index"]
        self.cascade = cv2.CascadeClassifier(str(data / "haarcascade_frontalface_default.xml"))
        self.order = [FER_LABELS.index(c) for c in CLASSES]  # fer's columns → our class order

    def classify(self, grey64: np.ndarray) -> np.ndarray:
        x = ((grey64.astype(np.float32) / 255.0) - 0.5) * 2.0
        self.interpreter.set_tensor(self.inp, x[None, :, :, None])
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.out)[0][self.order]

    def detect_emotions(self, rgb: np.ndarray) -> list[str]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        faces = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, flags=cv2.CASCADE_SCALE_IMAGE, minSize=(50, 50))
        padded = cv2.copyMakeBorder(grey, FER_PADDING, FER_PADDING, FER_PADDING, FER_PADDING, cv2.BORDER_CONSTANT,
                                    value=cv2.mean(grey[-2:])[0])
        labels = []
        for x, y, w, h in faces:
            if w < h:  # fer's tosquare
                x, w = x - (h - w) // 2, h
            elif w > h:
                y, h = y - (w - h) // 2, w
            x1, y1 = max(0, x - 10 + FER_PADDING), max(0, y - 10 + FER_PADDING)
            x2, y2 = x + w + 10 + FER_PADDING, y + h + 10 + FER_PADDING
            crop = cv2.resize(padded[y1:y2, x1:x2], (64, 64))
            labels.append(CLASSES[int(self.classify(crop).argmax())])
        return labels


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.compare_fer", description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "fer2013"))
    p.add_argument("--runs", type=int, default=20)
    a = p.parse_args()
    from train.data import load_fer2013

    ours, fer = EmotionRecognizer(), FerLibrary()
    test = load_fer2013(a.data)["test"]
    y = test.labels

    t0 = time.perf_counter()
    fer_pred = np.array([fer.classify(cv2.resize(img, (64, 64))).argmax() for img in test.images])
    fer_ms = (time.perf_counter() - t0) * 1e3 / len(y)
    ours_pred = []
    t0 = time.perf_counter()
    for img in test.images:  # one face per call, as fer does
        ours_pred.append(ours.classify_faces([img])[0].argmax())
    ours_ms = (time.perf_counter() - t0) * 1e3 / len(y)
    ours_pred = np.array(ours_pred)

    print(f"FER-2013 PrivateTest ({len(y)} faces), crop given directly, batch 1, one thread")
    print("| model | accuracy | macro-F1 | ms per face |\n|---|---|---|---|")
    for name, pred, ms in (("fer 25.10.3 (bundled tflite, 64 px)", fer_pred, fer_ms),
                           (f"this app ({ours.metadata['architecture']}, {ours.classifier.input_size} px, ONNX Runtime)", ours_pred, ours_ms)):
        f1 = f1_score(y, pred, average="macro", labels=list(range(7)), zero_division=0)
        print(f"| {name} | {(pred == y).mean():.2%} | {f1:.3f} | {ms:.2f} |")

    print(f"\nExample photos through each full pipeline (detector + classifier), median of {a.runs} runs")
    print("| photo | fer: faces → labels | fer ms | this app: faces → labels | this app ms |\n|---|---|---|---|---|")
    for path in sorted((ROOT / "examples").glob("*.jpg")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        data = path.read_bytes()
        fer_t, our_t = [], []
        for _ in range(a.runs):
            t = time.perf_counter()
            fer_labels = fer.detect_emotions(cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
            fer_t.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            r = ours.predict(data)
            our_t.append((time.perf_counter() - t) * 1e3)
        our_labels = [f.emotion for f in r.faces] if r.success else [r.error]
        print(f"| {path.name} ({rgb.shape[1]}×{rgb.shape[0]}) | {len(fer_labels)} → {', '.join(fer_labels) or '–'} | "
              f"{np.median(fer_t):.1f} | {len(r.faces) if r.success else 0} → {', '.join(our_labels)} | {np.median(our_t):.1f} |")


if __name__ == "__main__":
    main()
