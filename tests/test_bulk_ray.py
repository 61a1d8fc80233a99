"""``python -m emotion --engine ray``: Ray Data (local Ray, 2 logical CPUs) gives the local engine's rows exactly.
Skipped when Ray is not installed (``pip install -r requirements-ray.txt``; CI installs it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from emotion import bulk  # noqa: E402
from emotion.batch import BULK_COLUMNS  # noqa: E402
from emotion.bulk_ray import RayEngine  # noqa: E402
from tests.conftest import EXAMPLES, ROOT  # noqa: E402
from tests.test_bulk import write_clip  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=True, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})  # workers import emotion from here
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ray") / "in"
    (root / "sub").mkdir(parents=True)
    for name in ("astronaut.jpg", "chelsea.jpg"):
        (root / name).write_bytes((EXAMPLES / name).read_bytes())
    (root / "sub" / "grace_hopper.jpg").write_bytes((EXAMPLES / "grace_hopper.jpg").read_bytes())
    (root / "sub" / "bad.jpg").write_text("not a photo")
    write_clip(root / "sub" / "clip.mp4", frames=5)
    return root


@pytest.fixture(scope="module")
def local_csv(small_folder, tmp_path_factory, recognizer) -> str:
    out = tmp_path_factory.mktemp("local") / "local.csv"
    bulk.run([small_folder], out, recognizer=recognizer)
    return out.read_text()


def test_ray_engine_gives_the_local_engines_rows(local_ray, small_folder, local_csv, tmp_path):
    out = tmp_path / "ray.csv"
    s = bulk.run([small_folder], out, engine=RayEngine(), workers=1)
    assert s.files == 5 and out.read_text() == local_csv  # same rows, same order (Ray Data preserves it here)
    again = bulk.run([small_folder], out, engine=RayEngine(), workers=1)  # resumable like the local engine
    assert (again.files, again.skipped) == (0, 5) and out.read_text() == local_csv


def test_ray_writes_parquet_with_the_same_rows(local_ray, small_folder, tmp_path, recognizer):
    import pyarrow.parquet as pq

    jsonl = tmp_path / "local.jsonl"
    bulk.run([small_folder], jsonl, recognizer=recognizer)
    out = tmp_path / "rows.parquet"
    bulk.run([small_folder], out, engine=RayEngine(), workers=1)
    table = pq.read_table(out)
    assert table.column_names == BULK_COLUMNS and os.path.isdir(out)

    def key(r):
        return r["file"], r["time_s"] or 0.0, -1 if r["face"] is None else r["face"]

    assert sorted(table.to_pylist(), key=key) == sorted(bulk.read_rows(jsonl), key=key)
    with pytest.raises(ValueError, match="already exists"):
        bulk.run([small_folder], out, engine=RayEngine(), workers=1)
