"""Start ``python app.py`` as a real server on a free port for HTTP tests, benchmarks and the browser test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (Linux /proc)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@contextmanager
def running_app(temp_dir: str | os.PathLike, log_path: str | os.PathLike | None = None, startup_timeout: float = 120,
                app_dir: str | os.PathLike = ROOT, prefix: tuple[str, ...] = (), python: str = sys.executable, **env: str):
    """Yield (url, process, seconds to first /health answer); the server is stopped afterwards. ``app_dir``: the
    checkout whose ``app.py`` runs (another revision's, or a staged Space folder); ``python``: the interpreter (a
    fresh venv's); ``prefix``: a command the server runs under (``strace -f …``), whose child is stopped first."""
    port = free_port()
    full_env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(temp_dir),
                "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **env}
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen([*prefix, python, str(Path(app_dir) / "app.py")], cwd=app_dir, env=full_env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited with code {proc.returncode} during start-up" + (f"; see {log_path}" if log_path else ""))
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > startup_timeout:
                raise RuntimeError("app did not answer /health in time")
            time.sleep(0.25)
        yield url, proc, time.perf_counter() - t0
    finally:
        for pid in children(proc.pid) if prefix else [proc.pid]:
            os.kill(pid, signal.SIGTERM)  # the app itself (under a prefix, the tracer then exits with it)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            log.close()
