"""The Space: what ``python -m web.space`` stages and uploads (the Hub is never contacted: its API is a stub here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from web import space


def test_stage_writes_exactly_what_the_space_runs(tmp_path, capsys):
    assert space.main(["stage", str(tmp_path / "s")]) == 0
    staged = {p.relative_to(tmp_path / "s").as_posix() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    for needed in ("app.py", "requirements.txt", "packages.txt", "README.md", "LICENSE", "ATTRIBUTION.md",
                   "models/emotion_classifier.onnx", "models/emotion_classifier.json", "models/emotion_classifier_fast.onnx",
                   "models/emotion_classifier_fast.json", "docs/MODEL_CARD.md", "docs/API.md", "docs/images/upload.png",
                   "emotion/recognizer.py", "web/page.js", "examples/grace_hopper.jpg"):
        assert needed in staged, needed
    assert not [f for f in staged if f.split("/")[0] in ("train", "bench", "tests", ".ci") or "__pycache__" in f
                or f.startswith(("models/members/", "models/student/")) or f.endswith((".pyc", ".pyi"))]
    assert {f for f in staged if f.startswith("models/")} == {f"models/emotion_classifier{k}.{x}" for k in ("", "_fast")
                                                             for x in ("onnx", "json")}
    assert (tmp_path / "s" / "README.md").read_text().startswith("---\ntitle:")  # the Space's settings
    out = capsys.readouterr().out
    assert "models/emotion_classifier.onnx" in out and "through LFS/Xet" in out


def test_the_listing_marks_large_and_binary_files_for_lfs():
    files = {f.path: f for f in space.manifest()}
    assert files["models/emotion_classifier.onnx"].lfs and files["models/emotion_classifier.onnx"].size > space.LFS_BYTES
    assert files["examples/astronaut.jpg"].lfs and files["models/emotion_classifier_fast.onnx"].lfs  # binary, < 10 MB
    assert not files["app.py"].lfs and not files["models/emotion_classifier.json"].lfs
    assert space.describe(list(files.values())).splitlines()[-1].startswith(f"{len(files)} files")


def test_dry_run_writes_nothing(tmp_path, capsys):
    assert space.main(["stage", "--dry-run", str(tmp_path / "s")]) == 0
    assert not (tmp_path / "s").exists() and "dry run" in capsys.readouterr().out


def test_stage_refuses_to_overwrite_the_checkout():
    with pytest.raises(ValueError, match="holds the checkout"):
        space.stage(ROOT.parent)


class FakeHub:
    """HfApi's two calls, recorded: what would reach the Hub."""

    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def upload_folder(self, **kw):
        folder = Path(kw["folder_path"])
        kw["files"] = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        self.calls.append(("upload_folder", kw["repo_id"], kw))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/spaces/{kw['repo_id']}/commit/abc"})()


def test_push_creates_the_space_and_uploads_the_staged_folder_in_one_commit():
    hub = FakeHub()
    url = space.push("alice/emotions", api=hub)
    (create, repo, opts), (upload, repo2, up) = hub.calls
    assert (create, repo, repo2) == ("create_repo", "alice/emotions", "alice/emotions") and upload == "upload_folder"
    assert opts["repo_type"] == "space" and opts["space_sdk"] == "gradio" and opts["exist_ok"]
    assert up["repo_type"] == "space" and up["files"] == space.space_files() and up["delete_patterns"] == "*"
    assert url.endswith("/commit/abc")


def test_push_without_a_token_says_how_to_get_one(monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    assert space.main(["push", "alice/emotions"]) == 1
    assert "HF_TOKEN" in capsys.readouterr().err
    assert space.main(["push", "not a repo"]) == 1
