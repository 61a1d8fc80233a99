"""How the page travels: compressed, and its static files cached by the browser.

The page's HTML is ~180 KB of text (~21 KB gzipped) and a reload fetched all ~110 of its files again (no
``Cache-Control``). Gradio's own files under ``/assets/`` carry a content hash in their names, so they never change
under a name: the browser may keep them for a year. Everything else is left as it is: the queue's event stream is
never compressed (Starlette's ``GZipMiddleware`` skips ``text/event-stream``, so answers are not held back), and
visitors' files (``/gradio_api/file=``) are never marked cacheable.
"""

from __future__ import annotations

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


def deliver(app: ASGIApp, examples_dir: str) -> ASGIApp:
    """``app`` with compressed responses (text over 1 KB) and cached static files."""
    return GZipMiddleware(CacheStatic(app, examples_dir), minimum_size=1024, compresslevel=6)
