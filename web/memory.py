"""Give freed heap memory back to the operating system.

glibc keeps what a large request freed in per-thread arenas: after a burst of big decodes the process stays at
gigabytes although nothing uses them. ``malloc_trim(0)`` returns those pages; it costs milliseconds, so it runs only
after large bodies or large images. A no-op where the C library has no such call (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

_lock = threading.Lock()
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _trim = _libc.malloc_trim
    _trim.argtypes, _trim.restype = [ctypes.c_size_t], ctypes.c_int
except (OSError, AttributeError):
    _trim = None


def return_memory() -> None:
    """Release free heap pages of every arena to the system (one caller at a time; others skip)."""
    if _trim is not None and _lock.acquire(blocking=False):
        try:
            _trim(0)
        finally:
            _lock.release()
