"""The real UI in headless Chromium (Debian's binary, driven by Playwright; no browser download).

Screenshots go to a temporary folder, or to docs/images when UPDATE_SCREENSHOTS=1 (that is how the README's
pictures are made)."""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT
from bench.server import running_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("browser")
    (tmp / "gradio").mkdir()
    with running_app(tmp / "gradio", tmp / "server.log") as (url, _, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        pg.set_default_timeout(60_000)
        pg.goto(url)
        pg.wait_for_selector("#photo-input")
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        d = ROOT / "docs" / "images"
        d.mkdir(parents=True, exist_ok=True)
        return d
    return tmp_path_factory.mktemp("shots")


def _upload(page, path: Path) -> None:
    page.locator("#photo-input input[type=file]").set_input_files(str(path))


def test_upload_a_face_and_read_the_emotion(page, shots):
    _upload(page, EXAMPLES / "astronaut.jpg")
    page.wait_for_selector("#verdict .verdict-conf")
    text = page.locator("#verdict").inner_text()
    assert "Happy" in text and "confidence" in text
    assert page.locator("#probabilities").inner_text().lower().count("%") >= 3
    page.screenshot(path=str(shots / "upload.png"), full_page=True)


def test_try_another_then_a_photo_without_a_face(page, shots):
    page.locator("#try-another").click()
    page.wait_for_function("() => !document.querySelector('#verdict .verdict')")
    _upload(page, EXAMPLES / "chelsea.jpg")
    page.wait_for_selector("#verdict .verdict-error")
    assert "No face was found" in page.locator("#verdict").inner_text()
    page.screenshot(path=str(shots / "no_face.png"), full_page=True)


def test_an_example_runs(page, shots):
    page.locator("#try-another").click()
    page.wait_for_function("() => !document.querySelector('#verdict .verdict')")
    page.get_by_role("button", name="grace_hopper").or_(page.locator("img[src*='grace_hopper']")).first.click()
    page.wait_for_selector("#verdict .verdict-conf")
    assert "confidence" in page.locator("#verdict").inner_text()
    page.screenshot(path=str(shots / "example.png"), full_page=True)
