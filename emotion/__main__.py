"""``python -m emotion PATH [PATH ...] --out results.csv``: score photos, folders (recursively) and videos.

The work is in ``emotion.bulk`` (local process pool) and ``emotion.bulk_ray`` (Ray Data, ``--engine ray``); the engine
is chosen here. Settings: this command's flags, over the pipeline's ``EMOTION_*`` environment variables as
``emotion.config.Settings.from_env`` reads them (the same reader the server's configuration uses).
"""

from __future__ import annotations

import argparse
import sys

from emotion import bulk
from emotion.config import Settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m emotion",
        description="Emotion of every face in photos, folders (recursively) and videos: one row per face "
                    "(file, time_s for video frames, face, box, emotion, confidence, is_uncertain, error, 7 "
                    "probabilities); a file or frame without a face is a row with its error code. Re-running with "
                    "the same --out skips the files already in it.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="photos, videos or folders")
    p.add_argument("--out", required=True, help="output file: .csv (default), .jsonl, or .parquet (Ray only)")
    p.add_argument("--format", choices=bulk.FORMATS, help="output format (default: from --out's extension)")
    p.add_argument("--workers", type=int, default=None,
                   help="local: processes (default 1); ray: actors (default: 1 up to the cluster's CPUs)")
    p.add_argument("--model", default="accurate",
                   help="'accurate' (default), 'fast' (when installed) or the path to an .onnx model")
    p.add_argument("--fps", type=float, default=bulk.DEFAULT_FPS,
                   help=f"video frames scored per second of video (default {bulk.DEFAULT_FPS:g}; 0 = every frame)")
    p.add_argument("--max-mb", type=float, default=bulk.DEFAULT_MAX_MB,
                   help=f"photos larger than this are an error row (default {bulk.DEFAULT_MAX_MB:g})")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local processes (default) or Ray Data (pip install -r requirements-ray.txt)")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray on this machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def engine(name: str, ray_address: str | None = None) -> bulk.Engine:
    """``--engine``: local processes, or Ray Data (``emotion.bulk_ray``, imported only when asked for)."""
    if name == "ray":
        from emotion.bulk_ray import RayEngine

        return RayEngine(ray_address)
    return bulk.LocalEngine()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser().error("--workers must be at least 1")
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    try:
        s = bulk.run(args.paths, args.out, fmt=args.format, workers=args.workers, model=args.model, fps=args.fps,
                     max_mb=args.max_mb, engine=engine(args.engine, args.ray_address), progress=not args.quiet,
                     log=say, settings=Settings.from_env())
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say(f"interrupted: the files finished so far are in {args.out}; run the same command again to go on")
        return 130
    say(f"{s.files} files scored ({s.skipped} already in {args.out}): {s.faces} faces, {s.errors} error rows "
        f"→ {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
