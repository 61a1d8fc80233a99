"""Start-up: warm the pipeline once before serving (the first visitor does not pay for it), keep the native
libraries' start-up chatter out of the log, and say where the app listens and when it is ready.

MediaPipe's detector runs on TensorFlow Lite, whose C++ code writes straight to the process's stderr when a graph first
runs: "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", absl's "WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR" and "Feedback manager requires a model with a single signature
inference. Disabling support for feedback tensors." (one per detector). All three are information, not errors, and no
environment variable of MediaPipe 0.10.21 turns them off. ``app.py`` builds the recognizer and runs every detector once
(``warm_up``) with stderr routed to a file (``native_stderr_filtered``); those known lines are dropped, anything else is
passed on untouched.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

log = logging.getLogger("web.startup")
KNOWN_NOISE = re.compile(r"Created TensorFlow Lite XNNPACK delegate for CPU|All log messages before absl::InitializeLog"
                         r"|Feedback manager requires a model with a single signature")


@contextmanager
def native_stderr_filtered():
    """While the block runs, the process's stderr (file descriptor 2, where native code writes) goes to a file; after
    it, lines matching ``KNOWN_NOISE`` are dropped and the rest are written to stderr as they came."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines = sink.read().decode("utf-8", "replace").splitlines()
            kept = [line for line in lines if not KNOWN_NOISE.search(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
            if len(kept) < len(lines):
                log.debug("hid %d start-up line(s) of TensorFlow Lite / absl (information, not errors)", len(lines) - len(kept))


def warm_up(recognizer, photo: Path) -> float:
    """Run each model and every detector (the whole frame, and the tiles a large photo is searched in) once; seconds."""
    t0 = time.perf_counter()
    face = Image.open(photo).convert("RGB")
    large = Image.new("RGB", (3000, 2000), (90, 90, 90))
    large.paste(face.resize((240, 280)), (1400, 900))
    for model in recognizer.model_names:
        recognizer.predict(np.asarray(face), model=model)
    recognizer.predict(np.asarray(large))
    return time.perf_counter() - t0


def ready_line(host: str, port: int, models: list[str], warm_s: float, on_space: bool) -> str:
    """The one line that says the app is serving, and where."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") and not on_space else host
    where = f"http://{shown}:{port}" + (" (listening on all addresses)" if host in ("0.0.0.0", "::") else "")
    return f"ready: {where} · models {', '.join(models)} · warmed up in {warm_s:.1f} s" + (" · on a Space" if on_space else "")


def serve(app, host: str, port: int, ready: str, **uvicorn_options) -> None:
    """uvicorn, quiet (warnings only), printing ``ready`` once its socket is listening: a reader, or a script waiting
    for the app, knows it may connect."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                print(ready, flush=True)

    Server(uvicorn.Config(app, host=host, port=port, log_level="warning", **uvicorn_options)).run()
