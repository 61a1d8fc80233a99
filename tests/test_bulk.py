"""``python -m emotion``: files and folders, videos, error rows, CSV / JSON Lines, resume, worker processes.
Inputs are made here from the repo's example photos (a short MP4 is written with OpenCV)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from emotion import bulk
from emotion.batch import BULK_COLUMNS, CSV_COLUMNS
from emotion.classes import CLASSES
from tests.conftest import EXAMPLES, MODEL, ROOT

VIDEO_FRAMES, VIDEO_FPS = 10, 10


def write_clip(path: Path, frames: int = VIDEO_FRAMES, fps: int = VIDEO_FPS, side: int = 256) -> Path:
    """A short MP4 of the astronaut moving sideways, one pixel column per frame."""
    img = cv2.resize(cv2.imread(str(EXAMPLES / "astronaut.jpg")), (side, side), interpolation=cv2.INTER_AREA)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (side, side))
    assert w.isOpened()
    for i in range(frames):
        w.write(np.roll(img, i, axis=1))
    w.release()
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """photos/astronaut.jpg, photos/bad.jpg (text), photos/notes.txt (not an image: skipped in a folder),
    photos/sub/grace_hopper.jpg, photos/sub/deeper/chelsea.png (no face), photos/sub/clip.mp4, photos/.hidden/..."""
    root = tmp_path_factory.mktemp("bulk") / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "astronaut.jpg").write_bytes((EXAMPLES / "astronaut.jpg").read_bytes())
    (root / "bad.jpg").write_text("this is not a photo\n")
    (root / "notes.txt").write_text("skipped\n")
    (root / "sub" / "grace_hopper.jpg").write_bytes((EXAMPLES / "grace_hopper.jpg").read_bytes())
    Image.open(EXAMPLES / "chelsea.jpg").save(root / "sub" / "deeper" / "chelsea.png")
    (root / ".hidden" / "astronaut.jpg").write_bytes((EXAMPLES / "astronaut.jpg").read_bytes())
    write_clip(root / "sub" / "clip.mp4")
    return root


EXPECTED_FILES = ["astronaut.jpg", "bad.jpg", "sub/clip.mp4", "sub/deeper/chelsea.png", "sub/grace_hopper.jpg"]


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory, recognizer) -> str:
    """The whole folder scored once, in this process: the text every other run is compared with."""
    out = tmp_path_factory.mktemp("ref") / "ref.csv"
    s = bulk.run([folder], out, model=MODEL, recognizer=recognizer)
    assert (s.files, s.skipped) == (len(EXPECTED_FILES), 0)
    return out.read_text()


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def rel(folder: Path, rows: list[dict]) -> list[str]:
    return [Path(r["file"]).relative_to(folder).as_posix() for r in rows]


def test_folders_recursively_one_row_per_face_and_errors_as_rows(folder, reference, recognizer):
    rows = rows_of(reference)
    assert list(rows[0]) == BULK_COLUMNS and BULK_COLUMNS == ["file", "time_s", *CSV_COLUMNS[1:]]
    assert sorted(set(rel(folder, rows))) == EXPECTED_FILES  # notes.txt and .hidden/ are not scored
    by_file = {}
    for r in rows:
        by_file.setdefault(Path(r["file"]).relative_to(folder).as_posix(), []).append(r)
    assert [r["error"] for r in by_file["bad.jpg"]] == ["unsupported_format"]
    assert [r["error"] for r in by_file["sub/deeper/chelsea.png"]] == ["no_face_detected"]
    (astro,) = by_file["astronaut.jpg"]
    expected = recognizer.predict(EXAMPLES / "astronaut.jpg").faces[0]
    assert astro["time_s"] == "" and astro["face"] == "1" and astro["error"] == "" and astro["emotion"] == "happy"
    assert [int(astro[k]) for k in "xywh"] == list(expected.box)
    assert [float(astro[c]) for c in CLASSES] == pytest.approx([expected.probabilities[c] for c in CLASSES], abs=1e-4)
    assert by_file["sub/grace_hopper.jpg"][0]["emotion"] and all(r["emotion"] == "" for r in by_file["bad.jpg"])


def test_a_file_named_directly_is_scored_whatever_its_name(folder, tmp_path, recognizer):
    out = tmp_path / "o.csv"
    bulk.run([folder / "notes.txt", folder / "astronaut.jpg", folder / "astronaut.jpg"], out, recognizer=recognizer)
    rows = rows_of(out.read_text())
    assert [(Path(r["file"]).name, r["error"]) for r in rows] == [("notes.txt", "unsupported_format"), ("astronaut.jpg", "")]
    with pytest.raises(FileNotFoundError, match="no such file"):
        bulk.run([folder / "missing.jpg"], out)


def test_video_rows_carry_the_frame_time(folder, reference, tmp_path, recognizer):
    clip = [r for r in rows_of(reference) if r["file"].endswith("clip.mp4")]
    assert [float(r["time_s"]) for r in clip] == [0.0, 0.2, 0.4, 0.6, 0.8]  # 10 frames at 10 fps, sampled at 5 fps
    assert all(r["face"] == "1" and r["emotion"] == "happy" for r in clip)
    assert [int(r["x"]) for r in clip] == sorted(int(r["x"]) for r in clip)  # the face moves right

    every = bulk.score_video(recognizer, "clip", str(folder / "sub" / "clip.mp4"), fps=0)
    assert [r["time_s"] for r in every] == [round(i / VIDEO_FPS, 3) for i in range(VIDEO_FRAMES)]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    assert bulk.score_video(recognizer, "broken", str(broken)) == [{"file": "broken", "face": "", "error": bulk.INVALID_VIDEO}]


def test_json_lines_hold_the_same_rows_typed(folder, reference, tmp_path, recognizer):
    out = tmp_path / "r.jsonl"
    bulk.run([folder], out, recognizer=recognizer)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(list(r) == BULK_COLUMNS for r in rows)
    face = next(r for r in rows if r["file"].endswith("astronaut.jpg"))
    assert isinstance(face["face"], int) and isinstance(face["is_uncertain"], bool) and face["time_s"] is None
    err = next(r for r in rows if r["error"] == "unsupported_format")
    assert err["face"] is None and err["emotion"] is None and err["happy"] is None

    def as_csv(r):
        return {k: "" if v is None else str(v) for k, v in r.items()}

    assert [as_csv(r) for r in rows] == rows_of(reference)
    assert bulk.read_rows(out) == rows


def test_rerun_skips_files_already_in_the_output(folder, reference, tmp_path, recognizer):
    out = tmp_path / "r.csv"
    out.write_text(reference)
    s = bulk.run([folder], out, recognizer=recognizer)
    assert (s.files, s.skipped, s.rows) == (0, len(EXPECTED_FILES), 0)
    assert out.read_text() == reference


def test_an_interrupted_run_resumes_to_the_full_set_once(folder, reference, tmp_path, recognizer, monkeypatch):
    out = tmp_path / "r.csv"
    calls = []
    real = bulk.score_task

    def stop_at_the_third(rec, task, fps):
        calls.append(task.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(rec, task, fps)

    monkeypatch.setattr(bulk, "score_task", stop_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        bulk.run([folder], out, recognizer=recognizer)
    monkeypatch.setattr(bulk, "score_task", real)
    assert sorted(set(rel(folder, rows_of(out.read_text())))) == EXPECTED_FILES[:2]
    s = bulk.run([folder], out, recognizer=recognizer)
    assert (s.files, s.skipped) == (len(EXPECTED_FILES) - 2, 2)
    assert out.read_text() == reference


def test_a_json_out_is_a_json_array_of_the_same_rows_valid_after_every_file(folder, reference, tmp_path, recognizer):
    jsonl, out = tmp_path / "r.jsonl", tmp_path / "r.json"
    bulk.run([folder], jsonl, recognizer=recognizer)
    bulk.run([folder / "astronaut.jpg"], out, recognizer=recognizer)  # one file, then the rest (resume appends)
    first = json.loads(out.read_text())
    assert [r["file"] for r in first] == [str(folder / "astronaut.jpg")]
    s = bulk.run([folder / "astronaut.jpg", folder / "sub", folder / "bad.jpg"], out, recognizer=recognizer)
    assert (s.files, s.skipped) == (len(EXPECTED_FILES) - 1, 1)
    key = lambda r: (r["file"], r["time_s"] or 0, r["face"] or 0)  # noqa: E731
    assert sorted(json.loads(out.read_text()), key=key) == sorted(bulk.read_rows(jsonl), key=key)
    assert bulk.read_rows(out) == json.loads(out.read_text())


def test_the_output_format_follows_the_extension_and_an_unknown_one_is_refused(folder, tmp_path, recognizer):
    assert [bulk.output_format(f"r{ext}") for ext in (".csv", ".JSONL", ".json", ".parquet")] == \
        ["csv", "jsonl", "json", "parquet"]
    assert bulk.output_format("r.txt", "json") == "json"  # --format names it outright
    for name in ("r.txt", "results"):
        with pytest.raises(ValueError, match="cannot tell the output format .* end --out with .csv"):
            bulk.run([folder / "bad.jpg"], tmp_path / name, recognizer=recognizer)
        assert not (tmp_path / name).exists()


def test_without_out_the_rows_go_to_stdout(folder, tmp_path, recognizer, capsys):
    s = bulk.run([folder / "astronaut.jpg", folder / "bad.jpg"], None, fmt="json", recognizer=recognizer)
    rows = json.loads(capsys.readouterr().out)
    assert s.files == 2 and [r["error"] for r in rows] == [None, "unsupported_format"]
    bulk.run([folder / "astronaut.jpg"], None, recognizer=recognizer)
    assert capsys.readouterr().out.splitlines()[0] == ",".join(BULK_COLUMNS)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_a_torn_last_line_is_scored_again_whole(folder, reference, tmp_path, recognizer, fmt):
    """A kill in the middle of a write: the torn row and the rest of its file's rows are dropped, then re-scored."""
    full = tmp_path / f"full.{fmt}"
    if fmt == "csv":
        full.write_text(reference)
    else:
        bulk.run([folder], full, recognizer=recognizer)
    text = full.read_text()
    start = text.index("clip.mp4")  # the video's rows come third: cut inside its third row
    cut = text.index("\n", text.index("\n", text.index("\n", start) + 1) + 1) + 15
    out = tmp_path / f"torn.{fmt}"
    out.write_text(text[:cut])
    s = bulk.run([folder], out, recognizer=recognizer)
    assert (s.files, s.skipped) == (3, 2)
    assert out.read_text() == text


def test_two_worker_processes_give_the_same_rows(folder, reference, tmp_path):
    out = tmp_path / "w2.csv"
    s = bulk.run([folder], out, workers=2, model="accurate")
    assert s.files == len(EXPECTED_FILES) and out.read_text() == reference


def test_command_line(folder, reference, tmp_path):
    out = tmp_path / "cli.csv"
    cmd = [sys.executable, "-m", "emotion", str(folder / "sub"), str(folder / "astronaut.jpg"), "--out", str(out), "--quiet"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    want = [row for row in rows_of(reference) if "/sub/" in row["file"] or row["file"].endswith("/astronaut.jpg")]
    got = rows_of(out.read_text())
    assert sorted(map(tuple, (x.values() for x in got))) == sorted(map(tuple, (x.values() for x in want)))
    again = subprocess.run(cmd[:-1], cwd=ROOT, capture_output=True, text=True, timeout=120)  # with a summary
    assert again.returncode == 0 and "0 files scored (4 already in" in again.stderr
    missing = subprocess.run([sys.executable, "-m", "emotion", str(folder / "nope"), "--out", str(out)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    unknown = subprocess.run([sys.executable, "-m", "emotion", str(folder / "bad.jpg"), "--out", str(tmp_path / "r.txt")],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "cannot tell the output format from 'r.txt'" in unknown.stderr


def test_the_command_line_reads_the_pipeline_settings_from_the_library():
    from emotion.config import Settings

    assert Settings.from_env({}) == Settings()
    s = Settings.from_env({"EMOTION_MAX_FACES": "3", "EMOTION_MULTI_FACE": "Largest", "GRADIO_SERVER_PORT": "1"})
    assert (s.max_faces, s.multi_face) == (3, "largest")
    with pytest.raises(ValueError, match="EMOTION_MAX_FACES"):
        Settings.from_env({"EMOTION_MAX_FACES": "many"})


def test_models_outputs_and_engines_are_checked(folder, tmp_path, monkeypatch):
    assert bulk.resolve_model(None) == bulk.resolve_model("accurate") == str(MODEL)
    assert bulk.resolve_model(str(MODEL)) == str(MODEL)
    with pytest.raises(FileNotFoundError, match="model not found"):
        bulk.resolve_model(tmp_path / "nope.onnx")
    if not bulk.MODELS["fast"].is_file():
        with pytest.raises(FileNotFoundError, match="fast"):
            bulk.resolve_model("fast")
    with pytest.raises(ValueError, match="engine ray"):
        bulk.run([folder / "bad.jpg"], tmp_path / "x.parquet")
    other = tmp_path / "web_batch.csv"
    other.write_text(",".join(CSV_COLUMNS) + "\na.jpg,,,,,,,,,invalid_image\n")
    with pytest.raises(ValueError, match="other columns"):
        bulk.run([folder / "bad.jpg"], other)
    with pytest.raises(ValueError, match="unknown engine 'ray'"):  # bulk knows its own engine only
        bulk.run([folder / "bad.jpg"], tmp_path / "y.csv", engine="ray")
    from emotion.__main__ import engine
    from emotion.bulk_ray import RayEngine

    assert isinstance(engine("local"), bulk.LocalEngine) and engine("ray", "auto") == RayEngine("auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match="pip install -r requirements-ray.txt"):
        bulk.run([folder / "bad.jpg"], tmp_path / "y.csv", engine=RayEngine())
