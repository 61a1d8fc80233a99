"""Score many files from the command line (``python -m emotion``): photos, folders (recursively) and videos.

One row per face (``emotion.batch.BULK_COLUMNS``: file, time_s for a video frame, face, box, emotion, confidence,
is_uncertain, error, the 7 probabilities); a file or frame without an answer is one row carrying its error code.
Rows are appended to the output (CSV, JSON Lines or a JSON array: the format follows the file's extension) file by
file as they are scored, so an interrupted run keeps what it did, and a re-run skips every file already in the output
(resume). Without an output file the rows go to stdout.

Engines: ``local`` (this module: a process pool, one ``EmotionRecognizer`` per worker process, built once by the
pool's initializer) and ``ray`` (``emotion.bulk_ray.RayEngine``: this module's scoring functions on Ray Data, for a
cluster). ``run`` takes the engine as an object and knows no engine but its own: ``emotion.__main__`` chooses one
from ``--engine``, so ``bulk_ray`` imports ``bulk`` and never the reverse.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import multiprocessing as mp
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Protocol, Sequence

from emotion.batch import BULK_COLUMNS, csv_rows
from emotion.config import Settings
from emotion.result import ErrorResult

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp",  # what the pipeline reads
                    ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}  # photos it refuses: a row says so
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
INVALID_VIDEO = "invalid_video"  # a video OpenCV cannot open or that has no frame (bulk rows only; not an API code)
DEFAULT_FPS = 5.0
DEFAULT_MAX_MB = 50.0  # the owner's own files: larger than the web app's 5 MB (pixel limits still apply)
FORMATS = ("csv", "jsonl", "json", "parquet")
# --out's extension → format; any other extension is refused (give --format to write it anyway).
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
MODELS = {name: Path(path) for name, path in Settings().model_paths.items()}  # the named models, default files


@dataclass(frozen=True)
class Task:
    """One input file: ``name`` is how rows name it (the path as given or found under a given folder)."""

    name: str
    path: str
    video: bool


@dataclass
class Summary:
    files: int = 0  # scored in this run
    skipped: int = 0  # already in the output
    rows: int = 0
    faces: int = 0
    errors: int = 0


# ---------------------------------------------------------------- inputs


def resolve_model(model: str | os.PathLike | None, paths: dict[str, str | os.PathLike] | None = None) -> str:
    """``accurate`` (default), ``fast`` (when its file exists) or a path to a model; ``paths``: name → file (the
    configured ``Settings.model_paths``; default the files in ``models/``)."""
    named = {name: Path(p) for name, p in (paths or MODELS).items()}
    if model is None or str(model) == "accurate":
        return str(named["accurate"])
    if str(model) in named:
        if not named[str(model)].is_file():
            raise FileNotFoundError(f"the {model!r} model is not installed ({named[str(model)]} is missing)")
        return str(named[str(model)])
    if not Path(model).is_file():
        raise FileNotFoundError(f"model not found: {model} (give 'accurate', 'fast' or the path to an .onnx file)")
    return str(model)


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def discover(paths: Sequence[str | os.PathLike]) -> list[Task]:
    """Files named directly are always scored (a non-image gives an error row); folders are walked recursively, in
    sorted order, for photo and video extensions (hidden files and folders are skipped). Each file once."""
    tasks, seen = [], set()

    def add(name: str) -> None:
        key = os.path.realpath(name)
        if key not in seen:
            seen.add(key)
            tasks.append(Task(name, name, is_video(name)))

    for p in map(str, paths):
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
                        add(os.path.join(root, f))
        elif os.path.isfile(p):
            add(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return tasks


# ---------------------------------------------------------------- scoring (shared by both engines)


def score_image(recognizer, name: str, source) -> list[dict]:
    """Rows of one photo (a path or its bytes: the same pipeline either way)."""
    return csv_rows(name, recognizer.predict(source))


def score_video(recognizer, name: str, path: str, fps: float = DEFAULT_FPS) -> list[dict]:
    """Rows of a video's frames sampled at ``fps`` (0: every frame); ``time_s`` is the frame's time, from its index
    and the stream's frame rate (OpenCV's timestamp when the container has none)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return [{"file": name, "face": "", "error": INVALID_VIDEO}]
        native = cap.get(cv2.CAP_PROP_FPS) or 0.0
        native = native if 0 < native < 1000 else 0.0
        step = 1.0 / fps if fps and fps > 0 else 0.0
        rows, next_t, i = [], 0.0, 0
        while cap.grab():
            t = i / native if native else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            i += 1
            if t + 1e-6 < next_t:
                continue
            ok, frame = cap.retrieve()
            if ok and frame is not None:
                rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB if frame.ndim == 2 else cv2.COLOR_BGR2RGB)
                rows += csv_rows(name, recognizer.predict(rgb), time_s=t)
            if step:
                while next_t <= t + 1e-6:
                    next_t += step
        return rows or [{"file": name, "face": "", "error": INVALID_VIDEO}]
    finally:
        cap.release()


def score_task(recognizer, task: Task, fps: float = DEFAULT_FPS) -> list[dict]:
    try:
        if task.video:
            return score_video(recognizer, task.name, task.path, fps)
        return score_image(recognizer, task.name, task.path)
    except Exception as e:  # one bad file never stops a run of a million
        logging.getLogger("emotion").warning("%s: internal error %s", task.name, type(e).__name__)
        return [{"file": task.name, "face": "", "error": ErrorResult.of("internal_error").error}]


_WORKER: dict = {}


def _init_worker(settings: Settings, fps: float) -> None:
    from emotion.recognizer import EmotionRecognizer

    _WORKER["rec"], _WORKER["fps"] = EmotionRecognizer(settings=settings), fps


def _score_in_worker(task: Task) -> list[dict]:
    return score_task(_WORKER["rec"], task, _WORKER["fps"])


def score_local(tasks: Sequence[Task], settings: Settings, fps: float, workers: int = 1,
                recognizer=None) -> Iterator[list[dict]]:
    """Rows per file, in input order. ``workers`` > 1: that many processes (spawned: no inherited detector state),
    each loading its own recognizer once; 1: in this process (``recognizer`` reused when given)."""
    if workers <= 1:
        if recognizer is None:
            from emotion.recognizer import EmotionRecognizer

            recognizer = EmotionRecognizer(settings=settings)
        for task in tasks:
            yield score_task(recognizer, task, fps)
        return
    with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(settings, fps)) as pool:
        yield from pool.imap(_score_in_worker, tasks, chunksize=1)


class Engine(Protocol):
    """Where files are scored: rows per file in input order (``score``), and, for engines that can, a Parquet
    dataset written by the engine itself (``write_parquet``)."""

    name: str

    def score(self, tasks: Sequence[Task], settings: Settings, fps: float,
              workers: int | None) -> Iterator[list[dict]]: ...

    def write_parquet(self, tasks: Sequence[Task], out: str | os.PathLike, settings: Settings, fps: float,
                      workers: int | None) -> None: ...


@dataclass
class LocalEngine:
    """Processes on this machine (``score_local``): the default engine."""

    recognizer: object = None  # reused when scoring in this process (workers 1)
    name: str = "local"

    def score(self, tasks, settings, fps, workers):
        return score_local(tasks, settings, fps, workers or 1, self.recognizer)

    def write_parquet(self, tasks, out, settings, fps, workers):
        raise ValueError("Parquet output is written by --engine ray; use a .csv, .jsonl or .json --out here")


# ---------------------------------------------------------------- output and resume


def output_format(out: str | os.PathLike, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"--format must be one of {FORMATS}")
        return fmt
    suffix = Path(out).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ValueError(f"cannot tell the output format from {Path(out).name!r}: end --out with "
                         f"{', '.join(list(EXTENSIONS)[:-1])} or {list(EXTENSIONS)[-1]}, or name the format with --format {{{','.join(FORMATS)}}}")
    return EXTENSIONS[suffix]


def full_row(row: dict) -> dict:
    """Every column, in order; missing values None (JSON null, empty in CSV)."""
    return {c: (None if row.get(c, "") == "" else row[c]) for c in BULK_COLUMNS}


def _encode(rows: Iterable[dict], fmt: str, first: bool = True) -> str:
    """Rows as text to append: ``first`` is whether the output holds no row yet (a JSON array's rows are
    comma-separated, one per line)."""
    if fmt == "jsonl":
        return "".join(json.dumps(full_row(r), ensure_ascii=False) + "\n" for r in rows)
    if fmt == "json":
        lines = [json.dumps(full_row(r), ensure_ascii=False) for r in rows]
        return ("" if first or not lines else ",\n") + ",\n".join(lines)
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=BULK_COLUMNS, restval="", extrasaction="ignore").writerows(rows)
    return buf.getvalue()


def _parse(text: str, fmt: str) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in text.split("\n") if line.strip()]  # not splitlines: U+2028 may be in a name
    if fmt == "json":  # one row a line between "[" and "]"; a torn last row (a killed run) ends the list
        rows = []
        for line in text.split("\n")[1:]:
            try:
                rows.append(json.loads(line.strip().rstrip(",")))
            except ValueError:
                break
        return rows
    return list(csv.DictReader(io.StringIO(text)))


def read_rows(out: str | os.PathLike, fmt: str | None = None) -> list[dict]:
    """The rows of an output file (CSV: strings; JSON Lines: typed)."""
    return _parse(Path(out).read_text(encoding="utf-8"), output_format(out, fmt))


def done_files(out: str | os.PathLike, fmt: str) -> set[str]:
    """Files already in ``out``. A run killed in the middle of a write leaves a torn last line: it is cut, with the
    rest of that last file's rows, so the file is scored again, whole, and appears once."""
    path = Path(out)
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    with open(path, "rb") as fh:
        fh.seek(-min(max(len(_FOOTER[fmt]), 1), path.stat().st_size), os.SEEK_END)
        end = fh.read()
    if not end.endswith(b"\n") or not end.endswith(_FOOTER[fmt].encode()):
        _repair(path, fmt)
    names = set()
    with open(path, encoding="utf-8", newline="") as fh:
        if fmt == "json":
            names.update(r["file"] for r in _parse(fh.read(), fmt))
        elif fmt == "csv":
            reader = csv.DictReader(fh)
            if reader.fieldnames and list(reader.fieldnames) != BULK_COLUMNS:
                raise ValueError(f"{out} has other columns than this command writes; give another --out")
            names.update(r["file"] for r in reader)
        else:
            names.update(json.loads(line)["file"] for line in fh if line.strip())
    return names


def _repair(path: Path, fmt: str) -> None:
    text = path.read_bytes().decode("utf-8", "replace")
    rows = _parse(text[: text.rfind("\n") + 1], fmt)
    last = rows[-1]["file"] if rows else None
    while rows and rows[-1]["file"] == last:
        rows.pop()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(_header(fmt) + _encode(rows, fmt) + _FOOTER[fmt], encoding="utf-8", newline="")
    os.replace(tmp, path)


def _header(fmt: str) -> str:
    return {"csv": ",".join(BULK_COLUMNS) + "\r\n", "json": "[\n"}.get(fmt, "")


_FOOTER = {"csv": "", "jsonl": "", "json": "\n]\n"}  # a JSON array is closed after every file: valid between files


class RowWriter:
    """Appends rows to a CSV, JSON Lines or JSON file (``out``), or writes them to a stream such as stdout
    (``out`` None), one flush per file scored. A JSON file is a valid array after every file: its closing bracket is
    cut before the next file's rows and written again after them."""

    def __init__(self, out: str | os.PathLike | None, fmt: str, stream: IO[str] | None = None):
        self.fmt = fmt
        self.footer = _FOOTER[fmt]
        if out is None:
            self.fh, self.seekable, self.first = stream or sys.stdout, False, True
            self.fh.write(_header(fmt))
            return
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        new = not Path(out).is_file() or Path(out).stat().st_size == 0
        self.fh, self.seekable = open(out, "r+" if not new else "w", encoding="utf-8", newline=""), True
        self.first = new or (fmt == "json" and not _parse(self.fh.read(), fmt))
        self.fh.seek(0, os.SEEK_END)
        if new:
            self.fh.write(_header(fmt) + self.footer)
            self.fh.flush()

    def write(self, rows: list[dict]) -> None:
        if not rows:
            return
        if self.seekable and self.footer:
            self.fh.seek(self.fh.tell() - len(self.footer))
            self.fh.truncate()
        # one write per file: its rows land together
        self.fh.write(_encode(rows, self.fmt, self.first) + (self.footer if self.seekable else ""))
        self.fh.flush()
        self.first = False

    def close(self) -> None:
        if self.seekable:
            self.fh.close()
        else:
            self.fh.write(self.footer)
            self.fh.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- the run


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm arrives with gradio (huggingface-hub); without it, no bar
        return _NoBar()
    return tqdm(total=total, unit="file", dynamic_ncols=True, file=sys.stderr)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kw) -> None:
        pass

    def close(self) -> None:
        pass


def run(paths: Sequence[str | os.PathLike], out: str | os.PathLike | None, *, fmt: str | None = None, workers: int | None = None,
        model: str | os.PathLike | None = None, fps: float = DEFAULT_FPS, max_mb: float = DEFAULT_MAX_MB,
        engine: Engine | str = "local", progress: bool = False, recognizer=None,
        log: Callable[[str], None] | None = None, settings: Settings | None = None) -> Summary:
    """Score ``paths`` into ``out`` (appending; files already there are skipped), or onto stdout when ``out`` is None
    (``fmt``, default CSV). Returns what this run did.
    ``engine``: ``"local"`` (processes here; ``recognizer`` is reused with one worker) or an ``Engine`` object such
    as ``emotion.bulk_ray.RayEngine()``."""
    if isinstance(engine, str):
        if engine != "local":
            raise ValueError(f"unknown engine {engine!r}: 'local', or an engine object such as "
                             "emotion.bulk_ray.RayEngine() (python -m emotion --engine ray)")
        engine = LocalEngine(recognizer)
    fmt = output_format(out, fmt) if out is not None else (fmt or "csv")
    if out is None and fmt == "parquet":
        raise ValueError("Parquet output needs a file: give --out results.parquet")
    settings = settings or Settings()
    settings = dataclasses.replace(settings, model_path=resolve_model(model, settings.model_paths), max_file_mb=max_mb)
    tasks = discover(paths)
    summary = Summary()
    if fmt == "parquet":
        engine.write_parquet(tasks, out, settings, fps, workers)
        summary.files = len(tasks)
        return summary
    done = done_files(out, fmt) if out is not None else set()
    todo = [t for t in tasks if t.name not in done]
    summary.skipped = len(tasks) - len(todo)
    if log and summary.skipped:
        log(f"{summary.skipped} of {len(tasks)} files already in {out}: skipped")
    if not todo:
        RowWriter(out, fmt).close()  # an empty input still leaves a valid (header-only) output
        return summary
    groups = engine.score(todo, settings, fps, workers)
    bar = _progress(len(todo), progress)
    try:
        with RowWriter(out, fmt) as writer:
            for rows in groups:
                writer.write(rows)
                summary.files += 1
                summary.rows += len(rows)
                summary.faces += sum(1 for r in rows if r.get("face", "") != "")
                summary.errors += sum(1 for r in rows if r.get("error"))
                bar.update(1)
                bar.set_postfix(faces=summary.faces, errors=summary.errors, refresh=False)
    finally:
        bar.close()
        if hasattr(groups, "close"):
            groups.close()
    return summary
