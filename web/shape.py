"""The shape of a request, checked as it arrives: what ``web.guard`` cannot see from the head alone.

An ASGI middleware between ``web.proxy.ClientFromProxy`` and ``web.guard.RequestGuard``:

- ``GET /gradio_api/file=<target>`` (and ``file/<target>``): a target that is a URL (``http://…``, ``//host/…``) is refused: Gradio would
  fetch and relay it (an open relay, and on a real host a public DNS-over-HTTPS lookup). A ``Range`` header of
  several ranges is dropped (the whole file is sent, as RFC 9110 allows): Gradio answered it with a 500.
- A ``session_hash`` (query string, ``heartbeat/<hash>``) longer than ``MAX_SESSION_HASH``: refused; Gradio keeps
  one entry per session, and a 60,000-character id costs 60 KB each. (A join's body is checked by the guard, which
  parses it, through ``session_hash_refusal``.)
- ``POST /gradio_api/upload``: the multipart body is scanned as it streams to Gradio (python-multipart, headers
  only): more file parts than the page can use (``max_upload_parts``), a part named ``files`` that is not a file
  (a text field, an empty file name) or a field by another name is refused before Gradio writes any of them.
- Every body is charged as it **arrives** against a server-wide budget (``inflight_total``): bytes declared but
  not sent cost nothing, so sockets that trickle a byte every few seconds cannot starve other clients; and after
  ``grace_s`` a body must keep an average of ``min_rate`` bytes a second, or it is cut (408).

A refused body is cut: the application behind sees the client go (``http.disconnect``), its answer is replaced by
ours, and the disconnect it raises is logged in one line, not a 70-line traceback. A client that really went away
is logged the same way.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Callable
from urllib.parse import parse_qs

from python_multipart.multipart import MultipartParser, parse_options_header

from emotion.errors import MESSAGES
from web.guard import API, Refusal, _respond, session_hash_refusal

log = logging.getLogger("web.shape")
MAX_BOUNDARY = 70  # RFC 2046
_URL_TARGET = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*:|/{2}|\\)")  # a scheme (http:, data:, file:) or a network path
_HEARTBEAT = re.compile(rf"^{API}/heartbeat/(.*)$", re.S)


class _Cut(Exception):
    """Raised inside a receive wrapper: the body breaks a rule; carries the refusal to answer with."""

    def __init__(self, refusal: Refusal):
        self.refusal = refusal


class UploadScan:
    """Part headers of a multipart upload, read as the body streams: the count of parts and each part's kind."""

    def __init__(self, content_type: str, max_parts: int):
        ctype, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary or len(boundary) > MAX_BOUNDARY:
            raise _Cut(Refusal(400, "invalid_request", "Send the files as multipart/form-data."))
        self.max_parts, self.parts = max_parts, 0
        self.delimiter, self.delimiters, self.tail = b"--" + boundary, 0, b""
        self.field, self.value, self.disposition = b"", b"", b""
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._part, "on_header_field": self._field, "on_header_value": self._value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done})

    def feed(self, chunk: bytes) -> None:
        joined = self.tail + chunk  # a delimiter split between two chunks is counted once, whole
        self.delimiters += joined.count(self.delimiter)  # at memory speed, before any parsing
        self.tail = joined[-(len(self.delimiter) - 1):]
        if self.delimiters - 1 > self.max_parts:  # n parts have n + 1 delimiters (the last one closes)
            raise _Cut(Refusal(413, "too_many_files", MESSAGES["too_many_files"].format(max_files=self.max_parts)))
        try:
            self.parser.write(chunk)
        except _Cut:
            raise
        except Exception:  # noqa: BLE001 - python-multipart raises several types for a malformed body
            raise _Cut(Refusal(400, "invalid_request", "The upload could not be parsed.")) from None

    def _part(self) -> None:
        self.parts += 1
        self.disposition = b""
        if self.parts > self.max_parts:
            raise _Cut(Refusal(413, "too_many_files", MESSAGES["too_many_files"].format(max_files=self.max_parts)))

    def _field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]
        if len(self.value) > 4096:
            raise _Cut(Refusal(400, "invalid_request", "A part header of the upload is too long."))

    def _header_end(self) -> None:
        if self.field.lower() == b"content-disposition":
            self.disposition = self.value
        self.field, self.value = b"", b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self.disposition)
        if params.get(b"name") != b"files" or not params.get(b"filename"):
            raise _Cut(Refusal(400, "invalid_request", "An upload carries files only, each in a part named 'files' "
                                                       "with a file name."))


def _header(scope, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name), "")


class RequestShape:
    """Pure ASGI middleware; see the module's docstring."""

    def __init__(self, app, *, max_upload_parts: int, inflight_total: int, min_rate: float = 16 * 1024,
                 grace_s: float = 15.0, clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.max_upload_parts = max_upload_parts
        self.inflight_total_max, self.inflight_total = inflight_total, 0
        self.min_rate, self.grace_s, self.clock = min_rate, grace_s, clock

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            scope = self._check_head(scope)
        except Refusal as r:
            log.info("refused %s: %s", scope.get("method"), r.code)
            return await _respond(send, r)
        state = {"cut": None, "started": False, "disconnected": False, "charged": 0, "received": 0}
        is_upload = scope.get("method") == "POST" and scope.get("path", "").rstrip("/") == f"{API}/upload"
        upload: UploadScan | None = None  # made at the first chunk: the guard's checks of the head come first
        began = self.clock()

        async def checked_receive():
            if state["cut"] is not None:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.disconnect":
                state["disconnected"] = True
                return message
            nonlocal upload
            chunk = message.get("body", b"")
            try:
                state["received"] += len(chunk)
                if not is_upload:  # an upload streams to disk (bounded by the guard per client and minute)
                    self._charge(state, len(chunk))
                elif chunk:
                    upload = upload or UploadScan(_header(scope, b"content-type"), self.max_upload_parts)
                    upload.feed(chunk)
                if message.get("more_body") and self.clock() - began > self.grace_s and \
                        state["received"] < self.min_rate * (self.clock() - began):
                    raise _Cut(Refusal(408, "timeout", "The request body arrives too slowly. Check the connection and "
                                                       "send it again."))
            except _Cut as c:
                state["cut"] = c.refusal
                log.info("cut a request body: %s", c.refusal.code)
                return {"type": "http.disconnect"}
            return message

        async def checked_send(message):
            if state["cut"] is not None:
                return  # the app's answer to the cut body is replaced by ours
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, checked_receive, checked_send)
        except Exception as e:  # noqa: BLE001 - after a disconnect (ours or the client's): one line, not a traceback
            if state["cut"] is None and not state["disconnected"]:
                raise
            log.info("request ended after the client went: %s", type(e).__name__)
        finally:
            self.inflight_total -= state["charged"]
        if state["cut"] is not None and not state["started"]:
            await _respond(send, state["cut"])

    def _charge(self, state: dict, n: int) -> None:
        """Count ``n`` more body bytes against the server's budget, or cut this body when it is spent."""
        if self.inflight_total + n > self.inflight_total_max:
            raise _Cut(Refusal(503, "busy", MESSAGES["busy"], 5))
        self.inflight_total += n
        state["charged"] += n

    def _check_head(self, scope) -> dict:
        """Refusals from the request head; returns the scope to pass on (a multi-range ``Range`` dropped)."""
        path = scope.get("path", "")
        if path.startswith((f"{API}/file=", f"{API}/file/")):  # the second is Gradio's older spelling of the first
            if _URL_TARGET.match(path[len(API) + 6:]):
                raise Refusal(404, "invalid_request", "Only this app's own files are served here, never another address.")
            if any(k.lower() == b"range" and b"," in v for k, v in scope.get("headers", [])):
                scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]}
        heartbeat = _HEARTBEAT.match(path)
        refusal = session_hash_refusal(heartbeat.group(1)) if heartbeat else None
        query = scope.get("query_string", b"")
        if refusal is None and b"session_hash" in query:
            for value in parse_qs(query.decode("latin-1")).get("session_hash", []):
                refusal = refusal or session_hash_refusal(value)
        if refusal is not None:
            raise refusal
        return scope
