"""The ASGI application: FastAPI routes, the Gradio page and API mounted on them, and the guards in front.

Layers, outermost first: ``web.proxy.ClientFromProxy`` (the client address from ``X-Forwarded-For``: the rightmost
hop that is not a trusted proxy; ``ServerConfig.trusted_proxies`` says who is trusted) → ``RequestShape`` (what
arrives: bodies charged as they come, uploads scanned part by part, URL file targets refused) → ``RequestGuard`` (bounds
every request before Gradio reads it) → FastAPI.
"""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from web.config import ServerConfig
from web.backlog import BoundedBacklog
from web.delivery import deliver
from web.guard import MCP_POST_ROUTES, RequestGuard
from web.mcp import add_tool, only_the_tool
from web.privacy import gradio_temp_dir
from web.proxy import ClientFromProxy
from web.rest import docs_router, router
from web.service import EmotionService
from web.shape import RequestShape
from web.ui import EXAMPLES_DIR, build_ui, event_rules
from web.ui_text import CSS, SPLASH_HTML
from web.uploads import UploadStore


DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGE_JS = Path(__file__).resolve().parent / "page.js"
CARD_CSS = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}code{background:#f4f4f4}")


# The docs this server shows as pages (their links to one another follow; links to other files are left as text).
DOC_PAGES = {"MODEL_CARD.md": "/model-card", "MODEL_HISTORY.md": "/model-history", "API.md": "/guide/api"}
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)  # the card's YAML header (Hugging Face metadata): not shown
_DOC_LINK = re.compile(r'<a href="(?![a-z][a-z0-9+.\-]*:|#)([^"#]*)(#[^"]*)?">(.*?)</a>', re.S)
_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)


def heading_slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (not - or _), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _markdown_page(path: Path, title: str) -> str:
    from markdown_it import MarkdownIt  # a Gradio dependency

    body = MarkdownIt("commonmark").enable("table").render(_FRONT_MATTER.sub("", path.read_text(encoding="utf-8")))

    def link(m: re.Match) -> str:
        page = DOC_PAGES.get(m.group(1))
        return f'<a href="{page}{m.group(2) or ""}">{m.group(3)}</a>' if page else m.group(3)

    body = _DOC_LINK.sub(link, body)
    # Headings get GitHub's anchors, so the docs' "#section" links work on the page too.
    body = _HEADING.sub(lambda m: f'<h{m.group(1)} id="{heading_slug(re.sub("<[^>]+>", "", m.group(2)))}">'
                                  f'{m.group(2)}</h{m.group(1)}>', body)
    return f"<!doctype html><meta charset=utf-8><title>{title}</title><style>{CARD_CSS}</style><main>{body}</main>"


def page_head(config: ServerConfig) -> str:
    """The page's own script (web/page.js) and the limits it checks before sending: the photo size limit, and the
    side photos are shrunk to in the browser (the sharpest copy the pipeline uses: emotion.faces.DETAIL_MAX_SIDE)."""
    import json

    from emotion.faces import DETAIL_MAX_SIDE

    from web.components import EXAMPLE_PHOTO

    limits = json.dumps({"maxImageBytes": config.max_image_bytes, "sendSide": DETAIL_MAX_SIDE, "examplePhoto": EXAMPLE_PHOTO})
    return (f"<script>window.EMOTION_PAGE = {limits};</script>"
            f"<script>{PAGE_JS.read_text(encoding='utf-8')}</script>")


def _keyword_args(demo: gr.Blocks) -> dict[str, set[str]]:
    """Each named endpoint's parameter names (what ``/call/v2/<name>`` may receive as keywords)."""
    info = demo.get_api_info() or {}
    return {name.lstrip("/"): {p.get("parameter_name") for p in spec.get("parameters", []) if p.get("parameter_name")}
            for name, spec in (info.get("named_endpoints") or {}).items()}


def create_app(service: EmotionService, config: ServerConfig):
    """The whole server for ``service``; nothing starts until an ASGI server runs it."""
    # Examples are served from their own folder, never copied into the upload folder (where the janitor deletes all).
    gr.set_static_paths([str(EXAMPLES_DIR)])
    api = FastAPI(title="Facial emotion recognition", docs_url=None)  # /docs comes from docs_router: no CDN, works offline

    # On the event loop, never in the worker threads that requests wait in: /health answers whatever the load.
    @api.get("/health")
    async def health() -> dict:
        return service.health()

    @api.get("/info")
    async def info() -> dict:
        return service.info()

    @api.get("/stats")
    async def stats() -> dict:
        return {**service.stats.summary(), "latency_histogram": dict(service.stats.latency_histogram())}

    @api.get("/model-card", response_class=HTMLResponse, include_in_schema=False)
    def model_card() -> str:
        """docs/MODEL_CARD.md as a page, for the page's "model card" link (a Space has no other place to show it)."""
        return _markdown_page(DOCS / "MODEL_CARD.md", "Model card")

    @api.get("/model-history", response_class=HTMLResponse, include_in_schema=False)
    def model_history() -> str:
        """docs/MODEL_HISTORY.md as a page: each model version, how it was made, newest first (linked from the card)."""
        return _markdown_page(DOCS / "MODEL_HISTORY.md", "Model history")

    @api.get("/guide/api", response_class=HTMLResponse, include_in_schema=False)
    def api_guide() -> str:
        """docs/API.md as a page: the result schema and error codes the API page points to."""
        return _markdown_page(DOCS / "API.md", "HTTP API")

    service.configure_video(config.video_limits)
    service.configure_live(config.live_fast_from)
    api.include_router(router(service))
    api.include_router(docs_router())
    uploads = UploadStore(gradio_temp_dir(), config.max_image_bytes, owner_ttl_s=config.retention_s, shared=(EXAMPLES_DIR,))
    demo = build_ui(service, config, uploads)
    add_tool(demo, service)  # the photo analysis as an MCP tool (/gradio_api/mcp/sse, /gradio_api/mcp/)
    # On a Space, Gradio's page opened at its own address (not inside huggingface.co) adds a Space header that makes
    # each visitor's browser fetch Google Fonts and huggingface.co's API: a third party would see every visitor.
    # Without a space id the page asks nothing of anyone but this server (tests/test_space.py checks it in Chromium).
    demo.space_id = None
    # No per-file limit in Gradio (its refusal is a toast in its own words): the guard bounds each upload request and
    # each client's upload volume, and a photo over the limit gets our `file_too_large` like everywhere else.
    app = gr.mount_gradio_app(api, demo, path="/", max_file_size=None, css=CSS, footer_links=["api"],
                              head=page_head(config),
                              allowed_paths=[str(EXAMPLES_DIR)], show_error=False, mcp_server=True)
    only_the_tool(demo)
    # Gradio checks that a client's file path lies in its upload folder only once `launch()` has run, which a
    # mounted app never calls: without this, any client could make the server open any file (/etc/passwd, /dev/zero).
    demo.has_launched = True
    BoundedBacklog(demo._queue, ttl_s=config.unread_ttl_s).install()  # answers nobody reads are not kept for ever
    guarded = RequestGuard(
        deliver(app, str(EXAMPLES_DIR), SPLASH_HTML), rules_by_fn=event_rules(demo, config.max_batch),
        fn_by_api_name={fn.api_name: i for i, fn in demo.fns.items() if fn.api_name},
        read_roots=[gradio_temp_dir(), EXAMPLES_DIR], queue_events=lambda: list(demo._queue.event_ids_to_events.values()),
        queue_size=config.queue_size, max_json_bytes=config.max_json_bytes, max_image_json_bytes=config.max_image_json_bytes,
        max_upload_bytes=config.max_upload_bytes, events_per_client=config.events_per_client,
        streams_per_client=config.streams_per_client, streams_total=config.streams_total,
        flood_per_minute=config.flood_per_minute, upload_mb_per_minute=config.upload_mb_per_minute, body_limits={**dict.fromkeys(MCP_POST_ROUTES, config.max_image_json_bytes),
                                                                                              "/api/predict": config.max_image_bytes + config.max_json_bytes,
                                                                                              "/api/predict_video": config.max_video_bytes + config.max_json_bytes},
        inflight_per_client=config.inflight_mb_per_client * 2**20, inflight_total=config.inflight_mb_total * 2**20,
        keyword_args=_keyword_args(demo), uploaded=lambda: demo.upload_file_set)
    # The batch event takes up to 4 × max_batch files (its handler then says how many to remove), so an upload may too.
    shaped = RequestShape(guarded, max_upload_parts=4 * config.max_batch, inflight_total=config.inflight_mb_total * 2**20,
                          grace_s=config.body_timeout_s)
    return ClientFromProxy(shaped, config.trusted_proxies)
