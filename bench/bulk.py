"""Photos per second of ``python -m emotion`` (``emotion.bulk.run``) with 1, 2, … worker processes, on generated 1 MP
photos (the repo's examples on a canvas, never FER-2013). Wall time includes starting the workers and loading the
model in each, as a user of the command waits for it. ``--ray`` adds a row for ``--engine ray`` (local Ray).

    python -m bench.bulk --photos 60 --workers 1 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.photos import photo_bytes
from emotion import bulk


def make_photos(folder: Path, n: int) -> None:
    sources = ("astronaut.jpg", "grace_hopper.jpg", "chelsea.jpg")  # two faces and a cat (no face)
    for i in range(n):
        data, _ = photo_bytes(1.0, sources[i % len(sources)], quality=80 + i % 15)
        (folder / f"photo_{i:04d}.jpg").write_bytes(data)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ray", action="store_true", help="also time --engine ray (needs requirements-ray.txt)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        make_photos(folder, args.photos)
        runs = [("local", w) for w in args.workers] + ([("ray", max(args.workers))] if args.ray else [])
        print(f"{args.photos} generated 1 MP JPEG photos, {os.cpu_count()} CPUs; wall time includes start-up\n")
        print("| engine | workers | seconds | photos/s | faces | error rows |")
        print("|---|---|---|---|---|---|")
        for engine, workers in runs:
            out = Path(tmp) / f"{engine}_{workers}.csv"
            t0 = time.perf_counter()
            if engine == "ray":
                from emotion.bulk_ray import RayEngine
                s = bulk.run([folder], out, workers=workers, engine=RayEngine())
            else:
                s = bulk.run([folder], out, workers=workers)
            dt = time.perf_counter() - t0
            print(f"| {engine} | {workers} | {dt:.1f} | {s.files / dt:.1f} | {s.faces} | {s.errors} |", flush=True)


if __name__ == "__main__":
    main()
