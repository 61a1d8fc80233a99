"""One visitor's whole use of a running server, over HTTP as the page and programs do: the page and its documents,
a photo through the Gradio API (upload → event) and through ``gradio_client``, "Why" (the explanation), the fast
model, REST ``/api/predict``, a video clip, and a live webcam stream of a few frames.

Used by tests/test_no_egress.py (under ``strace``) and the Space rehearsal (through nginx): both need every path of
the app exercised once, each step answered."""

from __future__ import annotations

from dataclasses import replace

import httpx
from PIL import Image

from bench.attacks import ASTRONAUT_PATH, Wire, data_url, encode, path_entry
from bench.soak import LiveStream

PAGES = ("/", "/config", "/health", "/info", "/model-card", "/guide/api", "/docs")


def whole_use(url: str, ip: str | None = None, live_frames: int = 5) -> dict[str, str]:
    """Each step → "ok" or what went wrong (``ip``: sent as X-Forwarded-For, for a server that trusts the caller)."""
    steps: dict[str, str] = {}
    headers = {"X-Forwarded-For": ip} if ip else {}
    photo = ASTRONAUT_PATH.read_bytes()
    with httpx.Client(base_url=url, timeout=120, headers=headers) as http:
        for path in PAGES:
            r = http.get(path)
            steps[f"GET {path}"] = "ok" if r.status_code == 200 and r.content else f"HTTP {r.status_code}"
        for model in ("accurate", "fast"):
            r = http.post("/api/predict", params={"model": model}, files={"file": ("astronaut.jpg", photo)})
            steps[f"REST predict {model}"] = _verdict(r.json() if r.status_code == 200 else {"error": f"HTTP {r.status_code}"})
        r = http.post("/api/predict_video", files={"file": ("clip.mp4", face_clip())})
        steps["REST video"] = _verdict(r.json()) if r.headers.get("content-type", "").startswith("application/json") \
            else f"HTTP {r.status_code}"
    wire = replace(Wire(url), ip=ip)
    path = wire.upload("astronaut.jpg", photo)
    for fn in ("predict", "explain"):
        _, out, final = wire.run(fn, [path_entry(path)])
        steps[f"gradio {fn}"] = _verdict(out[0]) if out else f"no answer: {str(final)[:80]}"
    steps["gradio_client predict"] = _client_predict(url, headers)
    frames = [data_url(encode(Image.open(ASTRONAUT_PATH).convert("RGB").resize((320, 320)).rotate(i), "JPEG"), "image/jpeg")
              for i in range(3)]
    try:
        stream = LiveStream(wire, frames)
        answers = [stream.frame() for _ in range(live_frames)]
        stream.close()
        steps["live frames"] = "ok" if answers.count("ok") == live_frames else f"answers {answers}"
    except RuntimeError as e:
        steps["live frames"] = str(e)[:120]
    return steps


def face_clip(seconds: float = 2.0, fps: int = 5) -> bytes:
    """A short MP4 of the astronaut's photo drifting a little: a face in every frame."""
    import tempfile
    from pathlib import Path

    import cv2
    import numpy as np

    im = np.asarray(Image.open(ASTRONAUT_PATH).convert("RGB").resize((256, 256)))[:, :, ::-1]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "clip.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (256, 256))
        for i in range(int(seconds * fps)):
            writer.write(np.roll(im, i, axis=1).copy())
        writer.release()
        return Path(path).read_bytes()


def _verdict(result: dict) -> str:
    return "ok" if result.get("success") else str(result.get("error"))


def _client_predict(url: str, headers: dict) -> str:
    from gradio_client import Client, handle_file

    client = Client(url, headers=headers or None, verbose=False, download_files=False)
    return _verdict(client.predict(handle_file(str(ASTRONAUT_PATH)), api_name="/predict"))
