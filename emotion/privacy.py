"""Zero retention of uploads: the file Gradio wrote for a request is deleted as soon as it is answered.

Only paths inside Gradio's temp folder are ever deleted, so an example shipped with the repo, or a path
a local caller passed to ``predict``, is never touched."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def gradio_temp_dir() -> Path:
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def discard_upload(path: str | os.PathLike | None) -> bool:
    """Delete an uploaded file (and the per-upload folder Gradio made for it) if it lies in Gradio's temp
    folder; returns whether anything was deleted."""
    if not path:
        return False
    p = Path(path).resolve()
    root = gradio_temp_dir()
    if root not in p.parents:
        return False
    try:
        p.unlink(missing_ok=True)
        parent = p.parent
        if parent != root and root in parent.parents and not any(parent.iterdir()):
            shutil.rmtree(parent, ignore_errors=True)
    except OSError:
        return False
    return True
