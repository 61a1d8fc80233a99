"""Zero retention of uploads: a janitor deletes every file in Gradio's temp folder soon after it was written.

Gradio stores uploads content-addressed (``<temp>/<sha256>/<name>``), so two requests with the same bytes
share one file; deleting it as soon as the first is answered would break the second, still queued. Instead,
every ``interval_s`` the janitor deletes files older than ``retention_s`` (default 30 s, well above the
per-request time limit) — uploads, Gradio's empty multipart leftovers and the annotated images sent back.
Nothing is spared: the example photos are served from their own folder (``gr.set_static_paths``), never copied here.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

log = logging.getLogger("web.privacy")


def gradio_temp_dir() -> Path:
    """Gradio's upload and cache folder (its own GRADIO_TEMP_DIR convention, read by Gradio's helper)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


class UploadJanitor:
    def __init__(self, root: str | os.PathLike | None = None, retention_s: float = 30.0, interval_s: float = 5.0):
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
            emptied = False
            for name in filenames:
                p = Path(dirpath) / name
                try:
                    st = p.lstat()
                    if now - st.st_mtime >= self.retention_s:
                        p.unlink()
                        removed += 1
                        emptied = True
                except OSError:
                    continue
            d = Path(dirpath)
            if d != self.root:
                try:  # a folder Gradio just made for an upload in flight is young and left alone
                    if not any(d.iterdir()) and (emptied or now - d.lstat().st_mtime >= self.retention_s):
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
