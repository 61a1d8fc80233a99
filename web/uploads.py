"""Uploaded photos leave the disk as soon as they are read; their bytes stay in memory only as long as needed.

Gradio writes every upload to its folder, content-addressed (``<folder>/<sha256>/<name>``): two clients sending the
same bytes share one file. ``UploadStore.read`` reads a file (bounded), deletes it at once, and keeps the bytes in
memory:

- for an API call (no owner), ``linger_s`` (60 s) after it was last asked for: a second client that uploaded the same
  bytes while the first request ran (so its upload landed on the file the first read and deleted) still gets them,
  even after waiting its turn in a busy queue;
- for a page session (owner = Gradio's session hash), until the tab closes (``forget``) or ``owner_ttl_s``: the
  Batch tab keeps listing its photos, and "Analyse all" must work again a minute later without a re-upload.

Disk reads are serialised (a file two requests name is read, and deleted, by exactly one of them; the other finds the
bytes in memory), and memory is capped (``max_bytes`` in all; the oldest entries go first), so the worst case is a re-upload, never growth.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from emotion.errors import ImageRejected
from emotion.validation import read_bytes

GONE = ("This photo is no longer on the server (photos are deleted once analysed, and kept in memory only while "
        "your page is open). Add it again.")


@dataclass
class _Entry:
    data: bytes
    owner: str | None
    at: float


class UploadStore:
    def __init__(self, root: str | os.PathLike, max_file_bytes: int, linger_s: float = 60.0, owner_ttl_s: float = 600.0,
                 max_bytes: int = 256 * 2**20, clock: Callable[[], float] = time.monotonic,
                 shared: tuple[str | os.PathLike, ...] = ()):
        """``shared``: folders of files anyone may name and nobody deletes (the example photos)."""
        self.root = Path(os.path.realpath(root))
        self.shared = [Path(os.path.realpath(p)) for p in shared]
        self.max_file_bytes, self.linger_s, self.owner_ttl_s, self.max_bytes = max_file_bytes, linger_s, owner_ttl_s, max_bytes
        self.clock = clock
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._disk = threading.Lock()  # held while a file is read and deleted: never two readers of one file

    def read(self, path: str | os.PathLike, owner: str | None = None) -> bytes:
        """The bytes of an uploaded file; the file is deleted as soon as it has been read."""
        key = os.path.realpath(path)
        if any(Path(key).is_relative_to(folder) for folder in self.shared):
            return read_bytes(key, self.max_file_bytes)
        if not Path(key).is_relative_to(self.root):
            raise ImageRejected("invalid_image", "Only files uploaded to this server can be analysed. Upload the image.")
        with self._disk:
            if os.path.lexists(key):  # on disk (again: the same bytes uploaded anew land on the same path)
                try:
                    data = read_bytes(key, self.max_file_bytes)  # raises ImageRejected (too large, not regular, unreadable)
                finally:
                    _unlink(key)  # refused or not, it has been dealt with
                with self._lock:
                    previous = self._items.get(key)
                    self._put(key, _Entry(data, owner or (previous.owner if previous else None), self.clock()))
                return data
        with self._lock:  # read and deleted already: the bytes may still be held in memory
            self._expire()
            entry = self._items.get(key)
            if entry is None:
                raise ImageRejected("invalid_image", GONE)
            if owner is not None and entry.owner is None:  # a page now relies on it: keep it for the session
                entry.owner = owner
            entry.at = self.clock()  # kept from the last time it was asked for
            return entry.data

    def forget(self, owner: str) -> None:
        """The page session ended: drop its photos from memory."""
        with self._lock:
            for key in [k for k, e in self._items.items() if e.owner == owner]:
                self._drop(key)

    @property
    def bytes_held(self) -> int:
        with self._lock:
            self._expire()
            return self._size

    def _put(self, key: str, entry: _Entry) -> None:
        if key in self._items:
            self._drop(key)
        if len(entry.data) > self.max_bytes:
            return
        self._items[key] = entry
        self._size += len(entry.data)
        while self._size > self.max_bytes:
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        self._size -= len(self._items.pop(key).data)

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, e in self._items.items() if now - e.at >= (self.owner_ttl_s if e.owner else self.linger_s)]:
            self._drop(key)


def _unlink(path: str) -> None:
    try:
        # Only the file: Gradio's per-upload folder is left for the janitor. Removing it here raced with another
        # client uploading the same photo (same hash, same folder): its mkdir(exist_ok) failed and the upload got a 500.
        os.unlink(path)
    except OSError:
        pass
