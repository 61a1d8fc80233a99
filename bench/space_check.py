"""``python -m bench.space_check --app-dir OLD --app-dir .``: issue #34's day-one failures of a Space, before and after
in one run. Each checkout's app runs as a Space runs it: the platform's variables (``SYSTEM=spaces``, ``SPACE_ID``),
every other setting at its default and nothing that switches telemetry off, under ``strace -f`` (native libraries
included), behind nginx configured as the platform proxies (bench/nginx.py). Then, through the proxy:

- one visitor's whole use (bench/visit.py: page, REST, Gradio API, gradio_client, Why, video, live frames);
- 40 visitors from 40 addresses (127.0.x.y), one photo each (``POST /api/predict``): how many are answered and how
  many told "too many requests" (the allowance is ``EMOTION_RATE_LIMIT``, 30 a minute a client);
- one more address sending 40 photos, each with a new forged ``X-Forwarded-For``: answered / refused;
- what the process tried to reach beyond the machine during all of it and ``--idle-s`` idle seconds after
  (bench/egress.py: connections and name lookups);
- what start-up printed: its lines (how many read like warnings or errors), and whether one says the address and
  that the app is ready.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


from bench.attacks import ASTRONAUT_PATH, source_client
from bench.egress import egress, strace_command
from bench.nginx import nginx_proxy
from bench.server import ROOT, running_app
from bench.visit import whole_use

SPACE_ENV = dict(SYSTEM="spaces", SPACE_ID="bench/space-check", GRADIO_ANALYTICS_ENABLED="True", HF_HUB_OFFLINE="0")


def _photos(url: str, sources: list[str], forged: bool) -> tuple[int, int]:
    """One photo per source (or all from sources[0] with a new forged X-Forwarded-For each): (answered, refused 429)."""
    photo, answered, refused = ASTRONAUT_PATH.read_bytes(), 0, 0
    for k, source in enumerate(sources):
        headers = {"X-Forwarded-For": f"203.0.113.{k % 250 + 1}"} if forged else {}
        r = source_client(source).post(f"{url}/api/predict", files={"file": ("face.jpg", photo)}, headers=headers)
        answered += r.status_code == 200
        refused += r.status_code == 429
    return answered, refused


def _alarming(line: str) -> bool:
    """A start-up line that reads like trouble to a person: a warning or an error, whoever printed it."""
    return any(w in line for w in ("WARNING", "Warning", "ERROR", "Error", "W0000", "E0000")) or line.startswith("W")


def check(app_dir: Path, idle_s: float) -> dict[str, str]:
    """The rows for one checkout (module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = strace_command(f"{tmp}/trace.log")
        if prefix is None:
            sys.exit("strace is not installed (Debian: apt-get install strace)")
        (Path(tmp) / "gradio").mkdir()
        t0 = time.perf_counter()
        with running_app(f"{tmp}/gradio", f"{tmp}/app.log", startup_timeout=300, app_dir=app_dir, prefix=prefix,
                         **SPACE_ENV) as (app_url, _, start_s), nginx_proxy(app_url, f"{tmp}/nginx") as url:
            time.sleep(1)  # what start-up printed (the ready line comes once the socket listens)
            log = Path(f"{tmp}/app.log").read_text(errors="replace").splitlines()
            steps = whole_use(url)
            visitors = _photos(url, [f"127.0.{1 + k // 200}.{k % 200 + 10}" for k in range(40)], forged=False)
            forger = _photos(url, ["127.0.9.9"] * 40, forged=True)
            time.sleep(idle_s)
        lines = egress(Path(f"{tmp}/trace.log").read_text(errors="replace"))
        port = app_url.rsplit(":", 1)[1]
        ready = [line for line in log if port in line and "ready" in line.lower()]
        return {
            "whole use through the proxy (steps answered)": f"{list(steps.values()).count('ok')}/{len(steps)}",
            "40 visitors, 40 addresses, a photo each: answered / 'too many requests'": "{} / {}".format(*visitors),
            "1 address, 40 photos, a forged X-Forwarded-For each: answered / 'too many requests'": "{} / {}".format(*forger),
            "calls beyond the machine (connect/sendto, name lookups), start to stop":
                f"{len(lines)} ({sum('htons(53)' in line for line in lines)} to port 53) in {time.perf_counter() - t0:.0f} s",
            "start-up: lines printed (of them warnings or errors)": f"{len(log)} ({sum(_alarming(line) for line in log)})",
            "start-up: a line with the address saying it is ready": f"yes: `{ready[0].strip()[:70]}`" if ready else "no",
            "start-up: seconds to the first /health answer": f"{start_s:.1f}",
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--app-dir", action="append", default=[], help="a checkout (repeat: before, after); default this one")
    p.add_argument("--idle-s", type=float, default=30, help="idle seconds traced after the use")
    a = p.parse_args()
    dirs = [Path(d).resolve() for d in a.app_dir] or [ROOT]
    results = {d: check(d, a.idle_s) for d in dirs}
    print(f"Made by `python -m bench.space_check {' '.join('--app-dir ' + str(d) for d in dirs)}` on "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| | " + " | ".join(str(d) for d in dirs) + " |")
    print("|---|" + "---|" * len(dirs))
    for row in next(iter(results.values())):
        print(f"| {row} | " + " | ".join(results[d].get(row, "–") for d in dirs) + " |")


if __name__ == "__main__":
    main()
