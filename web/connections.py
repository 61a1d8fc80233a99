"""Bounded TCP connections: a client that opens sockets and sends nothing (or half a request) cannot lock others out.

uvicorn's ``limit_concurrency`` counts every open connection, idle ones included, and it has no timeout for a request
that never finishes arriving: 512 silent sockets from one client made every other request answer 503. This protocol
(uvicorn's h11 one, with three rules added) replaces that limit:

- **Header deadline.** A request's head must arrive in full within ``header_timeout_s`` of the connection opening
  (or of the previous response); otherwise the connection is closed.
- **Body inactivity.** While a request's body is arriving, each gap between two reads is at most ``body_timeout_s``;
  a client that withholds the rest (or its last byte) is disconnected and its handler sees ``http.disconnect``.
- **Connections per peer.** One peer address holds at most ``per_peer`` open connections (a trusted proxy, whose
  connections carry many clients, is exempt); and when the whole server holds ``max_total``, a new connection first
  evicts the oldest connection that is still waiting for its request head, so idle sockets can never starve a real
  request.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import OrderedDict
from dataclasses import dataclass

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("web.connections")


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 15.0
    per_peer: int = 64
    max_total: int = 900
    trusted: tuple[str, ...] = ()  # proxies (IPs or networks, "*" = any) exempt from ``per_peer``

    def is_trusted(self, host: str | None) -> bool:
        return is_trusted(host, self.trusted)


def is_trusted(host: str | None, entries: tuple[str, ...]) -> bool:
    """``host`` is one of ``entries`` (IPs or networks; "*" = any)."""
    if not host or not entries:
        return False
    if "*" in entries:
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host in entries
    for entry in entries:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def limited_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """A uvicorn ``http`` protocol class enforcing ``limits``; each call makes a class with its own bookkeeping."""

    class LimitedH11Protocol(H11Protocol):
        per_peer_open: dict[str, int] = {}
        waiting: "OrderedDict[LimitedH11Protocol, None]" = OrderedDict()  # open, no request head yet; oldest first

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._deadline = None
            self._body_timer = None
            self._peer = self.client[0] if self.client else None
            self._counted = False
            if self._peer is not None and not limits.is_trusted(self._peer):
                if self.per_peer_open.get(self._peer, 0) >= limits.per_peer:
                    log.info("refused a connection: peer holds %d already", limits.per_peer)
                    transport.abort()
                    return
                self.per_peer_open[self._peer] = self.per_peer_open.get(self._peer, 0) + 1
                self._counted = True
            if len(self.connections) > limits.max_total:
                self._evict_one()
            self._await_head()

        def connection_lost(self, exc) -> None:
            self._cancel_timers()
            self.waiting.pop(self, None)
            if self._counted:
                left = self.per_peer_open.get(self._peer, 1) - 1
                if left > 0:
                    self.per_peer_open[self._peer] = left
                else:
                    self.per_peer_open.pop(self._peer, None)
                self._counted = False
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            super().data_received(data)
            if self.cycle is not cycle and self.cycle is not None:  # a new request head arrived in full
                self.waiting.pop(self, None)
                if self._deadline is not None:
                    self._deadline.cancel()
                    self._deadline = None
            if self.cycle is not None and self.cycle.more_body and not self.cycle.response_complete:
                self._arm_body_timer()
            elif self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
                self._await_head()

        # -- the rules -------------------------------------------------------------------------------------
        def _await_head(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self.waiting[self] = None
            self.waiting.move_to_end(self)
            cycle = self.cycle
            self._deadline = self.loop.call_later(limits.header_timeout_s, self._head_too_slow, cycle)

        def _head_too_slow(self, cycle) -> None:
            self._deadline = None
            if self.cycle is cycle and not self.transport.is_closing():  # still no new request head
                self._close("no complete request head in time")

        def _arm_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
            self._body_timer = self.loop.call_later(limits.body_timeout_s, self._body_too_slow, self.cycle)

        def _body_too_slow(self, cycle) -> None:
            self._body_timer = None
            if self.cycle is cycle and cycle is not None and cycle.more_body and not self.transport.is_closing():
                self._close("request body stalled")

        def _evict_one(self) -> None:
            for other in self.waiting:
                if other is not self:
                    other._close("server full: evicted while waiting for a request head")
                    return

        def _close(self, why: str) -> None:
            log.info("closed a connection: %s", why)
            self.waiting.pop(self, None)
            self._cancel_timers()
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            self.transport.abort()

        def _cancel_timers(self) -> None:
            for name in ("_deadline", "_body_timer"):
                timer = getattr(self, name, None)
                if timer is not None:
                    timer.cancel()
                    setattr(self, name, None)

    return LimitedH11Protocol


def trusted_list(spec: str) -> tuple[str, ...]:
    """``FORWARDED_ALLOW_IPS``' comma-separated entries."""
    return tuple(s.strip() for s in spec.split(",") if s.strip())
