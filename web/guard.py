"""Refuse before reading: an ASGI middleware that bounds every request before Gradio (or we) parse or decode it.

Gradio's HTTP routes do a lot with a request before any of our code runs: they read the whole body, turn every
file entry into a file operation (hash, copy) and hold a queue slot per event. This guard sits in front of them and
answers with our own error JSON (``{"success": false, "error": code, "message": ..., "detail": ...}``; ``detail``
is what Gradio's page shows) when a request:

- has no ``Content-Length`` or a larger body than its route allows (checked from the header, nothing read);
- names an event that does not exist, carries more file entries than the event takes, or points a file entry
  anywhere but Gradio's upload folder or the example photos (the file-by-path hole: ``/etc/passwd``, ``/dev/zero``);
- comes from a client that already holds its share of the queue (one-shot events, live streams), when the live
  streams of all clients are at their cap, or when the queue is nearly full (``busy`` with ``Retry-After``);
- arrives faster than a flood ceiling per client (``rate_limited`` with ``Retry-After``).

The client is ``scope["client"]``, which uvicorn's ``ProxyHeadersMiddleware`` (outside this one) rewrites from
``X-Forwarded-For`` only for trusted proxies.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import anyio

from emotion.errors import MESSAGES
from web.memory import return_memory
from web.ratelimit import RateLimiter

log = logging.getLogger("web.guard")
API = "/gradio_api"
_EVENT_ROUTE = re.compile(rf"^{API}/call(?:/v2)?/([A-Za-z0-9_\-]+)/?$")
_V2_ROUTE = re.compile(rf"^{API}/call/v2/([A-Za-z0-9_\-]+)/?$")  # keyword arguments: {"image": …, "model": …}
_STREAM_ROUTE = re.compile(rf"^{API}/stream/[A-Za-z0-9_\-]+/?$")
_MAX_DEPTH = 12
_MAX_JSON_CONTAINERS = 20_000  # objects + arrays in one JSON body: a batch of 20 files has ~100; counted before parsing
_PARSE_IN_THREAD_BYTES = 256 * 1024
_TRIM_AFTER_BYTES = 4 * 2**20  # after a body this large is answered, freed memory goes back to the system  # larger JSON bodies are parsed off the event loop
# Gradio's routes that this app uses, and only those (an allow-list: /run/, /api/, process_recording,
# component_server, run history, vibe editing, login, monitoring … are refused before Gradio sees them).
# Gradio's MCP server (web.mcp): SSE stream, its message posts, streamable HTTP, and the tool schema.
_MCP_GET, _MCP_POST = r"mcp(?:/sse|/schema|/http)?", r"mcp(?:/messages|/http)?"
MCP_POST_ROUTES = (f"{API}/mcp", f"{API}/mcp/messages", f"{API}/mcp/http")  # bodies carry a photo: bounded as one
_GRADIO_ALLOWED = {
    "GET": re.compile(rf"^{API}/(?:info|openapi\.json|queue/data|queue/status|upload_progress|startup-events|theme\.css|"
                      rf"app_id|file=.*|file/.*|heartbeat/[^/]+|call(?:/v2)?/[A-Za-z0-9_\-]+/[^/]+|{_MCP_GET})/?$", re.S),
    "POST": re.compile(rf"^{API}/(?:upload|queue/join|cancel|reset|call(?:/v2)?/[A-Za-z0-9_\-]+|stream/[A-Za-z0-9_\-]+"
                       rf"(?:/close)?|{_MCP_POST})/?$"),
}
_GRADIO_ROOT_REFUSED = re.compile(r"^/(?:login|logout|monitoring)(?:/.*)?$")


@dataclass(frozen=True)
class EventRule:
    """What one Gradio event may receive."""

    name: str
    max_files: int = 1  # file entries (``{"path": ...}`` / ``{"url": ...}``) in one call
    data_urls: bool = False  # webcam frames arrive inline as ``data:`` URLs
    stream: bool = False  # a live stream: holds its slot for the whole stream
    continues: bool = False  # the next frame of an open stream: its slot is already held, payload checks only
    defaults: tuple = ()  # each input's default: a call that leaves out trailing optional inputs (the model) gets them


STREAM_FRAME = EventRule("stream-frame", max_files=1, data_urls=True, continues=True)


@dataclass(frozen=True)
class Refusal(Exception):
    status: int
    code: str
    message: str
    retry_after: int | None = None

    def body(self) -> bytes:
        return json.dumps({"success": False, "error": self.code, "message": self.message, "detail": self.message}).encode()


class RequestGuard:
    """Pure ASGI middleware (no buffering beyond the bounded bodies it inspects)."""

    def __init__(self, app, *, rules_by_fn: dict[int, EventRule], fn_by_api_name: dict[str, int],
                 read_roots: Iterable[str | os.PathLike], queue_events: Callable[[], Iterable[Any]], queue_size: int,
                 max_json_bytes: int, max_image_json_bytes: int, max_upload_bytes: int, events_per_client: int,
                 streams_per_client: int, streams_total: int, flood_per_minute: int = 1200,
                 body_limits: dict[str, int] | None = None, upload_mb_per_minute: int = 400,
                 inflight_per_client: int = 128 * 2**20, inflight_total: int = 512 * 2**20,
                 keyword_args: dict[str, set[str]] | None = None,
                 uploaded: Callable[[], set[str]] = set):
        self.app = app
        self.rules_by_fn, self.fn_by_api_name = rules_by_fn, fn_by_api_name
        self.read_roots = [Path(os.path.realpath(r)) for r in read_roots]
        self.queue_events, self.queue_size = queue_events, queue_size
        self.max_json_bytes, self.max_image_json_bytes = max_json_bytes, max_image_json_bytes
        self.max_upload_bytes = max_upload_bytes
        self.events_per_client, self.streams_per_client, self.streams_total = events_per_client, streams_per_client, streams_total
        self.flood = RateLimiter(flood_per_minute)
        self.upload_mb = RateLimiter(upload_mb_per_minute)  # disk written per client: uploads live until read or swept
        self.body_limits = body_limits or {}  # routes of our own with a larger body (the REST upload)
        self.inflight_per_client, self.inflight_total_max = inflight_per_client, inflight_total
        self.keyword_args = keyword_args or {}  # each API name's parameter names, for /call/v2/<name>
        self.uploaded = uploaded  # the paths clients uploaded (Gradio's upload_file_set)
        self.inflight: dict[str, int] = {}  # body bytes being received or handled, per client
        self.inflight_total = 0
        # Events admitted but not yet in Gradio's queue (their join is still being handled): counted with the queue,
        # so concurrent requests cannot all pass a share check that each saw before the others were queued.
        self.pending: dict[tuple[str, bool], int] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held: list[Callable[[], None]] = []  # what this request reserved, released when it is answered
        try:
            try:
                receive = await self._check(scope, receive, held)
            except Refusal as r:
                log.info("refused %s %s: %s", scope.get("method"), _route_label(scope.get("path", "")), r.code)
                return await _respond(send, r)
            return await self.app(scope, receive, send)
        finally:
            for release in held:
                release()

    def _is_upload(self, path: str) -> bool:
        for prefix in (f"{API}/file=", f"{API}/file/"):
            if path.startswith(prefix):
                target = path[len(prefix):]
                uploaded = self.uploaded()
                try:
                    real = os.path.realpath(target if target.startswith("/") else "/" + target)
                except (OSError, ValueError):
                    return True
                return target in uploaded or real in uploaded
        return False

    def _route_allowed(self, method: str, route: str) -> bool:
        if route == API or route.startswith(API + "/"):
            pattern = _GRADIO_ALLOWED.get("GET" if method == "HEAD" else method)
            return bool(pattern and pattern.match(route))
        return not _GRADIO_ROOT_REFUSED.match(route)

    def _reserve_bytes(self, client: str, length: int, held: list) -> None:
        """Count a body's bytes against its client's and the server's in-flight budgets until it is answered: many
        bodies held open (a withheld last byte) cannot add up to more memory than the budgets."""
        if length <= 0:
            return
        mine = self.inflight.get(client, 0)
        if mine + length > self.inflight_per_client:
            raise Refusal(429, "busy", "You are already sending a lot at once. Wait for those answers, then try again.", 5)
        # The server-wide total is charged as bytes arrive (web.shape): declared bytes that never come cost nothing.
        _count(self.inflight, client, length)
        self.inflight_total += length

        def release():
            _count(self.inflight, client, -length)
            self.inflight_total -= length
            if length >= _TRIM_AFTER_BYTES:
                return_memory()

        held.append(release)

    # -- checks -----------------------------------------------------------------------------------------------
    async def _check(self, scope, receive, held: list):
        method, path = scope.get("method", "GET"), scope.get("path", "")
        route = path.rstrip("/")
        if not self._route_allowed(method, route or "/"):
            raise Refusal(404, "invalid_request", "This address is not part of this app's API.")
        if method in ("GET", "HEAD") and self._is_upload(path):
            # An upload waiting to be read is the client's raw file (EXIF and GPS included): never served back to
            # anyone who learns its path. The page previews its own copy; what it shows back comes inline.
            raise Refusal(404, "invalid_request", "Uploaded files are not served back.")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        has_body = method in ("POST", "PUT", "PATCH") or "content-length" in headers or "transfer-encoding" in headers
        if not has_body:
            return receive
        client = _client(scope)
        if not self.flood.allow(client):
            raise Refusal(429, "rate_limited", MESSAGES["rate_limited"], self.flood.retry_after(client))
        length = _content_length(headers)
        if route == f"{API}/upload":
            if length > self.max_upload_bytes:
                raise Refusal(413, "file_too_large", f"One upload may carry at most {self.max_upload_bytes / 2**20:.0f} MB.")
            mb = max(1, -(-length // 2**20))
            if not self.upload_mb.allow(client, cost=mb):
                raise Refusal(429, "rate_limited", "You have uploaded a lot in the last minute. Please wait and try again.",
                              self.upload_mb.retry_after(client, cost=mb))
            return receive  # multipart: streamed to disk by Gradio, bounded by the length above
        if route in self.body_limits:
            if length > self.body_limits[route]:
                raise Refusal(413, "file_too_large", MESSAGES["file_too_large"].format(max_mb=self.body_limits[route] / 2**20))
            self._reserve_bytes(client, length, held)
            return receive  # read by its own route, which knows its format
        limit = self.max_image_json_bytes if (_STREAM_ROUTE.match(route) or self._may_carry_frames(route)) else self.max_json_bytes
        if length > limit:
            raise Refusal(413, "file_too_large", MESSAGES["file_too_large"].format(max_mb=limit / 2**20))
        self._reserve_bytes(client, length, held)
        body = await _read_body(receive, length)
        if not (route == f"{API}/queue/join" or _EVENT_ROUTE.match(route) or _STREAM_ROUTE.match(route)):
            return _replay(body)  # starts no event: bounded above, nothing in it is acted on by file or index
        if body.count(b"{") + body.count(b"[") > _MAX_JSON_CONTAINERS:  # millions of tiny objects: refused unparsed
            raise Refusal(413, "invalid_request", "The request holds far more items than any event of this app takes.")
        payload = await anyio.to_thread.run_sync(_json, body) if len(body) > _PARSE_IN_THREAD_BYTES else _json(body)
        refusal = session_hash_refusal(payload.get("session_hash") if isinstance(payload, dict) else None)
        if refusal is not None:
            raise refusal
        rule = self._rule_for(route, payload)
        v2 = _V2_ROUTE.match(route)
        if v2:  # Gradio answers an unknown keyword with a 500 and a traceback in the log: say what is wrong instead
            known = self.keyword_args.get(v2.group(1), set())
            if not isinstance(payload, dict) or set(payload) - known - {"oauth_token"}:
                raise Refusal(400, "invalid_request", "Unknown argument: this endpoint takes "
                                                      + (", ".join(sorted(known)) or "no keyword arguments") + ".")
            payload = {"data": list(payload.values())}  # what the event receives, for the checks below
        if length > self.max_json_bytes and not rule.data_urls:  # only an event that takes an inline frame is large
            raise Refusal(413, "file_too_large", MESSAGES["file_too_large"].format(max_mb=self.max_json_bytes / 2**20))
        self._check_payload(rule, payload)
        self._check_share(rule, client)
        self._hold_place(rule, client, held)
        return _replay(body if v2 else _with_defaults(rule, payload, body))

    def _hold_place(self, rule: EventRule, client: str, held: list) -> None:
        """Reserve the event's place (see ``pending``) until its join has been answered (it is queued by then)."""
        if rule.continues:
            return
        key = (client, rule.stream)
        _count(self.pending, key, 1)
        held.append(lambda: _count(self.pending, key, -1))

    def _pending(self, client: str | None, stream: bool) -> int:
        if client is not None:
            return self.pending.get((client, stream), 0)
        return sum(n for (_, s), n in self.pending.items() if s == stream)

    def _may_carry_frames(self, route: str) -> bool:
        """Bodies that may hold an inline frame: the queue join (webcam events) and the named events that take one."""
        if route == f"{API}/queue/join":
            return True
        m = _EVENT_ROUTE.match(route)
        rule = self.rules_by_fn.get(self.fn_by_api_name.get(m.group(1), -1)) if m else None
        return bool(rule and rule.data_urls)

    def _rule_for(self, route: str, payload: Any) -> EventRule:
        """The rule of the event this request starts (or continues, for a live stream's next frame)."""
        if route == f"{API}/queue/join":
            fn = payload.get("fn_index") if isinstance(payload, dict) else None
            if not isinstance(fn, int) or isinstance(fn, bool) or fn not in self.rules_by_fn:
                raise Refusal(400, "invalid_request", MESSAGES["invalid_request"])
            return self.rules_by_fn[fn]
        m = _EVENT_ROUTE.match(route)
        if m:
            fn = self.fn_by_api_name.get(m.group(1))
            if fn is None:
                raise Refusal(404, "invalid_request", MESSAGES["invalid_request"])
            return self.rules_by_fn[fn]
        return STREAM_FRAME  # the next frame of an open live stream: payload rules of a stream

    def _check_payload(self, rule: EventRule, payload: Any) -> None:
        files = list(_file_entries(payload))  # anywhere in the body: every path is checked
        inputs = payload.get("data") if isinstance(payload, dict) else payload  # what the event receives as inputs
        if len(list(_file_entries(inputs))) > rule.max_files:  # (a stream also echoes its frame in event_data)
            raise Refusal(413, "too_many_files", MESSAGES["too_many_files"].format(max_files=rule.max_files))
        for entry in files:
            for key in ("path", "url"):
                value = entry.get(key)
                if value is None:
                    continue
                if not isinstance(value, str):
                    raise Refusal(400, "invalid_request", MESSAGES["invalid_request"])
                if value.startswith("data:"):
                    if not rule.data_urls:
                        raise Refusal(400, "invalid_request", MESSAGES["invalid_request"])
                elif key == "path" and not self._readable(value):  # a "url" is never fetched by the server; a path is read
                    raise Refusal(400, "invalid_image", URL_REFUSED if "://" in value else
                                  "Only files uploaded to this server can be analysed. Upload the image.")

    def _readable(self, path: str) -> bool:
        """True for a path inside the upload folder or the example photos (symlinks resolved first)."""
        if "\x00" in path or len(path) > 4096:
            return False
        try:
            real = Path(os.path.realpath(path))
        except (OSError, ValueError):
            return False
        # A path already read (and deleted) may still be served from memory (web.uploads): absent is fine, anything
        # there that is not a regular file (a FIFO, a device, a folder) is not.
        return any(real.is_relative_to(root) for root in self.read_roots) and (real.is_file() or not os.path.lexists(real))

    def _check_share(self, rule: EventRule, client: str) -> None:
        if rule.continues:
            return
        events = list(self.queue_events())
        mine = [e for e in events if _event_client(e) == client]
        if rule.stream:
            streams = sum(1 for e in events if _is_stream(e)) + self._pending(None, True)
            held = sum(1 for e in mine if _is_stream(e)) + self._pending(client, True)
            # Fair shares: once half the live slots are taken, a client that holds one gets no second one.
            share = self.streams_per_client if streams < self.streams_total // 2 else min(1, self.streams_per_client)
            if held >= share:
                raise Refusal(429, "busy", f"You already have {held} live camera stream{'s' if held > 1 else ''} open. "
                                           "Close one (leave the Live tab) and try again.", 10)
            if streams >= self.streams_total:
                raise Refusal(503, "busy", MESSAGES["busy"], 10)
        elif sum(1 for e in mine if not _is_stream(e)) + self._pending(client, False) >= self.events_per_client:
            raise Refusal(429, "busy", "You already have requests waiting. Wait for their answers, then try again.", 2)
        waiting = sum(1 for e in events if not _is_stream(e)) + self._pending(None, False)
        if waiting >= self.queue_size - 1:
            raise Refusal(503, "busy", MESSAGES["busy"], 5)


# -- helpers ------------------------------------------------------------------------------------------------------
MAX_SESSION_HASH = 128  # Gradio's page makes 11 characters, gradio_client a UUID (36)


def session_hash_refusal(session_hash) -> Refusal | None:
    """The refusal for a session id that is not a short string (Gradio keeps state per id: 60,000-character ids of
    never-read sessions cost 107 MB), else None."""
    if session_hash is None or (isinstance(session_hash, str) and len(session_hash) <= MAX_SESSION_HASH):
        return None
    return Refusal(400, "invalid_request", f"A session_hash is a short id (at most {MAX_SESSION_HASH} characters).")


def _count(counts: dict, key, n: int) -> None:
    """Add ``n`` to ``counts[key]``; a key that reaches 0 is dropped (the dicts stay as small as what is in flight)."""
    left = counts.get(key, 0) + n
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def _client(scope) -> str:
    c = scope.get("client")
    return c[0] if c else "unknown"


def _event_client(event) -> str | None:
    req = getattr(event, "request", None)
    c = getattr(req, "client", None) if req is not None else None
    return getattr(c, "host", None)


def _is_stream(event) -> bool:
    return getattr(getattr(event, "fn", None), "connection", None) == "stream"


def _content_length(headers: dict[str, str]) -> int:
    value = headers.get("content-length")
    if value is None or "transfer-encoding" in headers:
        raise Refusal(411, "invalid_request", "Send the request with a Content-Length header (no chunked bodies).")
    try:
        n = int(value)
    except ValueError:
        raise Refusal(400, "invalid_request", MESSAGES["invalid_request"]) from None
    if n < 0:
        raise Refusal(400, "invalid_request", MESSAGES["invalid_request"])
    return n


async def _read_body(receive, length: int) -> bytes:
    """The whole body, which the server (h11/httptools) never lets exceed the declared Content-Length."""
    chunks, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refusal(400, "invalid_request", "The request body was cut short.")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > length:
            raise Refusal(413, "file_too_large", "The request body is longer than its Content-Length.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _with_defaults(rule: EventRule, payload: Any, body: bytes) -> bytes:
    """The body with the event's trailing optional inputs filled in when a caller left them out, so a plain
    ``{"data": [file]}`` to ``/call/predict`` keeps working after ``/predict`` gained its optional ``model``."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not rule.defaults or not isinstance(data, list) or len(data) >= len(rule.defaults):
        return body
    payload["data"] = data + list(rule.defaults[len(data):])
    return json.dumps(payload).encode()


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):
        raise Refusal(400, "invalid_request", MESSAGES["invalid_request"]) from None


URL_REFUSED = ("This server does not download files from web addresses (it makes no outside requests): download the "
               "photo and send the file itself, e.g. handle_file('face.jpg') in Python or curl -F file=@face.jpg …/api/predict.")


def _file_entries(node: Any, depth: int = 0) -> Iterable[dict]:
    """Every dict in a JSON value that names a file (``path`` or ``url``), the shape of Gradio's FileData."""
    if depth > _MAX_DEPTH:
        raise Refusal(400, "invalid_request", MESSAGES["invalid_request"])
    if isinstance(node, dict):
        if "path" in node or "url" in node:
            yield node
        for v in node.values():
            if isinstance(v, (dict, list)):
                yield from _file_entries(v, depth + 1)
    elif isinstance(node, list):
        for v in node:
            if isinstance(v, (dict, list)):
                yield from _file_entries(v, depth + 1)


def _route_label(path: str) -> str:
    """The route without ids or file names, for the log."""
    return re.sub(r"/(stream|call(?:/v2)?|run|api)/[^/]+.*$", r"/\1/…", path.split("=")[0])[:200]


async def _respond(send, r: Refusal) -> None:
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    if r.retry_after is not None:
        headers.append((b"retry-after", str(int(r.retry_after)).encode()))
    body = r.body()
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": r.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
