"""The page as a person meets it, in numbers: where the verdict sits on a laptop's first screen, axe-core's critical and
serious violations on every tab (laptop and phone, light and dark), a 12 MP photo answered over Fast 3G, and the bytes
a first load and a reload cost. Runs the app of any checkout (``--app-dir``), so before/after are measured in one run:

    python -m bench.page_audit --app-dir /tmp/base35 --app-dir . --out bench/results/page_audit.md

Needs Debian's Chromium and axe-core from npm (``npm install --prefix tests``: tests/package.json pins it)."""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from bench.server import ROOT, running_app

CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "tests" / "node_modules" / "axe-core" / "axe.min.js"
EXAMPLES = ROOT / "examples"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-dev-shm-usage"]
# Chrome DevTools' "Fast 3G" preset (bytes per second; its upload is throttled too).
FAST_3G = {"offline": False, "latency": 562.5, "downloadThroughput": 1.6e6 * 0.9 / 8, "uploadThroughput": 750e3 * 0.9 / 8}
VIEWPORTS = {"laptop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
TABS = ["Upload", "Snapshot", "Live", "Batch", "Video", "Stats", "About", "API panel"]


def twelve_mp_photo(path: Path) -> Path:
    """A 3000×4000 JPEG of about 4 MB, as a phone writes (a real face, some sensor noise)."""
    import numpy as np
    from PIL import Image

    im = Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB").resize((3000, 4000), Image.BILINEAR)
    noisy = np.asarray(im).astype(np.int16) + np.random.default_rng(0).integers(-14, 15, (4000, 3000, 3), dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=92)
    path.write_bytes(buf.getvalue())
    return path


def open_page(ctx, url: str):
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    pg.goto(url)
    pg.wait_for_selector("#photo-input")
    return pg


def answer(pg, photo: Path, timeout_ms: int = 120_000) -> float:
    t0 = time.perf_counter()
    pg.locator("#photo-input input[type=file]").set_input_files(str(photo))
    pg.wait_for_selector("#verdict .verdict-conf", timeout=timeout_ms)
    return time.perf_counter() - t0


def fold(browser, url: str) -> dict:
    """The bottom of the verdict's confidence line in the first screen (y in CSS px, scrolled to the top)."""
    out = {}
    for w, h in ((1366, 768), (1280, 720)):
        ctx = browser.new_context(viewport={"width": w, "height": h})
        pg = open_page(ctx, url)
        answer(pg, EXAMPLES / "astronaut.jpg")
        pg.wait_for_timeout(500)
        pg.evaluate("() => window.scrollTo(0, 0)")
        pg.wait_for_timeout(300)
        box = pg.locator("#verdict .verdict-conf").bounding_box()
        out[f"{w}x{h}"] = {"verdict_bottom_y": round(box["y"] + box["height"]), "in_first_screen": box["y"] + box["height"] <= h}
        ctx.close()
    return out


def open_tab(pg, tab: str) -> None:
    if tab == "API panel":
        pg.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        pg.wait_for_timeout(500)
        pg.get_by_role("button", name="Use via API").first.click(timeout=10_000)
        pg.locator(".api-docs").first.wait_for()
        pg.wait_for_timeout(1500)
        return
    if tab in ("Snapshot", "Live"):
        click_tab(pg, "Webcam")
        pg.get_by_role("tab", name=tab).first.click()
    else:
        click_tab(pg, tab)
    pg.wait_for_timeout(1200)


def click_tab(pg, name: str) -> None:
    tab = pg.get_by_role("tab", name=name)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    pg.get_by_role("button", name="More tabs").click()  # the phone's overflow menu
    pg.locator(".overflow-dropdown button", has_text=name).first.click()


def axe_counts(pg) -> dict:
    if not pg.evaluate("() => !!window.axe"):
        pg.add_script_tag(path=str(AXE))
    res = pg.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                      ".map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))")
    return {"critical": sorted(v["id"] for v in res if v["impact"] == "critical"),
            "serious": sorted(v["id"] for v in res if v["impact"] == "serious")}


def axe_audit(browser, url: str) -> dict:
    """One page per viewport and colour scheme, through every tab as a person goes (Upload answered first)."""
    out = {}
    for vp_name, vp in VIEWPORTS.items():
        for scheme in ("light", "dark"):
            ctx = browser.new_context(viewport=vp, color_scheme=scheme, is_mobile=vp_name == "phone",
                                      has_touch=vp_name == "phone")
            pg = open_page(ctx, url + ("/?__theme=dark" if scheme == "dark" else "/"))
            for tab in TABS:
                try:
                    if tab == "Upload":
                        answer(pg, EXAMPLES / "astronaut.jpg")
                        pg.wait_for_timeout(800)
                    else:
                        open_tab(pg, tab)
                except Exception as e:  # noqa: BLE001 - a tab a person cannot reach is reported, not audited
                    out[f"{vp_name} {scheme} {tab}"] = {"critical": [], "serious": [], "unreachable": type(e).__name__}
                    continue
                out[f"{vp_name} {scheme} {tab}"] = axe_counts(pg)
            ctx.close()
    return out


class RequestLog:
    """Every request of the page from now on, as the browser's network clock saw it: where an answer's seconds go."""

    def __init__(self, cdp):
        self.t0, self.started, self.before_s = None, time.perf_counter(), 0.0
        self.reqs: dict[str, dict] = {}
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._head)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._done)

    def _sent(self, ev):
        if self.t0 is None:  # the browser's clock starts here; the time before (reading, shrinking) on ours
            self.t0, self.before_s = ev["timestamp"], time.perf_counter() - self.started
        req = ev["request"]
        url = req["url"]
        what = ("data: URL (a picture inline in the answer)" if url.startswith("data:") else
                "blob: URL (the photo's copy in the page)" if url.startswith("blob:") else
                f"{req['method']} {url.split('/', 3)[-1][:60]}")
        self.reqs[ev["requestId"]] = {"what": what,
                                      "start": ev["timestamp"]}

    def _head(self, ev):
        r = self.reqs.get(ev["requestId"])
        if r is not None:
            r["first_byte"] = ev["timestamp"]

    def _data(self, ev):
        r = self.reqs.get(ev["requestId"])
        if r is not None and "first_byte" in r:
            r["last_data"] = ev["timestamp"]
            r["received_bytes"] = r.get("received_bytes", 0) + ev.get("encodedDataLength", 0)

    def _done(self, ev):
        r = self.reqs.get(ev["requestId"])
        if r is not None:
            r["end"], r["received_bytes"] = ev["timestamp"], ev.get("encodedDataLength", 0)

    def rows(self, answered_s: float) -> list[dict]:
        """One row per request: seconds from the photo's choice to its start, its first byte back and its end (an
        event stream still open when the answer showed ends with its last data); the first row is the time in the
        page before the first request (the photo read and shrunk)."""
        out = [{"request": "(in the page before the first request)", "start_s": 0.0, "first_byte_s": None,
                "end_s": round(self.before_s, 2), "received_bytes": 0}]
        if self.t0 is None:
            return out
        for r in sorted(self.reqs.values(), key=lambda r: r["start"]):
            end = r.get("end", r.get("last_data"))
            at = lambda t: round(t - self.t0 + self.before_s, 2)  # noqa: E731
            out.append({"request": r["what"], "start_s": at(r["start"]),
                        "first_byte_s": at(r["first_byte"]) if "first_byte" in r else None,
                        "end_s": at(end) if end else None, "received_bytes": r.get("received_bytes", 0)})
        return out + [{"request": "(the verdict shown)", "start_s": round(answered_s, 2), "first_byte_s": None,
                       "end_s": round(answered_s, 2), "received_bytes": 0}]


def fast_3g(browser, url: str, photo: Path) -> dict:
    """Page load and a 12 MP photo's answer over Fast 3G: seconds, and the bytes sent and received."""
    ctx = browser.new_context(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    pg.set_default_timeout(300_000)
    cdp = ctx.new_cdp_session(pg)
    cdp.send("Network.enable")
    received = {"bytes": 0, "requests": 0}

    def done(ev):
        received["bytes"] += ev.get("encodedDataLength", 0)
        received["requests"] += 1

    cdp.on("Network.loadingFinished", done)

    def settle(quiet_s: float = 3.0) -> None:
        """Until no response has finished for ``quiet_s`` (the queue's event stream never ends: no "networkidle")."""
        last, seen = time.perf_counter(), received["requests"]
        while time.perf_counter() - last < quiet_s:
            pg.wait_for_timeout(250)
            if received["requests"] != seen:
                last, seen = time.perf_counter(), received["requests"]

    cdp.send("Network.emulateNetworkConditions", FAST_3G)
    t0 = time.perf_counter()
    pg.goto(url, wait_until="commit")
    pg.wait_for_selector("#photo-input")
    ready = time.perf_counter() - t0
    # the first text or picture painted (the browser's own clock, from the start of the navigation)
    first_paint = pg.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null")
    settle()
    first = dict(received)
    received.update(bytes=0, requests=0)
    t0 = time.perf_counter()
    pg.reload(wait_until="commit")
    pg.wait_for_selector("#photo-input")
    reload_ready = time.perf_counter() - t0
    settle()
    again = dict(received)
    sent = {"bytes": 0}

    def count_upload(route):  # the body as the browser sends it (after any shrinking in the page)
        sent["bytes"] += len(route.request.post_data_buffer or b"")
        route.continue_()

    pg.route("**/gradio_api/upload*", count_upload)
    steps = RequestLog(cdp)
    t0 = time.perf_counter()
    seconds = answer(pg, photo, timeout_ms=300_000)
    pg.wait_for_function("() => { const i = document.querySelector('#annotated img');"
                         " return i && i.complete && i.naturalWidth > 0; }")  # the photo with its faces boxed
    boxed = time.perf_counter() - t0
    breakdown = steps.rows(answered_s=seconds)
    ctx.close()
    return {"first_paint_s": round(first_paint / 1000, 1) if first_paint else None, "page_ready_s": round(ready, 1), "reload_ready_s": round(reload_ready, 1),
            "first_load_bytes": first["bytes"], "first_load_requests": first["requests"],
            "reload_bytes": again["bytes"], "reload_requests": again["requests"],
            "photo_bytes": photo.stat().st_size, "photo_answer_s": round(seconds, 1), "photo_boxed_s": round(boxed, 1),
            "photo_upload_bytes": sent["bytes"],
            "photo_steps": breakdown}


def audit(app_dir: Path, parts: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        tmp = Path(tmp)
        (tmp / "gradio").mkdir()
        photo = twelve_mp_photo(tmp / "IMG_12MP.jpg")
        with running_app(tmp / "gradio", tmp / "server.log", app_dir=app_dir, EMOTION_RATE_LIMIT="1000") as (url, _, _):
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            out = {}
            for part, run in (("fold", lambda: fold(browser, url)), ("axe", lambda: axe_audit(browser, url)),
                              ("fast3g", lambda: fast_3g(browser, url, photo))):
                if part in parts:
                    out[part] = run()
                    print(part, json.dumps(out[part]), flush=True)
            browser.close()
    return out


def table(results: dict[str, dict]) -> str:
    names = list(results)
    lines = ["| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label, get):
        vals = []
        for n in names:
            try:
                vals.append(str(get(results[n])))
            except KeyError:
                vals.append("–")
        lines.append(f"| {label} | " + " | ".join(vals) + " |")

    for vp in ("1366x768", "1280x720"):
        row(f"verdict bottom y at {vp} (fold {vp.split('x')[1]})", lambda r, vp=vp: r["fold"][vp]["verdict_bottom_y"])
    for k in ("first_paint_s", "page_ready_s", "reload_ready_s", "first_load_bytes", "first_load_requests", "reload_bytes",
              "reload_requests", "photo_bytes", "photo_upload_bytes", "photo_answer_s", "photo_boxed_s"):
        row(f"Fast 3G {k}", lambda r, k=k: r["fast3g"][k])
    row("axe critical (rules, summed over 32 tab×viewport×scheme)", lambda r: sum(len(v["critical"]) for v in r["axe"].values()))
    row("axe serious (rules, summed)", lambda r: sum(len(v["serious"]) for v in r["axe"].values()))
    row("axe views with any critical/serious", lambda r: sum(1 for v in r["axe"].values() if v["critical"] or v["serious"]))
    for n in names:
        steps = results[n].get("fast3g", {}).get("photo_steps")
        if steps:
            lines += ["", f"Fast 3G photo answer, request by request ({n}; seconds from choosing the photo):", "",
                      "| request | start | first byte | end | bytes received |", "|---|---|---|---|---|"]
            lines += [f"| {r['request']} | {r['start_s']} | {r['first_byte_s'] if r['first_byte_s'] is not None else ''} | "
                      f"{r['end_s'] if r['end_s'] is not None else ''} | {r['received_bytes']} |" for r in steps]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app-dir", action="append", type=Path, help="a checkout to measure (repeat: before, after)")
    ap.add_argument("--parts", default="fold,fast3g,axe")
    ap.add_argument("--out", type=Path, help="write the table (markdown) and the details (JSON beside it)")
    a = ap.parse_args()
    results = {}
    for d in a.app_dir or [ROOT]:
        d = d.resolve()
        results[str(d)] = audit(d, a.parts.split(","))
        print(json.dumps(results[str(d)], indent=1), flush=True)
    text = table(results)
    print(text)
    if a.out:
        a.out.write_text(f"Made by `python -m bench.page_audit {' '.join('--app-dir ' + str(d) for d in a.app_dir or [])}"
                         f" --parts {a.parts}`\n\n{text}\n")
        a.out.with_suffix(".json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
