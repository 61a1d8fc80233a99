"""The Space: what ``python -m web.space`` stages and uploads (the Hub is never contacted: its API is a stub here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from bench.nginx import nginx_binary, nginx_proxy
from bench.server import running_app
from bench.visit import whole_use
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


# The rehearsal ------------------------------------------------------------------------------------------------------
# The staged folder alone, in a fresh venv with the Space's Python and only its requirements.txt, started with the
# environment a Space gives, behind nginx configured as the platform proxies (bench/nginx.py). Needs nginx (and, for
# the page, Chromium) from Debian: .ci/run installs both; elsewhere the rehearsal skips.
RATE_LIMIT = 20  # photos per minute per visitor in the rehearsal
SPACE_ENV = dict(GRADIO_SERVER_NAME="0.0.0.0", SPACE_ID="rehearsal/facial-emotion", SYSTEM="spaces",
                 SPACE_HOST="rehearsal-facial-emotion.hf.space", EMOTION_RATE_LIMIT=str(RATE_LIMIT))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def space_python() -> str:
    """The Python the Space runs (README's front matter), here."""
    version = re.search(r'^python_version:\s*"?([\d.]+)"?', (ROOT / "README.md").read_text(), re.M).group(1)
    base = getattr(sys, "_base_executable", sys.executable)
    found = shutil.which(f"python{version}") or (base if sys.version.startswith(version + ".") else None)
    if found is None:
        pytest.skip(f"no Python {version} here (the Space's)")
    return found


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    if nginx_binary() is None:
        pytest.skip("nginx not installed (Debian: apt-get install nginx)")
    tmp = tmp_path_factory.mktemp("space")
    staged, venv = tmp / "space", tmp / "venv"
    space.stage(staged)
    subprocess.run([space_python(), "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-compile", "-q", "-r", str(staged / "requirements.txt")],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    (tmp / "gradio").mkdir()
    with running_app(tmp / "gradio", tmp / "server.log", app_dir=staged, python=str(venv / "bin" / "python"),
                     startup_timeout=300, **SPACE_ENV) as (app_url, proc, _), nginx_proxy(app_url, tmp / "nginx") as url:
        yield {"url": url, "log": tmp / "server.log", "staged": staged, "venv": venv}


def test_the_staged_folder_boots_alone_on_the_space_python(rehearsal):
    python = rehearsal["venv"] / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import emotion, web, gradio, sys; print(emotion.__file__, sys.version)"],
                           cwd=rehearsal["staged"], capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(rehearsal["staged"])) and "3.11." in where  # its own code, the Space's Python
    lines = rehearsal["log"].read_text().splitlines()
    assert [l for l in lines if l.startswith("ready: ")][0].endswith("on a Space")
    assert not [l for l in lines if "TensorFlow Lite" in l or "absl::" in l or "Feedback manager" in l]


def test_through_the_proxy_every_path_answers(rehearsal):
    steps = whole_use(rehearsal["url"])
    assert set(steps.values()) == {"ok"}, steps
    # no space id in the page's config: Gradio's Space header would send each visitor's browser to third parties
    assert httpx.get(rehearsal["url"] + "/config", timeout=30).json()["space_id"] is None


def _client_from(source: str, url: str, **headers) -> httpx.Client:
    """A visitor at ``source`` (a 127.0.x.y of its own: the proxy sees it as the peer)."""
    return httpx.Client(base_url=url, timeout=60, headers=headers,
                        transport=httpx.HTTPTransport(local_address=source))


def _photo_errors(client: httpx.Client, n: int, forged: bool = False) -> list[str | None]:
    """``n`` cheap photos (not images: refused after being counted); each answer's error code."""
    out = []
    for i in range(n):
        headers = {"X-Forwarded-For": f"203.0.113.{i}"} if forged else {}
        r = client.post("/api/predict", files={"file": ("x.jpg", b"not an image at all")}, headers=headers)
        out.append(r.json().get("error"))
    return out


def test_fifty_addresses_get_fifty_budgets_and_a_forger_stays_one(rehearsal):
    from concurrent.futures import ThreadPoolExecutor

    def visitor(k: int) -> list[str | None]:
        with _client_from(f"127.0.{10 + k // 200}.{1 + k % 200}", rehearsal["url"]) as c:
            return _photo_errors(c, RATE_LIMIT + 1)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(visitor, range(50)))
    for errors in answers:  # each visitor: its whole allowance, then refused
        assert errors[:RATE_LIMIT] == ["unsupported_format"] * RATE_LIMIT and errors[RATE_LIMIT] == "rate_limited", errors
    with _client_from("127.0.9.9", rehearsal["url"]) as forger:
        errors = _photo_errors(forger, RATE_LIMIT + 1, forged=True)  # a new X-Forwarded-For each time
    assert errors[RATE_LIMIT] == "rate_limited" and errors.count("rate_limited") == 1


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")
def test_the_page_answers_in_chromium_through_the_proxy(rehearsal):
    from playwright.sync_api import sync_playwright

    from tests.browser_helpers import ARGS, CAMERA_TRACKS, LAPTOP, open_page, start_live, stream_requests

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS + ["--use-fake-device-for-media-stream"])
        ctx = browser.new_context(viewport=LAPTOP, permissions=["camera"])
        ctx.add_init_script(CAMERA_TRACKS)
        asked: list[str] = []  # every address the page asks for: nothing but the app
        ctx.on("request", lambda r: asked.append(r.url))
        pg = open_page(ctx, rehearsal["url"])
        pg.locator("#photo-input input[type=file]").set_input_files(str(ROOT / "examples" / "astronaut.jpg"))
        pg.wait_for_selector("#verdict .verdict-conf")
        assert "Happy" in pg.locator("#verdict").inner_text()
        pg.get_by_role("tab", name="Webcam").click()
        pg.get_by_role("tab", name="Snapshot").click()
        cam = pg.locator("#snap-camera")
        cam.get_by_text("Click to Access Webcam").click()
        # a click before the preview plays takes nothing
        pg.wait_for_function("() => document.querySelector('#snap-camera video')?.readyState >= 2")
        cam.get_by_role("button", name="capture photo").click()
        pg.wait_for_selector("#snap-verdict .verdict-conf, #snap-verdict .verdict-error")  # the fake camera: no face
        frames = stream_requests(pg)
        start_live(pg, frames, within_s=90)  # frames flow through the proxy's unbuffered stream (a loaded CI host is slow)
        pg.wait_for_function("() => document.querySelector('#live-verdict')?.innerText.trim().length > 0")
        browser.close()
    elsewhere = {u for u in asked if not u.startswith((rehearsal["url"] + "/", "data:", "blob:"))}
    assert asked and not elsewhere, "\n".join(sorted(elsewhere))[:3000]
