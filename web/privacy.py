"""Bounded retention: a janitor deletes every file in Gradio's folder older than ``retention_s``.

Uploads leave that folder as soon as they are read (``web.uploads.UploadStore``). What remains there is what the page
shows back (annotated photos, heatmaps, the batch CSV, which must stay downloadable while the visitor looks at them)
and uploads nobody analysed; every ``interval_s`` the janitor deletes those older than ``retention_s`` (default
300 s), plus Gradio's empty multipart leftovers. Nothing is spared: the example photos are served from their own
folder (``gr.set_static_paths``), never copied here.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

log = logging.getLogger("web.privacy")
EMPTY_LEFTOVER_S = 3.0  # an upload still being written grows (and touches its mtime) within this


def gradio_temp_dir() -> Path:
    """Gradio's upload and cache folder (its own GRADIO_TEMP_DIR convention, read by Gradio's helper)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


class UploadJanitor:
    def __init__(self, root: str | os.PathLike | None = None, retention_s: float = 300.0, interval_s: float = 5.0):
        self.root = Path(root).resolve() if root else gradio_temp_dir()
        self.retention_s, self.interval_s = retention_s, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def window_s(self) -> float:
        """The longest a file can live: its retention plus one sweep interval."""
        return self.retention_s + self.interval_s

    def sweep(self, now: float | None = None) -> int:
        """Delete files older than the retention (and then empty folders); returns how many files went."""
        now = time.time() if now is None else now
        if not self.root.is_dir():
            return 0
        removed = 0
        for dirpath, dirnames, filenames in os.walk(self.root, topdown=False):
            for name in filenames:
                p = Path(dirpath) / name
                try:
                    st = p.lstat()
                    leftover = Path(dirpath) == self.root and st.st_size == 0  # Gradio's empty multipart temp file
                    if now - st.st_mtime >= (EMPTY_LEFTOVER_S if leftover else self.retention_s):
                        p.unlink()
                        removed += 1
                except OSError:
                    continue
            d = Path(dirpath)
            if d != self.root:
                try:  # only a folder empty for a whole retention: one just emptied may be receiving the same photo again
                    if not any(d.iterdir()) and now - d.lstat().st_mtime >= self.retention_s:
                        shutil.rmtree(d, ignore_errors=True)
                except OSError:
                    continue
        if removed:
            log.info("janitor removed %d file(s)", removed)
        return removed

    def start(self) -> "UploadJanitor":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="upload-janitor", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - the janitor must outlive any odd file
                log.exception("janitor sweep failed")
