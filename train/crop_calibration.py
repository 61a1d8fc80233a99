"""``python -m train.crop_calibration --data PATH``: measure how FER-2013 framed its faces relative to
the MediaPipe box that serving will see, so that serving crops like the training data.

Each FER training face (48×48) is enlarged and placed in the middle of a larger neutral canvas; the same
detector the app uses finds it; since we know exactly where the FER crop lies on the canvas, we get the
ratio crop side / box side and the offset of the crop centre from the box centre, in box units. Medians
over the detected faces become ``emotion.faces.CROP_SCALE`` and ``CROP_SHIFT``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from PIL import Image
from tqdm import tqdm

from emotion.faces import FaceDetector
from train.data import load_fer2013


def measure(images: np.ndarray, upscale: int = 4, canvas_factor: int = 3) -> dict:
    det = FaceDetector()
    side = images.shape[1] * upscale
    canvas_side = side * canvas_factor
    off = (canvas_side - side) // 2
    rows = []
    for img in tqdm(images, desc="detecting", unit="face", mininterval=2):
        face = np.asarray(Image.fromarray(img).resize((side, side), Image.BICUBIC))
        canvas = np.full((canvas_side, canvas_side), int(np.median(img)), np.uint8)
        canvas[off:off + side, off:off + side] = face
        found = det.detect(np.stack([canvas] * 3, axis=-1))
        if not found:
            continue
        x, y, w, h = found[0].box
        box_side = max(w, h)
        rows.append((side / box_side, (off + side / 2 - (x + w / 2)) / box_side, (off + side / 2 - (y + h / 2)) / box_side, w / h))
    det.close()
    a = np.asarray(rows)
    q = lambda col: [round(float(v), 3) for v in np.percentile(a[:, col], [25, 50, 75])]
    return {"faces": len(images), "detected": len(rows), "detection_rate": round(len(rows) / len(images), 3),
            "crop_scale_q25_50_75": q(0), "shift_x_q25_50_75": q(1), "shift_y_q25_50_75": q(2), "box_aspect_w_h_q25_50_75": q(3),
            "CROP_SCALE": round(float(np.median(a[:, 0])), 3),
            "CROP_SHIFT": [round(float(np.median(a[:, 1])), 3), round(float(np.median(a[:, 2])), 3)]}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m train.crop_calibration", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=1000, help="number of training faces to measure (a fixed random sample)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    train = load_fer2013(a.data)["train"]
    idx = np.random.default_rng(a.seed).choice(len(train), size=min(a.n, len(train)), replace=False)
    print(json.dumps(measure(train.images[np.sort(idx)]), indent=2))


if __name__ == "__main__":
    main()
