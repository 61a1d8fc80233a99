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


# Accessibility: axe-core (npm, pinned in tests/package.json; `npm install --prefix tests`), run in the page.
AXE_RUN = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
  .filter((v) => v.impact === 'critical' || v.impact === 'serious')
  .map((v) => `${v.impact} ${v.id}: ${v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(' | ')}`)"""

# The contrast of an element's text on the page's background (WCAG's formula), for checks a person makes by eye.
CONTRAST = """(sel) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const el = document.querySelector(sel);
  let bg = el, back = 'rgb(255, 255, 255)';
  while (bg) { const c = getComputedStyle(bg).backgroundColor; if (c && !/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') { back = c; break; } bg = bg.parentElement; }
  const [a, b] = [lum(getComputedStyle(el).color), lum(back)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def axe_violations(pg, axe_path) -> list[str]:
    if not pg.evaluate("() => !!window.axe"):
        pg.add_script_tag(path=str(axe_path))
    return pg.evaluate(AXE_RUN)


def open_tab(pg, name: str) -> None:
    """A top-level tab, from the tab bar or (on a phone) the "⋯" menu."""
    tab = pg.get_by_role("tab", name=name)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
    else:
        leave_via_overflow(pg, name)
