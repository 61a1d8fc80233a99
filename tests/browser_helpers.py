"""Helpers of the browser tests (tests/test_browser.py): viewports, the live camera, frames on the network, camera
tracks in the page."""

from __future__ import annotations

import re
import time

ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
FRAME_URL = re.compile(r"/gradio_api/stream/[0-9a-f]+$")

# Every camera stream the page opens, so a test can count the tracks still running (the camera light).
CAMERA_TRACKS = """
(() => {
  const opened = [];
  const md = navigator.mediaDevices;
  if (md && md.getUserMedia) {
    const gum = md.getUserMedia.bind(md);
    md.getUserMedia = async (c) => { const s = await gum(c); opened.push(s); return s; };
  }
  window.__cameraTracks = () => opened.flatMap((s) => s.getTracks()).filter((t) => t.readyState === "live");
})();
"""


def open_page(ctx, url: str, timeout_ms: int = 60_000):
    pg = ctx.new_page()
    pg.set_default_timeout(timeout_ms)
    pg.goto(url)
    pg.wait_for_selector("#photo-input")
    return pg


def stream_requests(pg) -> list[float]:
    """Times of the live frames the page sends (each frame is one POST to /gradio_api/stream/<event>)."""
    frames: list[float] = []
    pg.on("request", lambda r: frames.append(time.monotonic()) if FRAME_URL.search(r.url) else None)
    return frames


def live_frames(frames: list[float], after: float) -> int:
    return sum(1 for t in frames if t > after)


def tracks_live(pg) -> int:
    return pg.evaluate("() => window.__cameraTracks().length")


def start_live(pg, frames: list[float], at_least: int = 5, within_s: float = 25) -> None:
    """Webcam › Live › camera › Record, until frames flow."""
    pg.get_by_role("tab", name="Webcam").click()
    pg.get_by_role("tab", name="Live").click()
    cam = pg.locator("#live-camera")
    cam.get_by_text("Click to Access Webcam").click()
    # as a person does: record once the preview runs (a click before the camera is open starts nothing; on a loaded
    # CI host opening the fake camera can take seconds)
    pg.wait_for_function("() => window.__cameraTracks().length > 0")
    cam.get_by_role("button", name="capture photo").click()
    start = time.monotonic()
    while live_frames(frames, start) < at_least and time.monotonic() < start + within_s:
        pg.wait_for_timeout(200)
    assert live_frames(frames, start) >= at_least, "live frames never started"


def leave_via_overflow(pg, tab: str) -> None:
    """The phone's "⋯" menu (Gradio's overflow of tabs that do not fit): its entries are plain buttons, not tabs."""
    pg.get_by_role("button", name="More tabs").click()
    pg.locator(".overflow-dropdown button", has_text=tab).click()
