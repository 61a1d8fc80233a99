"""``emotion PATH [PATH ...] [--out results.csv]`` (or ``python -m emotion``): score photos, folders and videos.

The work is in ``emotion.bulk`` (local process pool) and ``emotion.bulk_ray`` (Ray Data, ``--engine ray``); the engine
is chosen here. Settings: this command's flags, over the pipeline's ``EMOTION_*`` environment variables as
``emotion.config.Settings.from_env`` reads them (the same reader the server's configuration uses).
"""

from __future__ import annotations

import argparse
import sys

from emotion import bulk
from emotion.config import Settings


EXAMPLES = """examples:
  emotion photo.jpg                          one photo: CSV rows on stdout
  emotion photos/ --out results.csv          a folder, recursively; run it again to resume
  emotion photos/ clip.mp4 --out results.jsonl --model fast --workers 4
  emotion photo.jpg --format json            JSON on stdout

probabilities are calibrated: confidence 0.7 means about 7 in 10 such answers are right; is_uncertain is true
when the top probability is below the model's threshold (then read the top two emotions, not one).
settings: the flags above, over the EMOTION_* environment variables (docs/API.md)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="emotion",
        description="Emotion of every face in photos, folders (recursively) and videos.\n\n"
                    "One row per face: file, time_s (video frames), face, x, y, w, h, emotion, confidence,\n"
                    "is_uncertain, error and the 7 probabilities; a file or frame without a face is one row with\n"
                    "its error code. Progress goes to stderr. Run again with the same --out to skip the files\n"
                    "already in it (resume).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="photos, videos or folders")
    p.add_argument("--out", default=None,
                   help="output file, its format from the extension: .csv, .jsonl, .json, or .parquet (Ray "
                        "only); default: stdout")
    p.add_argument("--format", choices=bulk.FORMATS,
                   help="output format (default: from --out's extension; csv on stdout)")
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
        if args.out:
            say(f"interrupted: the files finished so far are in {args.out}; run the same command again to go on")
        return 130
    already = f" ({s.skipped} already in {args.out})" if args.out else ""
    say(f"{s.files} files scored{already}: {s.faces} faces, {s.errors} error rows → {args.out or 'stdout'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
