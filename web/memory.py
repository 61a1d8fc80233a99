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
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameters
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _trim = _libc.malloc_trim
    _trim.argtypes, _trim.restype = [ctypes.c_size_t], ctypes.c_int
    _mallopt = _libc.mallopt
    _mallopt.argtypes, _mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
except (OSError, AttributeError):
    _trim = _mallopt = None


def configure_allocator(mmap_threshold: int = 1 << 20, arenas: int = 4) -> bool:
    """Call once at start-up, before threads: buffers of ``mmap_threshold`` bytes or more (decoded photos, crops of
    big photos) get their own mapping, which goes back to the system the moment it is freed (glibc otherwise raises
    the threshold after the first such free and keeps later big buffers in its heap); and at most ``arenas`` heaps
    for all threads (one per thread, up to 8 per core, each keeping its own free memory). True when applied."""
    if _mallopt is None:
        return False
    return bool(_mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(_mallopt(M_ARENA_MAX, arenas))


def return_memory() -> None:
    """Release free heap pages of every arena to the system (one caller at a time; others skip)."""
    if _trim is not None and _lock.acquire(blocking=False):
        try:
            _trim(0)
        finally:
            _lock.release()
