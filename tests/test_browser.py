"""The real UI in headless Chromium (Debian's binary, driven by Playwright; no browser download), on a 1366×768
laptop and a 390×844 phone (touch), with Chromium's fake camera, a blocked camera, and the camera life cycle checked
by counting live frames on the network and camera tracks still running.

Screenshots go to a temporary folder, or to docs/images when UPDATE_SCREENSHOTS=1 (that is how the README's
pictures are made)."""

import json
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser_helpers import (ARGS, CAMERA_TRACKS, CONTRAST, LAPTOP, PHONE, axe_violations, leave_via_overflow,
                                   live_frames, open_page, open_tab, start_live, stream_requests, tracks_live)
from tests.conftest import EXAMPLES, ROOT
from bench.server import running_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")
AXE = ROOT / "tests" / "node_modules" / "axe-core" / "axe.min.js"  # `npm install --prefix tests` (.ci/run does)
FACE_VIEW_TTL_S = 3
BATCH_LIMIT = 12  # batch photos per minute per visitor
# Header cells of a table whose text runs past the cell (clipped) or past the screen.
CUT_HEADERS = """(sel) => [...document.querySelectorAll(sel + ' th')].filter((th) => th.offsetParent).filter((th) =>
  th.getBoundingClientRect().right > window.innerWidth + 1 || [th, ...th.querySelectorAll('*')].some((e) => e.scrollWidth > e.clientWidth + 1)
).map((th) => th.innerText)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the whole file: a generous per-client allowance (every test comes from 127.0.0.1) and a short
    face-picker memory, so that the picker's "kept while the photo is on screen" is checked in seconds."""
    tmp = tmp_path_factory.mktemp("browser")
    (tmp / "gradio").mkdir()
    env = dict(EMOTION_RATE_LIMIT="300", EMOTION_FACE_VIEW_TTL_S=str(FACE_VIEW_TTL_S), EMOTION_BATCH_PHOTO_LIMIT=str(BATCH_LIMIT),
               FORWARDED_ALLOW_IPS="127.0.0.1")  # a context may pose as another visitor (its own allowances)
    with running_app(tmp / "gradio", tmp / "server.log", **env) as (url, _, _):
        yield {"url": url, "temp": tmp / "gradio", "log": tmp / "server.log"}


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS + ["--use-fake-device-for-media-stream"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """The laptop page most tests share (its state carries from one test to the next, as a visit does)."""
    ctx = browser.new_context(viewport=LAPTOP)
    pg = open_page(ctx, server["url"])
    yield pg
    ctx.close()


@pytest.fixture
def phone(browser, server):
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, permissions=["camera"])
    ctx.add_init_script(CAMERA_TRACKS)
    yield open_page(ctx, server["url"])
    ctx.close()


@pytest.fixture
def laptop_camera(browser, server):
    ctx = browser.new_context(viewport=LAPTOP, permissions=["camera"])
    ctx.add_init_script(CAMERA_TRACKS)
    yield open_page(ctx, server["url"])
    ctx.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        d = ROOT / "docs" / "images"
        d.mkdir(parents=True, exist_ok=True)
        return d
    return tmp_path_factory.mktemp("shots")


def _stats(server) -> dict:
    with urllib.request.urlopen(server["url"] + "/stats", timeout=10) as r:
        return json.load(r)


def _upload(page, path: Path) -> None:
    page.locator("#photo-input input[type=file]").set_input_files(str(path))


def _fresh(page) -> None:
    page.get_by_role("tab", name="Upload").click()
    page.locator("#try-another").click()
    page.wait_for_function("() => !document.querySelector('#verdict .verdict')")


def _why_disabled(page) -> bool:
    """"Why this emotion?" is off (waits for the server's answer to a clear, which follows the page's own)."""
    page.wait_for_function("() => document.querySelector('#explain-go').disabled", timeout=10_000)
    return page.locator("#explain-go").is_disabled()


def _toasts(page) -> list[str]:
    return page.locator(".toast-body").all_inner_texts()


def _pair(tmp_path: Path) -> Path:
    """Two faces side by side (the picker's case)."""
    from PIL import Image

    pair = Image.new("RGB", (1024, 600), "white")
    pair.paste(Image.open(EXAMPLES / "astronaut.jpg").convert("RGB"), (0, 44))
    pair.paste(Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB"), (512, 0))
    path = tmp_path / "pair.jpg"
    pair.save(path, quality=92)
    return path


# The Upload tab ---------------------------------------------------------------------------------------------------
def test_upload_a_face_and_read_the_emotion(page):
    assert page.locator("#explain-go").is_disabled()  # nothing to explain yet
    _upload(page, EXAMPLES / "astronaut.jpg")
    page.wait_for_selector("#verdict .verdict-conf")
    text = page.locator("#verdict").inner_text()
    assert "Happy" in text and "confidence" in text and "accurate model" in text
    assert page.locator("#probabilities").inner_text().lower().count("%") >= 3
    assert page.locator("#explain-go").is_enabled()


def test_replacing_a_shown_photo_is_answered_once(page, server):
    """Item 9: a new file over a shown photo (no "Try another") costs one prediction, not two."""
    page.wait_for_selector("#verdict .verdict-conf")
    before = _stats(server)["requests"]
    _upload(page, EXAMPLES / "grace_hopper.jpg")
    page.wait_for_function("() => document.querySelector('#verdict')?.innerText.includes('Neutral')")
    page.wait_for_timeout(1500)  # a second answer would have arrived by now
    assert _stats(server)["requests"] - before == 1
    # Dropped over the shown photo: one answer too.
    import base64

    before = _stats(server)["requests"]
    dropped = page.evaluate_handle("""async (b64) => {
      const blob = await (await fetch('data:image/jpeg;base64,' + b64)).blob();
      const dt = new DataTransfer(); dt.items.add(new File([blob], 'dropped.jpg', {type: 'image/jpeg'})); return dt; }""",
                                   base64.b64encode((EXAMPLES / "astronaut.jpg").read_bytes()).decode())
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event("#photo-input .upload-container", event, {"dataTransfer": dropped})
    page.wait_for_function("() => document.querySelector('#verdict')?.innerText.includes('Happy')")
    page.wait_for_timeout(1500)
    assert _stats(server)["requests"] - before == 1


def test_switching_the_model_answers_the_shown_photo_again_and_names_it(page, server):
    """Item 6: accurate ↔ fast re-answers the photo on screen (one request) and the verdict names the model."""
    if page.locator("#model-choice").count() == 0 or not page.locator("#model-choice").is_visible():
        pytest.skip("only one model installed")
    page.wait_for_selector("#verdict .verdict-conf")
    before = _stats(server)["requests"]
    page.locator("#model-choice").get_by_test_id("fast-radio-label").click()
    page.wait_for_function("() => document.querySelector('#verdict')?.innerText.includes('fast model')")
    page.wait_for_timeout(1000)
    assert _stats(server)["requests"] - before == 1
    page.locator("#model-choice").get_by_test_id("accurate-radio-label").click()
    page.wait_for_function("() => document.querySelector('#verdict')?.innerText.includes('accurate model')")


def test_the_preview_is_served_from_memory_and_the_upload_is_gone(page, server, tmp_path):
    """Item 5: the preview never depends on the uploaded file (deleted as soon as it is read): after the answer the
    photo box shows the photo inline, fully loaded, and no uploaded file is left in Gradio's folder."""
    import io

    import numpy as np
    from PIL import Image

    _fresh(page)
    im = Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB").resize((3000, 4000), Image.BILINEAR)
    noisy = np.asarray(im).astype(np.int16) + np.random.default_rng(1).integers(-25, 26, (4000, 3000, 3), dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=95)
    assert len(buf.getvalue()) > 6 * 2**20  # the first 8 MB phone photo of the report
    (tmp_path / "IMG_0002.jpg").write_bytes(buf.getvalue())
    fetched_back = []  # the page asking the server for an upload's file (which is deleted once read)
    page.on("request", lambda r: fetched_back.append(r.url) if "gradio_api/file=" in r.url
            and str(server["temp"]) in urllib.request.unquote(r.url) and re.search(r"IMG_0002|astronaut", r.url) else None)
    for name in ("IMG_0002.jpg", "astronaut.jpg", "IMG_0002.jpg"):
        _upload(page, tmp_path / name if name.startswith("IMG") else EXAMPLES / name)
        page.wait_for_selector("#verdict .verdict-conf", timeout=90_000)
        page.wait_for_function("() => { const i = document.querySelector('#photo-input img');"
                               " return i && i.src.startsWith('data:image/') && i.complete && i.naturalWidth > 0; }")
        page.wait_for_function("() => !document.querySelector('#verdict .pending, #verdict .wrap.generating')")
    assert not [p for p in server["temp"].rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".webp")
                and p.stem in ("IMG_0002", "astronaut")]  # (sent as WebP when shrunk in the browser)
    assert "FileNotFoundError" not in server["log"].read_text()
    assert fetched_back == []


def test_try_another_then_a_photo_without_a_face(page, shots):
    """Item 4 too: with no answer there is nothing to explain, and no raw Gradio error ever shows."""
    _fresh(page)
    assert _why_disabled(page)
    _upload(page, EXAMPLES / "chelsea.jpg")
    page.wait_for_selector("#verdict .verdict-error")
    assert "No face was found" in page.locator("#verdict").inner_text()
    assert _why_disabled(page)
    page.locator("#explain-go").click(force=True)
    page.wait_for_timeout(800)
    assert not any("Error" in t or "Value" in t for t in _toasts(page)), _toasts(page)
    page.screenshot(path=str(shots / "no_face.png"), full_page=True)


def test_an_example_runs(page, shots):
    _fresh(page)
    labels = [page.locator("#examples button.gallery-item").nth(i).get_attribute("aria-label") for i in range(3)]
    assert all(label and label.startswith("Example photo") for label in labels), labels
    page.get_by_role("button", name=re.compile("grace hopper", re.I)).or_(page.locator("img[src*='grace_hopper']")).first.click()
    page.wait_for_selector("#verdict .verdict-conf")
    assert "confidence" in page.locator("#verdict").inner_text()
    page.locator("#explain-go").click()  # "Why this emotion?" on request
    page.wait_for_selector("#cam img", timeout=60_000)
    page.screenshot(path=str(shots / "example.png"), full_page=True)


def test_why_after_try_another_shows_no_gradio_error(page):
    """Item 4: after "Try another" the button is off; nothing raw, nothing red."""
    page.wait_for_selector("#verdict .verdict-conf")
    _fresh(page)
    assert _why_disabled(page)
    page.locator("#explain-go").click(force=True)
    page.wait_for_timeout(800)
    assert not any("Error" in t or "Value" in t for t in _toasts(page)), _toasts(page)
    assert page.locator(".error, .toast-wrap .error").count() == 0


def test_the_face_picker_and_why_outlive_the_kept_result(page, tmp_path, shots):
    """Item 7: long after the server's short-lived copy is gone, the photo on screen still answers the picker and "Why"
    (answered again, transparently); no message says to upload again while the photo is shown."""
    _fresh(page)
    _upload(page, _pair(tmp_path))
    page.wait_for_selector("#face-pick input[type=radio]")
    page.wait_for_timeout((FACE_VIEW_TTL_S + 1) * 1000)
    page.locator("#face-pick").get_by_text("Face 2").click()
    page.wait_for_function("() => document.querySelector('#verdict')?.innerText.includes('face 2 of')")
    assert "no longer kept" not in page.locator("#verdict").inner_text()
    page.wait_for_timeout((FACE_VIEW_TTL_S + 1) * 1000)
    page.locator("#explain-go").click()
    page.wait_for_selector("#cam img", timeout=60_000)
    assert not _toasts(page), _toasts(page)
    # Keyboard: the picker moves with the arrow keys (a native radio group).
    page.locator("#face-pick input[type=radio]:checked").focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.querySelector('#verdict')?.innerText.includes('face 1 of')")
    page.locator("#explain-go").click()
    page.wait_for_selector("#cam img", timeout=60_000)
    page.screenshot(path=str(shots / "faces.png"), full_page=True)


def test_a_file_that_is_not_an_image_gets_our_message_and_no_gradio_error(page, tmp_path):
    _fresh(page)
    fake = tmp_path / "notes.jpg"
    fake.write_text("these are my shopping notes, not a photo")
    _upload(page, fake)
    page.wait_for_selector("#verdict .verdict-error")
    assert "Unsupported file type" in page.locator("#verdict").inner_text()
    assert page.locator("#verdict .verdict-code").inner_text().startswith("code:")
    sizes = page.evaluate("() => ['.verdict-title', '.verdict-code'].map((c) =>"
                          " parseFloat(getComputedStyle(document.querySelector('#verdict ' + c)).fontSize))")
    assert sizes[0] <= 17 and sizes[1] <= 13, sizes  # a short message, the code small
    toasts = _toasts(page)
    assert not any("Error" in t or "preprocess" in t for t in toasts), toasts


def test_a_phone_photo_of_ten_megabytes_is_answered(page, tmp_path):
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


def test_the_model_choice_shows_a_focus_ring(page):
    page.locator("#model-choice input[type=radio]").first.focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    outline = page.evaluate("() => { const l = document.activeElement.closest('label') || document.activeElement;"
                            " const s = getComputedStyle(l); return s.outlineStyle + ' ' + s.outlineWidth + ' ' + s.boxShadow; }")
    assert "solid" in outline or "rgb" in outline.split(" ", 2)[-1], outline


# The "Use via API" panel -------------------------------------------------------------------------------------------
def test_the_api_panel_offers_the_working_mcp_tool_and_the_python_client(page):
    """Issue #36 (item 11 hid the MCP tab while there was no MCP server): the MCP tab is there because the server
    has a working MCP endpoint (tests/test_mcp.py calls it), it lists the one tool, and the Python client is a tab."""
    page.get_by_role("button", name=re.compile("Use via API")).click()
    panel = page.locator(".api-docs")
    panel.locator("li", has_text="Python").first.wait_for()
    panel.locator("li.snippet", has_text="MCP").first.click()
    panel.get_by_text("analyse_photo").first.wait_for()
    assert "MCP documentation" in panel.locator("h2").first.inner_text()
    assert panel.get_by_text("/gradio_api/mcp/").first.is_visible()
    assert panel.get_by_text("predict_video", exact=True).count() == 0  # the page's other endpoints are not tools
    panel.locator("li.snippet", has_text="Python").first.click()
    assert "API documentation" in panel.locator("h2").first.inner_text()
    assert panel.get_by_text("gradio_client").first.is_visible()
    panel.locator(".banner-wrap > button").first.click()  # close (not the API recorder's button)
    panel.wait_for(state="detached")
    assert page.get_by_text("Recording API Calls").count() == 0


def test_the_api_page_snippets_run_as_shown(page, server, tmp_path):
    """Item 12: the API page's Python and cURL snippets for /predict and its REST command run as copied against this
    server (its own example photo, no web address), and the page names POST /api/predict."""
    import subprocess
    import sys

    page.get_by_role("button", name=re.compile("Use via API")).click()
    panel = page.locator(".api-docs")
    panel.locator("li", has_text="Python").first.wait_for()
    note = panel.locator(".rest-note")
    assert "POST /api/predict" in note.inner_text() and "web address" in note.inner_text()
    python = panel.locator(".endpoint-container", has_text="/predict").first.locator("pre").first.inner_text()
    assert "http" not in python.replace(server["url"], "")  # no web address as the example input
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1"}
    (tmp_path / "snippet.py").write_text(python)
    run = subprocess.run([sys.executable, str(tmp_path / "snippet.py")], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0 and "'success': True" in run.stdout and "happy" in run.stdout, run.stdout + run.stderr
    curl = note.locator("pre").inner_text()
    if shutil.which("curl"):
        run = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=60, env=env)
        assert json.loads(run.stdout)["faces"][0]["emotion"] == "happy", run.stdout + run.stderr
        # Gradio's own cURL snippet for /predict (its two requests: the event id of the POST, then the GET of its
        # answer), pasted into bash: the id must survive to the second command.
        panel.locator("li.snippet", has_text="cURL").first.click()
        shown = panel.locator(".endpoint-container", has_text="/predict").first.locator("pre", has_text="curl -X POST").first
        shown.wait_for(state="visible")
        snippet = shown.inner_text()
        assert "/call/predict/$EVENT_ID" in snippet and "http" not in snippet.replace(server["url"], "")
        run = subprocess.run(["bash", "-c", snippet], capture_output=True, text=True, timeout=60, env=env)
        assert "event: complete" in run.stdout and '"emotion": "happy"' in run.stdout, snippet + run.stdout + run.stderr
        panel.locator("li.snippet", has_text="Python").first.click()
    panel.locator(".banner-wrap > button").first.click()
    panel.wait_for(state="detached")


def test_docs_try_it_out_sends_a_photo(browser, server):
    """/docs: "Try it out" on POST /api/predict offers a file field, and sending a photo answers 200 with faces."""
    ctx = browser.new_context(viewport=LAPTOP)
    pg = ctx.new_page()
    pg.goto(server["url"] + "/docs")
    op = pg.locator(".opblock", has_text="/api/predict").first
    op.locator(".opblock-summary").first.click()
    op.get_by_role("button", name="Try it out").click()
    op.locator("input[type=file]").set_input_files(str(EXAMPLES / "astronaut.jpg"))
    op.get_by_role("button", name="Execute").click()
    op.locator(".live-responses-table tr.response .response-col_status").first.wait_for(timeout=60_000)
    assert op.locator(".live-responses-table tr.response .response-col_status").first.inner_text().strip() == "200"
    assert "happy" in op.locator(".live-responses-table tr.response pre").first.inner_text()
    ctx.close()


# Batch and video ----------------------------------------------------------------------------------------------------
def test_batch_refusals_are_plain_and_keep_the_results(page, server, tmp_path, shots):
    """An empty "Analyse all" says what to do; a refused batch keeps the results already shown; an expired CSV link
    says so on the page (item 8)."""
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-go").click()
    page.wait_for_selector("#batch-message .batch-note")
    assert "Add" in page.locator("#batch-message").inner_text()
    text = page.locator("#batch-tab-text").inner_text()
    assert re.search(r"downloadable for (at least )?\d+ min", text), text
    page.locator("#batch-input input[type=file]").set_input_files([str(EXAMPLES / n) for n in ("astronaut.jpg", "chelsea.jpg")])
    page.locator("#batch-go").click()
    page.wait_for_function("() => document.querySelector('#batch-table')?.innerText.includes('astronaut')", timeout=60_000)
    page.wait_for_selector("#batch-csv a[href]")
    page.screenshot(path=str(shots / "batch.png"), full_page=True)
    # Item 8: the janitor deleted the CSV (simulated: it is the janitor's rule, unit-tested) → the page says so.
    for p in server["temp"].rglob("emotions_*.csv"):
        p.unlink()
    page.locator("#batch-csv a[href]").first.click()
    page.wait_for_selector("#batch-csv .csv-expired")
    assert "expired" in page.locator("#batch-csv .csv-expired").inner_text()
    # More photos than allowed: said plainly on the page (no "Error" toast), and the results above stay.
    many = []
    for i in range(21):
        many.append(tmp_path / f"photo_{i:02d}.jpg")
        many[-1].write_bytes((EXAMPLES / "astronaut.jpg").read_bytes())
    page.locator("#batch-input input[type=file]").set_input_files([str(f) for f in many])
    page.wait_for_function("() => document.querySelector('#batch-input')?.innerText.includes('photo_20')")
    top = page.locator("#batch-input").bounding_box()
    go = page.locator("#batch-go").bounding_box()
    assert go["y"] - top["y"] < 400, (top, go)  # 21 names do not push "Analyse all" a screen down
    page.locator("#batch-go").click()
    page.wait_for_function("() => document.querySelector('#batch-message')?.innerText.includes('at most')")
    assert not any("Error" in t for t in _toasts(page)), _toasts(page)
    assert "astronaut" in page.locator("#batch-table").inner_text()
    assert page.locator("#batch-gallery img").count() >= 1


def test_the_download_promise_is_what_the_janitor_keeps(tmp_path):
    """Item 8: the page promises at least the janitor's retention and says when it deletes at the latest."""
    from web.config import ServerConfig
    from web.privacy import UploadJanitor
    from web.ui_text import kept_for

    config = ServerConfig()
    text = kept_for(config.retention_s, config.retention_window_s)
    at_least, within = (int(n) for n in re.findall(r"(\d+) min", text))
    csv = tmp_path / "emotions_x.csv"
    csv.write_text("file,face\n")
    janitor = UploadJanitor(tmp_path, config.retention_s, config.janitor_interval_s)
    born = csv.stat().st_mtime
    assert janitor.sweep(now=born + at_least * 60 - 1) == 0 and csv.exists()  # still there when the page says it is
    assert janitor.sweep(now=born + config.retention_s) == 1  # and gone by the time it says
    assert within * 60 >= janitor.window_s


def test_a_batch_over_the_allowance_says_when_and_keeps_the_results(browser, server):
    """"Wait N s" arrives as a plain note, not an "Error" toast, and the results already shown stay."""
    ctx = browser.new_context(viewport=LAPTOP, extra_http_headers={"X-Forwarded-For": "10.22.0.1"})  # a visitor of its own
    pg = open_page(ctx, server["url"])
    pg.get_by_role("tab", name="Batch").click()
    photos = [str(EXAMPLES / "astronaut.jpg")] * 8
    pg.locator("#batch-input input[type=file]").set_input_files(photos)
    pg.locator("#batch-go").click()
    pg.wait_for_function("() => document.querySelector('#batch-table')?.innerText.includes('astronaut')", timeout=60_000)
    pg.locator("#batch-go").click()  # 8 more: over the 12 a minute
    pg.wait_for_function("() => /wait|minute/i.test(document.querySelector('#batch-message')?.innerText)", timeout=30_000)
    assert not any("Error" in t for t in _toasts(pg)), _toasts(pg)
    assert "astronaut" in pg.locator("#batch-table").inner_text() and pg.locator("#batch-gallery img").count() >= 1
    ctx.close()


def test_phone_batch_gallery_shows_every_photo(phone, tmp_path):
    """Item 10: four photos on a 390 px phone: the gallery's columns fit the width, none is hidden."""
    phone.get_by_role("tab", name="Batch").click()
    names = ["astronaut.jpg", "grace_hopper.jpg", "astronaut.jpg", "grace_hopper.jpg"]
    files = []
    for i, n in enumerate(names):
        files.append(tmp_path / f"{i}_{n}")
        files[-1].write_bytes((EXAMPLES / n).read_bytes())
    phone.locator("#batch-input input[type=file]").set_input_files([str(f) for f in files])
    phone.locator("#batch-go").click()
    phone.wait_for_function("() => document.querySelectorAll('#batch-gallery img').length >= 4", timeout=90_000)
    boxes = [phone.locator("#batch-gallery .thumbnail-item, #batch-gallery button.gallery-item, #batch-gallery .grid-container > *")
             .nth(i).bounding_box() for i in range(4)]
    assert all(b is not None and b["width"] > 40 and b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] + 1 for b in boxes), boxes
    # The table fits too: every column on screen, no header cut off.
    phone.wait_for_function("() => document.querySelector('#batch-table')?.innerText.includes('grace_hopper')")
    cut = phone.evaluate(CUT_HEADERS, "#batch-table")
    assert cut == [], cut


# The camera's life cycle (items 1–3): frames counted on the network, camera tracks counted in the page -------------
def test_a_blocked_camera_says_what_happened_and_what_to_do(browser, server):
    ctx = browser.new_context()  # no camera permission: the browser refuses getUserMedia
    pg = open_page(ctx, server["url"])
    pg.get_by_role("tab", name="Webcam").click()
    pg.get_by_text("Click to Access Webcam").first.click()
    message = pg.locator(".camera-message:visible").first
    message.wait_for()
    assert "camera" in message.inner_text().lower() and "Upload" in message.inner_text()
    ctx.close()


def test_leaving_live_by_a_tab_stops_frames_and_camera_and_coming_back_works(laptop_camera):
    """Items 1 and 2 on a laptop: Live → Upload stops the frames and the camera; back on Webcam the box starts over
    ("Click to Access Webcam", no stale message) and Live works again."""
    pg = laptop_camera
    frames = stream_requests(pg)
    start_live(pg, frames)
    pg.get_by_role("tab", name="Upload").click()
    left = time.monotonic()
    pg.wait_for_timeout(3000)
    assert live_frames(frames, after=left + 0.5) == 0
    assert tracks_live(pg) == 0
    pg.get_by_role("tab", name="Webcam").click()
    pg.locator("#live-camera").get_by_text("Click to Access Webcam").wait_for()
    pg.wait_for_timeout(1000)
    assert not pg.locator("#live-verdict .verdict").first.is_visible()  # no stale answer (a late one stays hidden)
    assert pg.locator("#live-camera").get_by_role("button", name="capture photo").count() == 0
    start_live(pg, frames)  # works again without a reload
    assert tracks_live(pg) == 1
    pg.locator("#live-verdict .verdict").first.wait_for(state="visible")  # and answers are shown again


def test_leaving_live_when_the_page_is_hidden_stops_frames_and_camera(laptop_camera):
    """Item 1: another browser tab (visibilitychange) releases the camera too."""
    pg = laptop_camera
    frames = stream_requests(pg)
    start_live(pg, frames)
    pg.evaluate("() => { Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
                " Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});"
                " document.dispatchEvent(new Event('visibilitychange')); }")
    left = time.monotonic()
    pg.wait_for_timeout(3000)
    assert live_frames(frames, after=left + 0.5) == 0
    assert tracks_live(pg) == 0


def test_phone_leaving_live_by_the_overflow_menu_stops_frames_and_camera(phone, shots):
    """Item 1 as reported: on a phone, ⋯ › Stats while Live is on."""
    frames = stream_requests(phone)
    start_live(phone, frames)
    phone.locator("#live-camera").scroll_into_view_if_needed()
    phone.screenshot(path=str(shots / "phone_live.png"))
    leave_via_overflow(phone, "Stats")
    left = time.monotonic()
    phone.wait_for_timeout(3000)
    assert live_frames(frames, after=left + 0.5) == 0
    assert tracks_live(phone) == 0
    phone.get_by_role("tab", name="Webcam").click()
    phone.locator("#live-camera").get_by_text("Click to Access Webcam").wait_for()


def test_the_snapshot_camera_is_released_on_leaving(laptop_camera):
    """Item 3: the Snapshot camera opened but no picture taken; leaving the Webcam tab turns it off."""
    pg = laptop_camera
    pg.get_by_role("tab", name="Webcam").click()
    pg.locator("#snap-camera").get_by_text("Click to Access Webcam").click()
    pg.wait_for_function("() => window.__cameraTracks().length > 0")
    assert tracks_live(pg) == 1
    pg.get_by_role("tab", name="Batch").click()
    pg.wait_for_timeout(1500)
    assert tracks_live(pg) == 0
    pg.get_by_role("tab", name="Webcam").click()
    pg.locator("#snap-camera").get_by_text("Click to Access Webcam").wait_for()


def test_the_webcam_start_buttons_are_in_the_first_screen_of_a_laptop(laptop_camera):
    pg = laptop_camera
    pg.get_by_role("tab", name="Webcam").click()
    for sub in ("Snapshot", "Live"):
        pg.get_by_role("tab", name=sub).click()
        pg.evaluate("() => window.scrollTo(0, 0)")
        box = pg.locator("#snap-camera" if sub == "Snapshot" else "#live-camera").get_by_text("Click to Access Webcam").bounding_box()
        assert box is not None and box["y"] + box["height"] <= LAPTOP["height"], (sub, box)


def test_every_plot_uses_one_colour_per_emotion(server):
    """The video timeline and the Stats bars share one colour-blind-safe map, a distinct colour per emotion."""
    with urllib.request.urlopen(server["url"] + "/config", timeout=10) as r:
        config = json.load(r)
    maps = {c["props"].get("elem_id"): c["props"].get("color_map") for c in config["components"]
            if c["props"].get("elem_id") in ("video-plot", "stats-emotions")}
    assert maps["video-plot"] == maps["stats-emotions"]
    colours = maps["video-plot"]
    assert set(colours) == {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}
    assert len(set(colours.values())) == 7


def test_labels_stay_on_the_photo_at_its_edges():
    import numpy as np

    from emotion.result import FaceResult, PredictionResult
    from web.render import annotate

    probs = {"angry": 0.0, "disgust": 0.0, "fear": 0.0, "happy": 0.97, "neutral": 0.03, "sad": 0.0, "surprise": 0.0}
    image = np.zeros((300, 400, 3), np.uint8)
    face = FaceResult((360, 260, 40, 40), 0.9, probs, False, image_box=(360, 260, 40, 40))  # bottom-right corner
    out = annotate(PredictionResult([face], 1.0, (400, 300), image=image))
    label = np.argwhere((out[..., 1] > 120) & (out[..., 0] < 60))  # the green label's pixels
    assert label[:, 1].min() < 360  # shifted left to fit (it would start at x = 360 and run off the edge)
    assert out[:, -3:].any()  # and reaches the right edge without being cut


# The phone ---------------------------------------------------------------------------------------------------------
def test_on_a_phone_the_answer_comes_into_view_after_tapping_an_example(phone, shots):
    phone.locator("img[src*='grace_hopper']").first.tap()
    phone.wait_for_selector("#verdict .verdict-conf")
    phone.wait_for_timeout(1500)  # the smooth scroll
    box = phone.locator("#verdict .verdict-title").bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], box
    phone.screenshot(path=str(shots / "phone.png"))
    # The explanation's label is not under its toolbar icons.
    phone.locator("#explain-go").tap()
    phone.wait_for_selector("#cam img", timeout=60_000)
    overlap = phone.evaluate("""() => {
      const label = document.querySelector('#cam [data-testid="block-label"]').getBoundingClientRect();
      return [...document.querySelectorAll('#cam .icon-button-wrapper button')].map((b) => b.getBoundingClientRect())
        .filter((b) => b.width && b.left < label.right && b.right > label.left && b.top < label.bottom && b.bottom > label.top).length;
    }""")
    assert overlap == 0


# Issue 35: the page for everyone ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(1366, 768), (1280, 720)])
def test_the_answer_is_read_in_a_laptops_first_screen(browser, server, size, shots):
    """The emoji, label and confidence without scrolling, beside the photo; the boxed copy of the same photo starts
    below the first screen (one photo, not the same one twice)."""
    w, h = size
    ctx = browser.new_context(viewport={"width": w, "height": h})
    pg = open_page(ctx, server["url"])
    _upload(pg, EXAMPLES / "astronaut.jpg")
    pg.wait_for_selector("#verdict .verdict-conf")
    pg.evaluate("() => window.scrollTo(0, 0)")
    conf = pg.locator("#verdict .verdict-conf").bounding_box()
    assert conf["y"] + conf["height"] <= h, conf
    assert pg.locator("#annotated").bounding_box()["y"] >= h
    photo = pg.locator("#photo-input").bounding_box()
    assert conf["x"] >= photo["x"] + photo["width"]  # beside the photo
    if size == (1366, 768):
        pg.screenshot(path=str(shots / "upload.png"))
    ctx.close()


def test_screen_readers_hear_the_answer_and_read_the_pictures(page, tmp_path):
    """The verdict is a polite live region; the boxed photo and the explanation have text alternatives that say what
    they show (every face; where the evidence lies), and a group photo's headline names every face."""
    _fresh(page)
    assert page.locator("#verdict").get_attribute("aria-live") == "polite"
    assert page.locator("#verdict").get_attribute("role") == "status"
    _upload(page, _pair(tmp_path))
    page.wait_for_selector("#verdict .verdict-faces")
    summary = page.locator("#verdict .verdict-faces").inner_text()
    assert summary.startswith("2 faces: #1 ") and "#2 " in summary, summary
    alt = page.locator("#annotated img").get_attribute("alt")
    assert "2 faces" in alt and "#1" in alt and "#2" in alt, alt
    page.locator("#explain-go").click()
    page.wait_for_selector("#cam img", timeout=60_000)
    alt = page.locator("#cam img").get_attribute("alt")
    assert "Face 1" in alt and "rests most on" in alt, alt
    box = page.locator("#cam img").bounding_box()  # "Why" brought its picture into view
    assert box["y"] < LAPTOP["height"] and box["y"] + box["height"] > 0, box


def _refused(page, name: str, before: int) -> str:
    page.wait_for_function("(name) => document.querySelector('#verdict .verdict-error')?.innerText.includes(name)", arg=name)
    assert page.locator("#verdict .verdict-error").count() == 1
    return page.locator("#verdict").inner_text()


def test_files_the_photo_box_cannot_take_are_refused_in_a_sentence_before_sending(page):
    """A .txt, a .pdf, an over-size PNG (chosen) and a .txt (dragged): a plain sentence in the verdict, in the server's
    style (headline, what to do, code), no toast, and not one byte uploaded."""
    _fresh(page)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/gradio_api/upload" in r.url else None)
    big = b"\x89PNG\r\n\x1a\n" + bytes(21 * 2**20)
    for name, mime, data, words in (("notes.txt", "text/plain", b"shopping list", "not a photo"),
                                    ("report.pdf", "application/pdf", b"%PDF-1.4 not a photo", "not a photo"),
                                    ("huge.png", "image/png", big, "too large")):
        page.locator("#photo-input input[type=file]").set_input_files({"name": name, "mimeType": mime, "buffer": data})
        text = _refused(page, name, 0)
        assert words in text and "Upload" in text and "code:" in text, text
    dropped = page.evaluate_handle("""() => { const dt = new DataTransfer();
      dt.items.add(new File(['not a photo'], 'dragged.txt', {type: 'text/plain'})); return dt; }""")
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event("#photo-input .upload-container", event, {"dataTransfer": dropped})
    assert "not a photo" in _refused(page, "dragged.txt", 0)
    assert sent == [] and not _toasts(page), (sent, _toasts(page))
    # The "what to do" half reads as well as the rest (WCAG AA: 4.5:1), and so does the model hint.
    assert page.evaluate(CONTRAST, "#verdict .verdict-detail") >= 4.5
    assert page.evaluate(CONTRAST, "#model-choice [data-testid='block-info']") >= 4.5
    assert _why_disabled(page)


def test_a_photo_in_the_video_tab_and_a_text_file_in_a_batch_are_said_plainly(browser, server, tmp_path):
    """A JPEG in the Video tab: the server's sentence in the video verdict, no toast. A batch with a .txt among photos:
    the note lists what it skipped and the table says why."""
    ctx = browser.new_context(viewport=LAPTOP, extra_http_headers={"X-Forwarded-For": "10.35.0.1"})  # its own allowance
    pg = open_page(ctx, server["url"])
    pg.get_by_role("tab", name="Video").click()
    pg.locator("#video-input input[type=file]").set_input_files(str(EXAMPLES / "astronaut.jpg"))
    pg.wait_for_function("() => document.querySelector('#video-verdict')?.innerText.includes('not a video')", timeout=60_000)
    assert pg.locator("#video-verdict").get_attribute("aria-live") == "polite"
    assert not _toasts(pg), _toasts(pg)
    pg.get_by_role("tab", name="Batch").click()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    pg.locator("#batch-input input[type=file]").set_input_files([str(EXAMPLES / "astronaut.jpg"), str(notes),
                                                                str(EXAMPLES / "grace_hopper.jpg")])
    pg.locator("#batch-go").click()
    pg.wait_for_function("() => document.querySelector('#batch-message')?.innerText.includes('Skipped')", timeout=60_000)
    note = pg.locator("#batch-message").inner_text()
    assert "Skipped 1 of 3" in note and "notes.txt" in note, note
    table = pg.locator("#batch-table").inner_text()
    assert "notes.txt" in table and "Unsupported file type" in table and "grace_hopper" in table
    assert not _toasts(pg), _toasts(pg)
    ctx.close()


SNAP_READY = "() => { const v = document.querySelector('#snap-camera video'); return v && v.videoWidth > 0 && v.readyState >= 2; }"


def test_a_snapshot_shows_its_picture_and_the_next_is_one_click_away(laptop_camera, server):
    """The captured picture shows (the browser's own copy: the upload is deleted once read, nothing is fetched back),
    and its × opens the camera again at once, keeping the answer until the next picture."""
    pg = laptop_camera
    missing: list[str] = []
    pg.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    pg.get_by_role("tab", name="Webcam").click()
    cam = pg.locator("#snap-camera")
    cam.get_by_text("Click to Access Webcam").click()
    pg.wait_for_function(SNAP_READY)  # as a person does: capture once the picture moves
    cam.get_by_role("button", name="capture photo").click()
    pg.wait_for_selector("#snap-verdict .verdict", timeout=60_000)
    assert pg.locator("#snap-verdict").get_attribute("aria-live") == "polite"
    pg.wait_for_function("() => { const i = document.querySelector('#snap-camera img');"
                         " return i && i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 150; }")
    assert missing == [], missing
    answer = pg.locator("#snap-verdict .verdict").inner_text()
    cam.get_by_role("button", name="Remove Image").click()
    cam.get_by_role("button", name="capture photo").wait_for(timeout=20_000)  # the camera is on again: one click to take
    assert pg.locator("#snap-verdict .verdict").inner_text() == answer
    pg.wait_for_function(SNAP_READY)
    cam.get_by_role("button", name="capture photo").click()  # and the next picture shows too
    pg.wait_for_function("() => { const i = document.querySelector('#snap-camera img');"
                         " return i && i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 150; }")
    assert missing == [], missing


def test_a_12_mp_photo_is_shrunk_in_the_browser_and_its_sending_is_shown(browser, server, tmp_path):
    """A 12 MP phone photo leaves the browser at the pipeline's sharpest working size (well under its 4 MB), and the
    bytes sent so far are shown where the answer will be (on a slow upload)."""
    from bench.page_audit import twelve_mp_photo

    photo = twelve_mp_photo(tmp_path / "IMG_12MP.jpg")
    assert photo.stat().st_size > 3 * 2**20
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    pg = open_page(ctx, server["url"])
    cdp = ctx.new_cdp_session(pg)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 100, "downloadThroughput": 2e6,
                                                  "uploadThroughput": 150e3})
    _upload(pg, photo)
    pg.wait_for_function("() => /Sending the photo/.test(document.querySelector('#photo-send')?.innerText || '')")
    sending = pg.locator("#photo-send").inner_text()  # "Sending the photo: 40 % of 0.62 MB" (what is sent, shrunk)
    pg.wait_for_selector("#verdict .verdict-conf", timeout=120_000)
    assert float(re.search(r"([\d.]+) MB", sending).group(1)) < 1.2, sending
    assert "Neutral" in pg.locator("#verdict").inner_text() or "confidence" in pg.locator("#verdict").inner_text()
    ctx.close()


def _sent_files(route, sent: list[bytes]) -> None:
    """The files of an upload request as the browser sent them (the multipart body's parts)."""
    if route.request.method != "POST":  # (Gradio's upload_progress)
        route.continue_()
        return
    body = route.request.post_data_buffer or b""
    boundary = re.search(rb"boundary=([^;]+)", route.request.headers.get("content-type", "").encode()).group(1)
    for part in body.split(b"--" + boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="files"' in head:
            sent.append(data[:-2])  # less the CRLF before the next boundary
    route.continue_()


def test_a_group_photo_is_sent_at_the_working_size_and_its_small_faces_are_still_found(page, tmp_path):
    """A 12 MP group photo leaves the browser no larger than the sharpest copy the server works with (its detail side:
    the tiles that find small faces), as WebP (Chromium writes it), a fraction of its bytes; and every one of its 12
    faces, 80–300 px in the original, is still found in what was sent (at 1600 px only 9 or 10 are)."""
    import io

    from PIL import Image

    from bench.group_photo import make_group_photo
    from emotion.faces import DETAIL_MAX_SIDE

    group = make_group_photo()  # 4000×3000, 12 faces of 80–300 px (issue 11's photo)
    photo = tmp_path / "IMG_GROUP.jpg"
    photo.write_bytes(group.jpeg)
    sent: list[bytes] = []
    _fresh(page)
    page.route("**/gradio_api/upload*", lambda route: _sent_files(route, sent))
    try:
        _upload(page, photo)
        page.wait_for_selector("#verdict .verdict-conf", timeout=120_000)
    finally:
        page.unroute("**/gradio_api/upload*")
    assert len(sent) == 1
    im = Image.open(io.BytesIO(sent[0]))
    assert (im.format, max(im.size)) == ("WEBP", DETAIL_MAX_SIDE), (im.format, im.size)
    assert im.size[0] / im.size[1] == pytest.approx(4 / 3, abs=0.01)
    assert len(sent[0]) < len(group.jpeg) / 5, (len(sent[0]), len(group.jpeg))
    verdict = page.locator("#verdict").inner_text()  # the group's headline counts every face found
    assert re.search(r"\b12 faces:", verdict), verdict


NO_WEBP_ENCODER = """(() => {  // as Safari: asked for WebP, the canvas answers a PNG
  const toBlob = OffscreenCanvas.prototype.convertToBlob;
  OffscreenCanvas.prototype.convertToBlob = function (o) {
    return toBlob.call(this, o && o.type === "image/webp" ? { type: "image/png" } : o);
  };
})();"""


def test_a_browser_without_a_webp_encoder_sends_a_jpeg_and_is_answered(browser, server, tmp_path):
    """Where the canvas cannot write WebP, the shrunk photo goes as JPEG (never a PNG larger than the original)."""
    import io

    from PIL import Image

    from bench.page_audit import twelve_mp_photo
    from emotion.faces import DETAIL_MAX_SIDE

    photo = twelve_mp_photo(tmp_path / "IMG_12MP.jpg")
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    ctx.add_init_script(NO_WEBP_ENCODER)
    pg = open_page(ctx, server["url"])
    sent: list[bytes] = []
    pg.route("**/gradio_api/upload*", lambda route: _sent_files(route, sent))
    _upload(pg, photo)
    pg.wait_for_selector("#verdict .verdict-conf", timeout=120_000)
    ctx.close()
    im = Image.open(io.BytesIO(sent[0]))
    assert (im.format, max(im.size)) == ("JPEG", DETAIL_MAX_SIDE), (im.format, im.size)
    assert len(sent[0]) < photo.stat().st_size / 5


def test_a_loading_message_paints_before_gradios_stylesheet_and_scripts_arrive(browser, server, shots):
    """Something to read from the first paint: with Gradio's stylesheet and scripts still on their way (held here, as a
    slow connection holds them), the page has painted its loading message; once the app has mounted with its styles,
    the message goes and the app shows (never unstyled in between)."""
    held = []
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    pg.route(re.compile(r"/assets/index-[\w-]+\.(css|js)$"), lambda route: held.append(route))
    pg.goto(server["url"], wait_until="commit")
    splash = pg.locator("#page-splash")
    splash.wait_for(state="visible")
    pg.wait_for_function("() => performance.getEntriesByName('first-contentful-paint').length > 0")
    assert len(held) == 2 and "Loading" in splash.inner_text()
    assert splash.get_attribute("role") == "status"
    pg.screenshot(path=str(shots / "loading_phone.png"))
    for route in held:
        route.continue_()
    pg.wait_for_selector("#photo-input")
    splash.wait_for(state="hidden")
    assert pg.evaluate("() => [...document.querySelectorAll('link[rel=stylesheet]')].every((l) => l.sheet && l.media !== 'print')")
    assert pg.evaluate("() => getComputedStyle(document.querySelector('gradio-app')).visibility") == "visible"
    ctx.close()


def test_the_page_travels_compressed_and_its_assets_are_cached(server):
    """HTML and scripts gzipped; Gradio's content-hashed files cached for a year; the queue's event stream never
    compressed (it would hold answers back)."""
    import gzip

    def get(path: str) -> tuple[dict, bytes]:
        req = urllib.request.Request(server["url"] + path, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=20) as r:
            return {k.lower(): v for k, v in r.headers.items()}, r.read()

    headers, body = get("/")
    assert headers.get("content-encoding") == "gzip"
    page_html = gzip.decompress(body).decode()
    assert len(body) < len(page_html) / 3
    asset = re.search(r'(/assets/[\w.-]+\.js)', page_html) or re.search(r'"(\./)?(assets/[\w.-]+\.js)"', page_html)
    assert asset, "no script under /assets/ in the page"
    headers, _ = get("/" + asset.group(0).strip('"./').lstrip("/"))
    assert "immutable" in headers.get("cache-control", "") and "max-age=31536000" in headers["cache-control"]
    assert "text/event-stream" in __import__("starlette.middleware.gzip", fromlist=["x"]).DEFAULT_EXCLUDED_CONTENT_TYPES



def test_live_reserves_room_for_the_uncertain_line_and_forgets_old_numbers(laptop_camera):
    """The live camera does not move when the "uncertain" line comes and goes (the room is kept), and after leaving
    Live and coming back no numbers from the last frame are shown beside the idle camera."""
    from emotion.result import FaceResult, PredictionResult
    from web.render import verdict_html

    import numpy as np

    pg = laptop_camera
    frames = stream_requests(pg)
    start_live(pg, frames)
    probs = {"angry": 0.05, "disgust": 0.0, "fear": 0.05, "happy": 0.45, "neutral": 0.4, "sad": 0.05, "surprise": 0.0}
    sure = PredictionResult([FaceResult((0, 0, 9, 9), 0.9, {**probs, "happy": 0.9, "neutral": 0.0}, False)], 1.0, (9, 9),
                            image=np.zeros((9, 9, 3), np.uint8))
    unsure = PredictionResult([FaceResult((0, 0, 9, 9), 0.45, probs, True)], 1.0, (9, 9), image=np.zeros((9, 9, 3), np.uint8))
    tops = []
    for result in (sure, unsure, sure):  # as the stream would show them (set in place, between two frames)
        tops.append(pg.evaluate("""(html) => { const box = document.querySelector('#live-verdict .prose');
          box.innerHTML = html; return document.querySelector('#live-camera').getBoundingClientRect().top; }""",
                                verdict_html(result)))
    assert max(tops) - min(tops) <= 1, tops
    pg.get_by_role("tab", name="Upload").click()
    pg.wait_for_timeout(1500)
    pg.get_by_role("tab", name="Webcam").click()
    pg.locator("#live-camera").get_by_text("Click to Access Webcam").wait_for()
    pg.wait_for_timeout(1000)
    assert not re.search(r"\d+%", pg.locator("#live-probabilities").inner_text()) or not pg.locator("#live-probabilities").is_visible()


@pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed (npm install --prefix tests)")
@pytest.mark.parametrize("viewport,scheme", [("laptop", "light"), ("laptop", "dark"), ("phone", "light"), ("phone", "dark")])
def test_axe_finds_nothing_critical_or_serious_on_any_tab(browser, server, viewport, scheme):
    """axe-core over every tab (an answered photo and a refused one on Upload, both webcam modes, Batch, Video, Stats,
    About, and the API page where the laptop offers it), on a laptop and a phone, light and dark."""
    size, phone = (LAPTOP, False) if viewport == "laptop" else (PHONE, True)
    ctx = browser.new_context(viewport=size, color_scheme=scheme, is_mobile=phone, has_touch=phone,
                              extra_http_headers={"X-Forwarded-For": f"10.35.1.{len(viewport) + len(scheme)}"})
    pg = open_page(ctx, server["url"] + ("/?__theme=dark" if scheme == "dark" else "/"))
    found = {}
    views = ["answered", "no face", "Snapshot", "Live", "Batch", "Video", "Stats", "About"] + ([] if phone else ["API"])
    for view in views:
        if view in ("answered", "no face"):
            _upload(pg, EXAMPLES / ("astronaut.jpg" if view == "answered" else "chelsea.jpg"))
            pg.wait_for_selector("#verdict .verdict-conf" if view == "answered" else "#verdict .verdict-error")
        elif view in ("Snapshot", "Live"):
            open_tab(pg, "Webcam")
            pg.get_by_role("tab", name=view).click()
        elif view == "API":
            pg.get_by_role("button", name="Use via API").click()
            pg.locator(".api-docs li", has_text="Python").first.wait_for()
        else:
            open_tab(pg, view)
        pg.wait_for_timeout(800)
        bad = axe_violations(pg, AXE)
        if bad:
            found[view] = bad
    assert found == {}, found
    ctx.close()


def test_labels_of_faces_side_by_side_never_cover_each_other():
    """Item 9: two faces close together (their labels would sit on top of each other) get labels that do not
    overlap, and white label text on its colour reads at 4.5:1 or more."""
    from web.render import TEXT_SHADE, label_place

    taken: list = []
    for x in (100, 130, 160):  # three faces 30 px apart, labels 120 px wide
        lx, ty = label_place(x, 200, 80, 80, 120, 24, (640, 480), taken)
        taken.append((lx, ty, lx + 120, ty + 24))
    assert all(not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]) for i, a in enumerate(taken)
               for b in taken[i + 1:]), taken

    def lum(c):
        v = [x / 255 for x in c]
        v = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in v]
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]

    assert all(1.05 / (lum(shade) + 0.05) >= 4.5 for shade in TEXT_SHADE.values())



# /docs offline -------------------------------------------------------------------------------------------------------
def _offline(pg, url: str) -> list[str]:
    """Every request to anywhere but this server is aborted (the app promises to run offline); returns them."""
    outside: list[str] = []
    local = re.match(r"https?://[^/]+", url).group(0)

    def handle(route):
        if route.request.url.startswith(local) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    pg.route("**/*", handle)
    return outside


def test_the_docs_page_works_offline(browser):
    """Swagger UI's script and styles come from this server (web.rest.docs_router), not a CDN."""
    pytest.importorskip("swagger_ui_bundle")
    import threading

    import uvicorn
    from fastapi import FastAPI

    from bench.server import free_port
    from web.rest import docs_router

    app = FastAPI(title="docs check", docs_url=None)
    app.include_router(docs_router())

    @app.post("/api/predict", summary="Emotion of every face in one photo")
    def predict() -> dict:
        return {}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        ctx = browser.new_context(viewport=LAPTOP)
        pg = ctx.new_page()
        outside = _offline(pg, f"http://127.0.0.1:{port}")
        pg.goto(f"http://127.0.0.1:{port}/docs")
        pg.locator(".swagger-ui .opblock", has_text="/api/predict").wait_for(timeout=30_000)
        assert outside == []
        ctx.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_apps_docs_page_is_served_offline(browser, server):
    with urllib.request.urlopen(server["url"] + "/docs", timeout=10) as r:
        html = r.read().decode()
    if "/docs/assets/" not in html:
        pytest.skip("web/server.py does not serve web.rest.docs_router yet (FastAPI(docs_url=None) + include_router)")
    ctx = browser.new_context(viewport=LAPTOP)
    pg = ctx.new_page()
    outside = _offline(pg, server["url"])
    pg.goto(server["url"] + "/docs")
    pg.locator(".swagger-ui .opblock", has_text="/api/predict").first.wait_for(timeout=30_000)
    assert outside == []
    ctx.close()


def test_phone_video_tab_fits_and_the_answer_comes_into_view(phone, tmp_path, shots):
    from bench.video import make_clip

    clip = make_clip(tmp_path / "clip.mp4", 2, 10, (320, 240), scene=lambda t: "astronaut.jpg")
    leave_via_overflow(phone, "Video")
    phone.locator("#video-go").click()  # nothing chosen yet: says what to do
    phone.wait_for_function("() => document.querySelector('#video-verdict')?.innerText.includes('Add a clip')")
    phone.locator("#video-input input[type=file]").set_input_files(str(clip))
    phone.wait_for_selector("#video-verdict .verdict-title", timeout=90_000)
    phone.wait_for_timeout(1500)  # the smooth scroll
    box = phone.locator("#video-verdict .verdict-title").bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], box
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"] + 1
    assert phone.locator(".progress-text:visible, .progress-level:visible").count() <= 1  # progress once, not thrice
    # Every emotion's colour is on screen (the plot's own one-row legend lost sad and surprise), and no table column
    # or header is cut off.
    keys = phone.locator("#video-legend .emotion-key")
    assert keys.count() == 7
    assert all(0 <= b["x"] and b["x"] + b["width"] <= PHONE["width"] for b in (keys.nth(i).bounding_box() for i in range(7)))
    cut = phone.evaluate(CUT_HEADERS, "#video-segments")
    assert cut == [], cut
    phone.screenshot(path=str(shots / "phone_video.png"), full_page=True)


def test_phone_about_table_reads_in_words(phone):
    leave_via_overflow(phone, "About")
    table = phone.locator(".prose table").first
    table.wait_for()
    widths = phone.evaluate("() => [...document.querySelector('.prose table').querySelectorAll('th')].map((c) => c.getBoundingClientRect().width)")
    assert min(widths) >= 60, widths  # not a letter per line
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"] + 1
