"""How the page travels: something to read at once, compressed, and its static files cached by the browser.

On Fast 3G Gradio's page stayed blank for ~4 s: nothing paints until its stylesheet has arrived, and its scripts add
more stylesheets that block painting too. ``PageSplash`` puts a small loading message (inline, styled inline) at the
top of the page's ``<body>`` and loads Gradio's stylesheet without blocking the first paint; the app itself stays
hidden (``visibility``: it still lays out) until web/page.js marks the page ready: the app mounted and every
stylesheet applied, so nothing shows unstyled.

The page's HTML is ~180 KB of text (~21 KB gzipped) and a reload fetched all ~110 of its files again (no
``Cache-Control``). Gradio's own files under ``/assets/`` carry a content hash in their names, so they never change
under a name: the browser may keep them for a year. Everything else is left as it is: the queue's event stream is
never compressed (Starlette's ``GZipMiddleware`` skips ``text/event-stream``, so answers are not held back), and
visitors' files (``/gradio_api/file=``) are never marked cacheable.
"""

from __future__ import annotations

import re

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

IMMUTABLE = b"public, max-age=31536000, immutable"
EXAMPLE_CACHE = b"public, max-age=86400"


class CacheStatic:
    """``Cache-Control`` for Gradio's hashed assets (a year, immutable) and the example photos (a day)."""

    def __init__(self, app: ASGIApp, examples_dir: str):
        self.app, self.examples_dir = app, examples_dir

    def _policy(self, path: str) -> bytes | None:
        if path.startswith(("/assets/", "/static/")):
            return IMMUTABLE
        if path.startswith("/gradio_api/file=") and self.examples_dir in path:
            return EXAMPLE_CACHE
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = self._policy(scope.get("path", "")) if scope["type"] == "http" and scope.get("method") == "GET" else None
        if policy is None:
            await self.app(scope, receive, send)
            return

        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", policy)]}
            await send(message)

        await self.app(scope, receive, send_cached)


_BODY = re.compile(rb"<body\b[^>]*>")
_STYLESHEET = re.compile(rb'<link rel="stylesheet"([^>]*?)>')
# Loaded as "print" (which never blocks painting a screen), then switched to every medium once it has arrived.
_NOT_BLOCKING = b'<link rel="stylesheet"\\1 media="print" onload="this.media=\'all\'">'
SPLASH_STYLE = ("<style>#page-splash{padding:2.5rem 1rem;text-align:center;font:1.1rem/1.5 system-ui,sans-serif;"
                "color:#3f3f46;background:#fff}#page-splash small{display:block;font-size:.9rem;color:#52525b}"
                "@media (prefers-color-scheme:dark){#page-splash{color:#e4e4e7;background:#0b0f19}"
                "#page-splash small{color:#a1a1aa}}html:not(.page-ready) gradio-app{visibility:hidden}"
                "html.page-ready #page-splash{display:none}</style>")


def with_splash(page: bytes, splash_html: str) -> bytes:
    """Gradio's page with ``splash_html`` first in its body and its stylesheets no longer blocking the first paint;
    a page without a ``<body>`` is returned as it came."""
    m = _BODY.search(page)
    if m is None:
        return page
    page = page[:m.end()] + SPLASH_STYLE.encode() + splash_html.encode() + page[m.end():]
    return _STYLESHEET.sub(lambda s: s.group(0) if b"media=" in s.group(1) else s.expand(_NOT_BLOCKING), page)


class PageSplash:
    """Rewrites the page itself (``GET /``, HTML) with ``with_splash``; every other response passes untouched."""

    def __init__(self, app: ASGIApp, splash_html: str):
        self.app, self.splash_html = app, splash_html

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") != "/":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def send_rewritten(message: Message) -> None:
            if message["type"] == "http.response.start":
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in message.get("headers", []))
                if not html or message["status"] != 200:
                    start["pass"] = True
                    await send(message)
                    return
                start.update(message)
                return
            if start.get("pass") or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = with_splash(b"".join(chunks), self.splash_html)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_rewritten)


def deliver(app: ASGIApp, examples_dir: str, splash_html: str) -> ASGIApp:
    """``app`` with a loading message on its page, compressed responses (text over 1 KB) and cached static files."""
    return GZipMiddleware(CacheStatic(PageSplash(app, splash_html), examples_dir), minimum_size=1024, compresslevel=6)
