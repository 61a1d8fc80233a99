"""``python -m emotion ... --engine ray``: the same scoring as ``emotion.bulk`` on Ray Data, for more than one machine.

``read_binary_files`` → ``map_batches`` with an actor pool (one ``EmotionRecognizer`` per actor, built once) →
rows streamed back to the driver's CSV / JSON Lines writer (resumable, like the local engine) or written by the
cluster as a Parquet dataset (``--out results.parquet``, a folder of files). Ray is optional:
``pip install -r requirements-ray.txt``. Started alone, it runs a local Ray on this machine; ``--ray-address``
(or ``$RAY_ADDRESS``) joins a cluster, whose nodes must see the input paths (a shared filesystem).

This module uses ``emotion.bulk`` (its tasks, scoring functions and rows) and ``bulk`` never imports it: the engine
goes in as an object, ``bulk.run(..., engine=RayEngine(address))``, chosen by ``python -m emotion --engine ray``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Iterator, Sequence

from emotion.batch import BULK_COLUMNS
from emotion.bulk import Task, full_row, is_video, score_image, score_video
from emotion.classes import CLASSES
from emotion.config import Settings

INSTALL_HINT = "--engine ray needs Ray: pip install -r requirements-ray.txt"
BATCH_SIZE = 8  # files per actor call: small, so videos do not pile up in one call and progress is steady
READ_TASKS = 2  # at once: reading is quick next to scoring, and each task in flight is a worker process


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from e
    return ray


def _schema():
    import pyarrow as pa

    types = {"file": pa.string(), "time_s": pa.float64(), "face": pa.int64(), "x": pa.int64(), "y": pa.int64(),
             "w": pa.int64(), "h": pa.int64(), "emotion": pa.string(), "confidence": pa.float64(),
             "is_uncertain": pa.bool_(), "error": pa.string(), **{c: pa.float64() for c in CLASSES}}
    return pa.schema([(c, types[c]) for c in BULK_COLUMNS])


class Scorer:
    """A Ray Data actor: one recognizer, loaded once; a batch of files' bytes → their rows (a typed Arrow table)."""

    def __init__(self, settings: Settings, fps: float, names: dict[str, str]):
        from emotion.recognizer import EmotionRecognizer

        self.recognizer, self.fps, self.names, self.schema = EmotionRecognizer(settings=settings), fps, names, _schema()

    def __call__(self, batch: dict):
        import pyarrow as pa

        rows = []
        for data, path in zip(batch["bytes"], batch["path"]):
            rows += [full_row(r) for r in self.score(self.names.get(str(path), str(path)), str(path), bytes(data))]
        return pa.Table.from_pylist(rows, schema=self.schema)

    def score(self, name: str, path: str, data: bytes) -> list[dict]:
        try:
            if not is_video(path):
                return score_image(self.recognizer, name, data)
            with tempfile.NamedTemporaryFile(suffix=os.path.splitext(path)[1]) as fh:  # OpenCV decodes from files
                fh.write(data)
                fh.flush()
                return score_video(self.recognizer, name, fh.name, self.fps)
        except Exception:
            return [{"file": name, "face": "", "error": "internal_error"}]


def _dataset(tasks: Sequence[Task], settings: Settings, fps: float, workers: int | None, address: str | None,
             progress_bars: bool = True):
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, configure_logging=True, logging_level="WARNING")
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # our own bar and summary say what happened
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # same order as the input list, like the local engine
    if not progress_bars:
        ctx.enable_progress_bars = False
    paths = [os.path.abspath(t.path) for t in tasks]
    names = {p: t.name for p, t in zip(paths, tasks)}
    pool = ray.data.ActorPoolStrategy(size=workers) if workers else ray.data.ActorPoolStrategy(min_size=1)
    # Reading is I/O: its tasks take no CPU slot, so actors on every CPU cannot starve them (a hang otherwise).
    return (ray.data.read_binary_files(paths, include_paths=True, num_cpus=0, concurrency=READ_TASKS)
            .map_batches(Scorer, fn_constructor_kwargs={"settings": settings, "fps": fps, "names": names},
                         compute=pool, batch_size=BATCH_SIZE, batch_format="numpy", num_cpus=1))


def score(tasks: Sequence[Task], settings: Settings, fps: float, workers: int | None = None,
          address: str | None = None, progress_bars: bool = False) -> Iterator[list[dict]]:
    """Rows per file, as ``emotion.bulk.score_local`` yields them (missing values empty), scored on Ray."""
    if not tasks:
        return
    group: list[dict] = []
    for row in _dataset(tasks, settings, fps, workers, address, progress_bars).iter_rows():
        row = {c: ("" if row[c] is None else row[c]) for c in BULK_COLUMNS}
        if group and row["file"] != group[0]["file"]:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def write_parquet(tasks: Sequence[Task], out: str | os.PathLike, settings: Settings, fps: float,
                  workers: int | None = None, address: str | None = None) -> None:
    """The rows as a Parquet dataset written by the cluster itself (a folder of files; not resumable)."""
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise ValueError(f"{out} already exists: Parquet output is written whole; give a new folder")
    if tasks:
        _dataset(tasks, settings, fps, workers, address).write_parquet(str(out))


@dataclass(frozen=True)
class RayEngine:
    """``emotion.bulk.run(..., engine=RayEngine(address))``: score on Ray (a local one when ``address`` is None and
    ``$RAY_ADDRESS`` is unset). Ray is imported only when scoring starts."""

    address: str | None = None
    name: str = "ray"

    def score(self, tasks: Sequence[Task], settings: Settings, fps: float,
              workers: int | None) -> Iterator[list[dict]]:
        return score(tasks, settings, fps, workers, self.address, progress_bars=False)

    def write_parquet(self, tasks: Sequence[Task], out: str | os.PathLike, settings: Settings, fps: float,
                      workers: int | None) -> None:
        write_parquet(tasks, out, settings, fps, workers, self.address)
