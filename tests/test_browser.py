"""The real UI in headless Chromium (Debian's binary, driven by Playwright; no browser download).

Screenshots go to a temporary folder, or to docs/images when UPDATE_SCREENSHOTS=1 (that is how the README's
pictures are made)."""

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT
from bench.server import running_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def pw():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def page(tmp_path_factory, pw):
    tmp = tmp_path_factory.mktemp("browser")
    (tmp / "gradio").mkdir()
    with running_app(tmp / "gradio", tmp / "server.log") as (url, _, _):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
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
    page.locator("#explain-go").click()  # "Why this emotion?" on request
    page.wait_for_selector("#cam img", timeout=60_000)
    page.screenshot(path=str(shots / "example.png"), full_page=True)


# Every path ends in a clear answer --------------------------------------------------------------------------------
def _fresh(page) -> None:
    page.locator("#try-another").click()
    page.wait_for_function("() => !document.querySelector('#verdict .verdict')")


def test_a_file_that_is_not_an_image_gets_our_message_and_no_gradio_error(page, tmp_path):
    _fresh(page)
    fake = tmp_path / "notes.jpg"
    fake.write_text("these are my shopping notes, not a photo")
    _upload(page, fake)
    page.wait_for_selector("#verdict .verdict-error")
    assert "Unsupported file type" in page.locator("#verdict").inner_text()
    toasts = page.locator(".toast-body").all_inner_texts()
    assert not any("Error" in t or "preprocess" in t for t in toasts), toasts


def test_a_phone_photo_of_ten_megabytes_is_answered(page, tmp_path, shots):
    import io

    import numpy as np
    from PIL import Image

    _fresh(page)
    im = Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB").resize((4000, 6000), Image.BILINEAR)
    noisy = np.asarray(im).astype(np.int16) + np.random.default_rng(0).integers(-20, 21, (6000, 4000, 3), dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=94)
    assert 9 * 2**20 < len(buf.getvalue()) < 13 * 2**20  # what a phone camera writes
    (tmp_path / "IMG_0001.jpg").write_bytes(buf.getvalue())
    assert "20 MB" in page.locator("#photo-input").inner_text()  # the limit is stated before upload
    _upload(page, tmp_path / "IMG_0001.jpg")
    page.wait_for_selector("#verdict .verdict-conf", timeout=90_000)
    assert "confidence" in page.locator("#verdict").inner_text()


@pytest.fixture(scope="module")
def browser_url(tmp_path_factory, pw):
    """A server and a browser with a fake camera, for the phone and webcam paths."""
    tmp = tmp_path_factory.mktemp("browser2")
    (tmp / "gradio").mkdir()
    with running_app(tmp / "gradio", tmp / "server.log") as (url, _, _):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS + ["--use-fake-device-for-media-stream"])
        yield browser, url
        browser.close()


def test_on_a_phone_the_answer_comes_into_view_after_tapping_an_example(browser_url, shots):
    browser, url = browser_url
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    pg.wait_for_selector("#photo-input")
    pg.locator("img[src*='grace_hopper']").first.tap()
    pg.wait_for_selector("#verdict .verdict-conf")
    pg.wait_for_timeout(1500)  # the smooth scroll
    box = pg.locator("#verdict .verdict-title").bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 844, box
    pg.screenshot(path=str(shots / "phone.png"))
    ctx.close()


def test_a_blocked_camera_says_what_happened_and_what_to_do(browser_url):
    browser, url = browser_url
    ctx = browser.new_context()  # no camera permission: the browser refuses getUserMedia
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(url)
    pg.wait_for_selector("#photo-input")
    pg.get_by_role("tab", name="Webcam").click()
    pg.get_by_text("Click to Access Webcam").first.click()
    message = pg.locator(".camera-message:visible").first
    message.wait_for()
    assert "camera" in message.inner_text().lower() and "Upload" in message.inner_text()
    ctx.close()


def test_leaving_the_live_tab_stops_the_frames(browser_url):
    browser, url = browser_url
    ctx = browser.new_context(permissions=["camera"])
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    frames: list[float] = []
    pg.on("request", lambda r: frames.append(time.monotonic()) if re.search(r"/gradio_api/stream/[0-9a-f]+$", r.url) else None)
    pg.goto(url)
    pg.wait_for_selector("#photo-input")
    pg.get_by_role("tab", name="Webcam").click()
    pg.get_by_role("tab", name="Live").click()
    pg.locator("#live-camera").get_by_text("Click to Access Webcam").click()
    pg.locator("#live-camera").get_by_role("button", name="capture photo").click()
    deadline = time.monotonic() + 20
    while len(frames) < 5 and time.monotonic() < deadline:
        pg.wait_for_timeout(200)
    assert len(frames) >= 5, "live frames never started"
    pg.get_by_role("tab", name="Upload").click()
    left = time.monotonic()
    pg.wait_for_timeout(3000)
    assert [t for t in frames if t > left + 0.5] == []
    ctx.close()
