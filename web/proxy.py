"""The client's address behind a reverse proxy, which the client cannot choose.

Each proxy appends the address it received the request from to ``X-Forwarded-For``; whatever stands left of that was
written by the client and proves nothing. So the client is the **rightmost** entry that is not one of our trusted
proxies (uvicorn's middleware takes the leftmost when every hop is trusted, e.g. ``FORWARDED_ALLOW_IPS=*``, which let
a client pick a new identity per request and walk past every per-client limit). With ``*`` only the direct peer is
trusted, so the client is the last hop the proxy appended. ``X-Forwarded-Proto`` is taken from the same hop.
"""

from __future__ import annotations

from web.connections import is_trusted


class ClientFromProxy:
    """ASGI middleware: rewrites ``scope["client"]`` (and ``scheme``) from trusted proxies' headers only."""

    def __init__(self, app, trusted: tuple[str, ...]):
        self.app = app
        self.peers = tuple(trusted)  # who may set the headers at all ("*": anyone)
        self.hops = tuple(t for t in trusted if t != "*")  # proxies inside the chain

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and is_trusted(peer[0], self.peers):
                headers = dict_of(scope.get("headers", []))
                forwarded = headers.get(b"x-forwarded-for")
                if forwarded:
                    client = client_address(forwarded.decode("latin-1"), self.hops)
                    if client:
                        scope = {**scope, "client": (client, 0)}
                proto = headers.get(b"x-forwarded-proto")
                if proto:
                    last = proto.decode("latin-1").split(",")[-1].strip().lower()
                    if last in ("http", "https", "ws", "wss"):
                        scope = {**scope, "scheme": last.replace("ws", "http") if scope["type"] == "http" else last}
        return await self.app(scope, receive, send)


def client_address(x_forwarded_for: str, hops: tuple[str, ...]) -> str | None:
    """The rightmost entry of the header that is not a trusted proxy (the leftmost when all are)."""
    entries = [e.strip() for e in x_forwarded_for.split(",") if e.strip()]
    for entry in reversed(entries):
        if not is_trusted(entry, hops):
            return entry[:64]
    return entries[0][:64] if entries else None


def dict_of(headers) -> dict[bytes, bytes]:
    """Header list → dict; repeated headers are joined with commas, in order (as RFC 9110 reads them)."""
    out: dict[bytes, bytes] = {}
    for k, v in headers:
        k = k.lower()
        out[k] = out[k] + b"," + v if k in out else v
    return out
