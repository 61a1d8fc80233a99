"""Face crop → classifier tensor. The single preprocessing path shared by training-time
evaluation, the app and the API, so that serving sees exactly what the model was scored on.

FER-2013 faces are 48×48 greyscale; the classifier takes them upscaled to ``INPUT_SIZE`` as one
grey channel in [0, 1] (ImageNet normalisation and the 3-channel replication live inside the
ONNX graph).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

INPUT_SIZE = 96


def to_grey(face: np.ndarray) -> np.ndarray:
    """uint8 grey H×W from grey H×W, H×W×1, RGB H×W×3 or RGBA H×W×4 (ITU-R 601 luma, as PIL's "L")."""
    arr = np.asarray(face)
    if arr.dtype != np.uint8:
        raise ValueError(f"face must be uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return np.asarray(Image.fromarray(np.ascontiguousarray(arr[:, :, :3])).convert("L"))
    raise ValueError(f"face must be H×W or H×W×{{1,3,4}}, got shape {arr.shape}")


def preprocess_faces(faces: Sequence[np.ndarray], size: int = INPUT_SIZE) -> np.ndarray:
    """Stack face crops into the model input: float32 (N, 1, size, size), grey, values in [0, 1].

    Each crop is converted to grey and resized with PIL's bilinear filter (antialiased when
    shrinking a large crop, plain bilinear when enlarging a 48×48 FER face).
    """
    out = np.empty((len(faces), 1, size, size), dtype=np.float32)
    for i, face in enumerate(faces):
        grey = Image.fromarray(to_grey(face))
        if grey.size != (size, size):
            grey = grey.resize((size, size), Image.BILINEAR)
        out[i, 0] = np.asarray(grey, dtype=np.float32) * (1.0 / 255.0)
    return out
