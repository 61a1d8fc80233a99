"""``pip install .``: the wheel holds the library, its two served models and the ``emotion`` command, and the
installed copy works from outside the repository (the README's in-process snippet and ``emotion photo.jpg``).

The wheel is built without build isolation or dependencies (the test venv has them) and installed with ``--target``
into a temporary folder, so this takes seconds, not a fresh venv's minutes; the full ``pip install <clone>`` into a
fresh venv is the README's command (its timing is there)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

SERVED = ["emotion_classifier.onnx", "emotion_classifier.json", "emotion_classifier_fast.onnx",
          "emotion_classifier_fast.json"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: building in the clone itself would leave build/ and *.egg-info behind
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "build", "*.egg-info",
                                                             "__pycache__", "members", "student", "tests", "bench",
                                                             "train", "docs"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (built,) = (tmp / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return site


def run_outside(site: Path, args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    """``args`` with the installed copy first on the path and the working directory outside the repository."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(args, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_holds_the_library_the_served_models_and_the_command(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n.split("/")[-1] for n in names if n.startswith("emotion/models/")) == sorted(SERVED)
    for n in SERVED:
        assert zipfile.ZipFile(wheel).getinfo(f"emotion/models/{n}").file_size == (ROOT / "models" / n).stat().st_size
    assert {n.split("/")[0] for n in names} == {"emotion", wheel.name.split("-")[0] + "-" +
                                                wheel.name.split("-")[1] + ".dist-info"}  # no web/, train/, tests/
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "emotion = emotion.__main__:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_runtime_pins_are_those_of_requirements_txt():
    """The library's dependencies and the ``app`` extra are requirements.txt's lines, pin for pin."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()} - {""}
    declared = project["dependencies"] + project["optional-dependencies"]["app"]
    assert all("==" in d for d in declared) and set(declared) <= pins, set(declared) - pins
    assert pins - set(declared) == set()  # and requirements.txt has nothing the package forgets


def test_the_installed_copy_finds_its_models_and_runs_the_readme_snippet(installed, tmp_path):
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"^from emotion import EmotionRecognizer.*\n.*\n", readme, re.M).group(0)
    photo = tmp_path / "group.jpg"
    shutil.copy(EXAMPLES / "astronaut.jpg", photo)
    code = ("import emotion, emotion.classifier as c, json\n"
            "print(json.dumps([emotion.__file__, str(c.DEFAULT_MODEL_PATH), str(c.FAST_MODEL_PATH)]))\n"
            f"print(json.dumps({snippet.splitlines()[1].split('  #')[0]}))\n")
    r = run_outside(installed, [sys.executable, "-c", snippet.splitlines()[0] + "\n" + code], tmp_path)
    assert r.returncode == 0, r.stderr
    where, answer = (json.loads(line) for line in r.stdout.splitlines()[-2:])
    assert all(Path(p).is_relative_to(installed) for p in where) and all(Path(p).is_file() for p in where[1:])
    assert answer["emotion"] == "happy" and answer["model"] == "accurate" and len(answer["faces"]) == 1


def test_the_installed_command(installed, tmp_path):
    shutil.copy(EXAMPLES / "astronaut.jpg", tmp_path / "photo.jpg")
    command = str(installed / "bin" / "emotion")
    r = run_outside(installed, [command, "photo.jpg", "--format", "json", "--model", "fast"], tmp_path)
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert (row["file"], row["emotion"], row["face"]) == ("photo.jpg", "happy", 1)
    assert "1 files scored: 1 faces, 0 error rows → stdout" in r.stderr  # progress and summary on stderr
    help_text = run_outside(installed, [command, "--help"], tmp_path)
    assert help_text.returncode == 0 and help_text.stdout.startswith("usage: emotion ")
    assert "--out" in help_text.stdout and "examples:" in help_text.stdout
