"""Every accepted connection: a cap, its timeouts, and the protocol it speaks.

Why: before this a connection could stay open for ever, sending nothing or one
byte of a request head at a time, and 1,124 such connections at a 1,024-descriptor
limit left no socket for a real caller (issue 13). Each connection now sits behind
a ``ConnectionGuard``, as numbered steps:

1. **Cap.** At ``cap`` open connections a new one takes the place of the one idle
   the longest (no request in progress), which is closed; if every connection is
   busy answering, the new one is closed at once. So a flood of idle connections
   never locks out a caller with real work.
2. **Protocol.** Over TLS, ALPN decides: ``h2`` gets HTTP/2, anything else
   HTTP/1.1. In plain text the first bytes decide: the HTTP/2 preface (``PRI *
   HTTP/2.0``…, RFC 9113 §3.3 "prior knowledge") gets HTTP/2, anything else
   HTTP/1.1. The guard then forwards every event to that protocol and stays in
   front, so it keeps seeing the connection's traffic.
3. **Timeouts.** While no request is in progress: a request head must be complete
   within ``header_timeout_s`` of its first byte (HTTP/1.1, and the preface), and a
   connection with no request for ``idle_timeout_s`` is closed (HTTP/2 says GOAWAY
   first). A request in progress is never cut off by the guard: a
   SubscribeToShard legitimately sends for minutes without hearing from its client.

The protocols report requests with ``request_started``/``request_finished``
(HTTP/1.1 through the ``track_requests`` middleware, HTTP/2 per stream), and HTTP/2
reports ``progress`` when request data arrives, so a body upload keeps its
connection open while control frames alone do not.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from shardline.server.limits import ServerLimits

log = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Http2Protocol(Protocol):
    """What a guard needs of the HTTP/2 side (``http2.Http2Connection``): asyncio's
    protocol events, and a ``close`` that says GOAWAY first. Named here, structurally,
    so that this module does not import the HTTP/2 server, which imports it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None: ...
    def data_received(self, data: bytes) -> None: ...
    def eof_received(self) -> bool | None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
    def connection_lost(self, exc: Exception | None) -> None: ...
    def close(self) -> None: ...


class Connections:
    """The server's protocol factory and the registry of open connections (step 1)."""

    def __init__(
        self,
        http1: Callable[[], asyncio.Protocol],
        http2: Callable[[ConnectionGuard], Http2Protocol],
        limits: ServerLimits,
        cap: int,
    ) -> None:
        self.http1 = http1
        self.http2 = http2
        self.limits = limits
        self.cap = cap
        self.open: set[ConnectionGuard] = set()
        #: Connections closed to make room, and refused because all were busy.
        self.evicted = 0
        self.refused = 0

    def __call__(self) -> ConnectionGuard:
        return ConnectionGuard(self)

    def admit(self, guard: ConnectionGuard) -> bool:
        """Make room for ``guard`` (step 1); False when every connection is busy."""
        if len(self.open) >= self.cap:
            idle = [g for g in self.open if g.busy == 0]
            if not idle:
                self.refused += 1
                if self.refused == 1 or self.refused % 1000 == 0:
                    log.warning(
                        "%d connections refused: all %d connections are answering requests "
                        "(raise --max-connections or the open-file limit)",
                        self.refused,
                        self.cap,
                    )
                return False
            oldest = min(idle, key=lambda g: g.idle_since)
            self.evicted += 1
            oldest.close("to make room for a new connection")
        self.open.add(guard)
        return True


class ConnectionGuard(asyncio.Protocol):
    """One connection: sniffs or reads ALPN, then forwards to HTTP/1.1 or HTTP/2."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._limits = connections.limits
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._inner: asyncio.Protocol | Http2Protocol | None = None
        self._http2: Http2Protocol | None = None
        self._seen = b""
        self._timer: asyncio.TimerHandle | None = None
        #: Requests being answered, and since when none has been.
        self.busy = 0
        self.idle_since = self._loop.time()
        #: When the first byte of a request head arrived, while none was in progress.
        self._head_started: float | None = None

    # -- asyncio.Protocol, forwarded once the protocol is chosen ---------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._connections.admit(self):
            transport.abort()
            return
        ssl_object = transport.get_extra_info("ssl_object")
        if isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            alpn = ssl_object.selected_alpn_protocol()
            self._choose(http2=alpn == "h2")
        self._schedule()

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            self._sniff(data)
            return
        if self._http2 is None and self.busy == 0 and self._head_started is None:
            self._head_started = self._loop.time()
            self._schedule()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else False

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.open.discard(self)
        self._cancel_timer()
        if self._inner is not None:
            self._inner.connection_lost(exc)

    # -- step 2: the protocol --------------------------------------------------------------

    def _sniff(self, data: bytes) -> None:
        self._seen += data
        if self._head_started is None:
            self._head_started = self._loop.time()
            self._schedule()
        length = min(len(self._seen), len(PREFACE))
        if self._seen[:length] != PREFACE[:length]:
            self._choose(http2=False)
        elif length == len(PREFACE):
            self._choose(http2=True)
            self._head_started = None
            self._schedule()
        else:
            return  # a prefix of the preface so far; wait for more bytes
        assert self._inner is not None
        seen, self._seen = self._seen, b""
        self._inner.data_received(seen)

    def _choose(self, http2: bool) -> None:
        protocol: asyncio.Protocol | Http2Protocol
        if http2:
            protocol = self._http2 = self._connections.http2(self)
        else:
            protocol = self._connections.http1()
        self._inner = protocol
        assert self._transport is not None
        protocol.connection_made(self._transport)

    # -- step 3: requests and timeouts -----------------------------------------------------

    def request_started(self) -> None:
        """A request head arrived: its connection is busy until the answer is done."""
        self.busy += 1
        self._head_started = None

    def request_finished(self) -> None:
        self.busy -= 1
        if self.busy == 0:
            self.idle_since = self._loop.time()
            self._schedule()

    def progress(self) -> None:
        """Request data arrived (HTTP/2): the idle clock starts again."""
        if self.busy == 0:
            self.idle_since = self._loop.time()
            self._schedule()

    def _deadline(self) -> float | None:
        """When the connection is to be closed, as things stand (None: busy)."""
        if self.busy:
            return None
        if self._head_started is not None:
            return self._head_started + self._limits.header_timeout_s
        return self.idle_since + self._limits.idle_timeout_s

    def _schedule(self) -> None:
        """Make sure the timer fires no later than the deadline.

        A timer due earlier than needed is kept: it re-checks when it fires. So the
        common sequence (idle, head, busy, idle) re-arms at most once per request.
        """
        deadline = self._deadline()
        if deadline is None or self._transport is None or self._transport.is_closing():
            return
        if self._timer is not None:
            if self._timer.when() <= deadline:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        deadline = self._deadline()
        if deadline is None:
            return  # busy: request_finished schedules again
        if deadline > self._loop.time():
            self._timer = self._loop.call_at(deadline, self._expire)
            return
        reason = "request head incomplete" if self._head_started is not None else "idle"
        self.close(f"{reason}: timed out")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self, reason: str) -> None:
        """Close the connection (HTTP/2 says GOAWAY first)."""
        log.debug("closing connection: %s", reason)
        self._cancel_timer()
        self._connections.open.discard(self)
        if self._http2 is not None:
            self._http2.close()
        elif self._transport is not None:
            self._transport.close()


def _guard_of(request: web.Request) -> ConnectionGuard | None:
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, ConnectionGuard) else None


@web.middleware
async def track_requests(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """HTTP/1.1's side of step 3: the connection is busy while a handler runs."""
    guard = _guard_of(request)
    if guard is None:
        return await handler(request)
    guard.request_started()
    try:
        return await handler(request)
    finally:
        guard.request_finished()
