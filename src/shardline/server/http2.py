"""HTTP/2 for the region, on the same port as HTTP/1.1.

Why: AWS's JavaScript SDK v3 sends every Kinesis call over HTTP/2, and the Java SDK
v2 (under KCL 2.x/3.x) sends SubscribeToShard over HTTP/2. Against a plain
``http://`` endpoint both speak HTTP/2 with "prior knowledge" (RFC 9113 §3.3): the
connection opens with the HTTP/2 preface instead of an HTTP/1.1 request line. A
server that answers only HTTP/1.1 fails those clients outright, as kinesalite does.

How, as numbered steps:

1. ``connections.ConnectionGuard`` gives a connection to HTTP/2 when TLS's ALPN
   chose ``h2`` or, in plain text, when it opens with the HTTP/2 preface.
2. ``Http2Connection`` runs the ``h2`` state machine. Each request stream collects its
   headers and body, then becomes one ``HttpRequest`` for ``KinesisApp.answer`` — the
   same envelope, handlers and errors as HTTP/1.1.
3. A reply is sent as HEADERS + DATA within the peer's flow-control windows. A
   SubscribeToShard streams its events as DATA frames on its stream until it ends;
   a stream reset or a lost connection ends only that subscription.

Limits, so one connection cannot take the server's memory (issue 13): at most
``MAX_CONCURRENT_STREAMS`` streams at once (RFC 9113 recommends no fewer than 100);
a frame longer than the agreed maximum, or a header block over
``MAX_HEADER_BLOCK`` bytes, ends the connection *before* it is buffered (h2 itself
buffers a whole frame, up to 16 MiB, before checking its length); each DATA frame
is reserved from the server-wide body budget, and a stream beyond it is answered
503 ``ServiceUnavailable``, beyond its size limit 413, its data dropped as it arrives.

The admin endpoint (``faults``) stays HTTP/1.1: it is for our own tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import FrameTooLargeError, H2Error, ProtocolError
from h2.frame_buffer import FrameBuffer
from h2.settings import SettingCodes
from hyperframe.frame import Frame, GoAwayFrame
from multidict import CIMultiDict, CIMultiDictProxy

from shardline.server.app import ApiReply, KinesisApp
from shardline.server.connections import ConnectionGuard
from shardline.server.request import HttpRequest

log = logging.getLogger(__name__)

#: Per-stream receive window: a 5 MiB PutRecords arrives in a few round trips.
STREAM_WINDOW = 1024 * 1024
#: Connection receive window, shared by the streams: four streams' worth, so a few
#: large uploads proceed at once while one connection never has more than this in
#: flight towards the server.
CONNECTION_WINDOW = 4 * STREAM_WINDOW
MAX_CONCURRENT_STREAMS = 100
#: Largest header block (HEADERS + CONTINUATION frames) accepted before decoding;
#: a signed Kinesis request's headers take about 1 KiB.
MAX_HEADER_BLOCK = 64 * 1024
_FRAME_HEADER = 9


class Http2Server:
    """Creates ``Http2Connection``s and closes the open ones on shutdown."""

    def __init__(self, app: KinesisApp) -> None:
        self.app = app
        #: The open connections (their count is a metric).
        self.connections: set[Http2Connection] = set()

    def __call__(self, guard: ConnectionGuard) -> Http2Connection:
        return Http2Connection(self.app, self.connections, guard)

    def close(self) -> None:
        """Say GOAWAY on every open connection and close it."""
        for connection in list(self.connections):
            connection.close()


class _Request:
    """One request stream being received, and the body bytes it holds of the budget."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.pseudo = {name: value for name, value in headers if name.startswith(":")}
        self.headers = CIMultiDict((n, v) for n, v in headers if not n.startswith(":"))
        # RFC 9113 §8.3.1: ``:authority`` stands for Host. SigV4 clients sign it as
        # ``host`` (botocore) or as ``:authority`` itself (the JS SDK v3), so keep both.
        authority = self.pseudo.get(":authority")
        if authority is not None:
            self.headers[":authority"] = authority
            if "Host" not in self.headers:
                self.headers["Host"] = authority
        self.body = bytearray()
        self.held = 0
        #: The answer already decided (413, 503): the rest of the body is dropped.
        self.refusal: ApiReply | None = None

    def call(self) -> HttpRequest:
        body, self.body = bytes(self.body), bytearray()  # moved, still reserved
        return HttpRequest(
            self.pseudo.get(":method", ""),
            self.pseudo.get(":path", "/"),
            CIMultiDictProxy(self.headers),
            body,
        )


class _CheckedFrameBuffer(FrameBuffer):
    """h2's frame buffer, but a frame's length is checked as soon as its header is in.

    Why: h2 waits for a whole frame before comparing its declared length with the
    maximum, so a peer declaring a 16 MiB frame made the server buffer 16 MiB.
    A header block split over CONTINUATION frames is also held to
    ``MAX_HEADER_BLOCK`` bytes (h2 allows 64 frames of up to 16 KiB each).
    Error handling: raises ``FrameTooLargeError``, which h2 turns into a GOAWAY
    (FRAME_SIZE_ERROR) before the connection closes.
    """

    def __next__(self) -> Frame:
        if len(self._data) >= _FRAME_HEADER:
            self._validate_frame_length(int.from_bytes(self._data[:3], "big"))
        held = sum(len(frame.data) for frame in self._headers_buffer)
        if held > MAX_HEADER_BLOCK:
            raise FrameTooLargeError(f"header block over {MAX_HEADER_BLOCK} bytes")
        return super().__next__()


class _GracefulH2Connection(H2Connection):
    """h2's state machine, but a graceful GOAWAY from the peer keeps the connection open.

    Why: h2 treats any received GOAWAY as the connection's end and drops what is left
    to send (python-hyper/h2#1181), while RFC 9113 §6.8 lets the streams the peer
    already opened complete. The JS SDK says GOAWAY (NO_ERROR) as soon as a response
    starts, so without this a reply larger than one flow-control window, or any
    SubscribeToShard event after the first, would be cut off.
    """

    def __init__(self, config: H2Configuration) -> None:
        super().__init__(config)
        self.incoming_buffer = _CheckedFrameBuffer(server=not config.client_side)

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[Event]]:
        if frame.error_code != ErrorCodes.NO_ERROR:
            return super()._receive_goaway_frame(frame)
        event = ConnectionTerminated()
        event.error_code = ErrorCodes.NO_ERROR
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class Http2Connection(asyncio.Protocol):
    """One HTTP/2 connection: the ``h2`` state machine plus a task per request (steps 2-3)."""

    def __init__(
        self, app: KinesisApp, registry: set[Http2Connection], guard: ConnectionGuard
    ) -> None:
        self._app = app
        self._registry = registry
        self._guard = guard
        self._h2 = _GracefulH2Connection(
            H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self._transport: asyncio.Transport | None = None
        self._requests: dict[int, _Request] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        #: Streams the peer reset or that ended: their senders stop.
        self._gone: set[int] = set()
        #: Set whenever a flow-control window may have opened or a stream ended.
        self._window_changed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        #: The peer said GOAWAY: close once the streams it opened are answered.
        self._peer_done = False

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._registry.add(self)
        self._h2.initiate_connection()
        self._h2.update_settings(
            {
                SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
            }
        )
        self._h2.increment_flow_control_window(CONNECTION_WINDOW - 65_535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except ProtocolError:
            log.debug("HTTP/2 protocol error; closing the connection", exc_info=True)
            self._flush()
            self._close_transport()
            return
        for event in events:
            self._on_event(event)
        self._flush()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        # Calls in progress run to their end, as on HTTP/1.1 (a put may already be
        # committing); their sends then fail, and a subscription stops at its next check.
        self._registry.discard(self)
        for request in self._requests.values():
            self._release(request)
        self._requests.clear()
        self._gone.update(self._tasks)
        self._writable.set()
        self._window_changed.set()

    # -- receiving ----------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            assert event.stream_id is not None and event.headers is not None
            headers = [(str(n), str(v)) for n, v in event.headers]
            self._requests[event.stream_id] = _Request(headers)
            self._guard.progress()
        elif isinstance(event, DataReceived):
            assert event.stream_id is not None and event.data is not None
            self._receive_body(event.stream_id, event.data, event.flow_controlled_length or 0)
        elif isinstance(event, StreamEnded):
            assert event.stream_id is not None
            self._start(event.stream_id)
        elif isinstance(event, StreamReset):
            assert event.stream_id is not None
            dropped = self._requests.pop(event.stream_id, None)
            if dropped is not None:
                self._release(dropped)
            if event.stream_id in self._tasks:
                self._gone.add(event.stream_id)
                self._window_changed.set()
        elif isinstance(event, WindowUpdated | RemoteSettingsChanged):
            self._window_changed.set()
        elif isinstance(event, ConnectionTerminated):
            # A graceful GOAWAY (the JS SDK sends one once it has sent its request)
            # still lets the streams it opened finish; an error GOAWAY ends them.
            self._peer_done = True
            if event.error_code != ErrorCodes.NO_ERROR or not self._tasks:
                self._close_transport()

    def _receive_body(self, stream_id: int, data: bytes, flow_controlled: int) -> None:
        request = self._requests.get(stream_id)
        if request is not None:
            self._guard.progress()
            if request.refusal is None:
                self._hold(request, data)
        # Give the window back at once: the budget and the size limit, not the
        # window, bound what a body holds.
        with contextlib.suppress(H2Error):
            self._h2.acknowledge_received_data(flow_controlled, stream_id)

    def _hold(self, request: _Request, data: bytes) -> None:
        """Keep ``data`` of a body within the size limit and the server's budget."""
        limits, budget = self._app.limits, self._app.budget
        if len(request.body) + len(data) > limits.max_body_bytes:
            request.refusal = self._app.too_large(request.headers)
        elif budget.reserve(len(data)):
            request.held += len(data)
            request.body += data
            return
        else:
            request.refusal = self._app.refuse(request.headers, budget.refusal())
        self._release(request)

    def _release(self, request: _Request) -> None:
        self._app.budget.release(request.held)
        request.held = 0
        request.body = bytearray()

    def _start(self, stream_id: int) -> None:
        request = self._requests.pop(stream_id, None)
        if request is None:
            return
        self._guard.request_started()
        task = asyncio.get_running_loop().create_task(self._respond(stream_id, request))
        self._tasks[stream_id] = task
        task.add_done_callback(lambda _: self._finished(stream_id))

    def _finished(self, stream_id: int) -> None:
        self._tasks.pop(stream_id, None)
        self._guard.request_finished()
        if self._peer_done and not self._tasks:
            self._close_transport()

    # -- answering ----------------------------------------------------------------

    async def _respond(self, stream_id: int, request: _Request) -> None:
        try:
            if request.refusal is not None:
                await self._reply(stream_id, request.refusal)
                return
            outcome = await self._app.answer(request.call())
            if isinstance(outcome, ApiReply):
                await self._reply(stream_id, outcome)
                return
            self._send_headers(stream_id, 200, outcome.headers)
            await outcome.serve(_StreamChannel(self, stream_id))
            self._end_stream(stream_id)
        except ConnectionError:
            pass  # the peer reset the stream or went away
        except Exception:
            log.exception("HTTP/2 stream %d failed", stream_id)
            self._reset(stream_id, ErrorCodes.INTERNAL_ERROR)
        finally:
            self._release(request)
            self._gone.discard(stream_id)

    async def _reply(self, stream_id: int, reply: ApiReply) -> None:
        self._send_headers(stream_id, reply.status, reply.headers, len(reply.body))
        await self.send_data(stream_id, reply.body)
        self._end_stream(stream_id)

    def _send_headers(
        self, stream_id: int, status: int, headers: dict[str, str], length: int | None = None
    ) -> None:
        block = [(":status", str(status))]
        block += [(name.lower(), value) for name, value in headers.items()]
        if length is not None:
            block.append(("content-length", str(length)))
        try:
            self._h2.send_headers(stream_id, block)
        except H2Error as exc:
            raise ConnectionError(f"stream {stream_id} closed") from exc
        self._flush()

    async def send_data(self, stream_id: int, data: bytes) -> None:
        """Send ``data`` on a stream within the flow-control windows, in frames."""
        view = memoryview(data)
        while view:
            if self.stream_gone(stream_id):
                raise ConnectionError(f"stream {stream_id} closed")
            await self._writable.wait()
            try:
                window = min(
                    self._h2.local_flow_control_window(stream_id),
                    self._h2.max_outbound_frame_size,
                )
                if window <= 0:
                    self._window_changed.clear()
                    await self._window_changed.wait()
                    continue
                self._h2.send_data(stream_id, view[:window].tobytes())
            except H2Error as exc:
                raise ConnectionError(f"stream {stream_id} closed") from exc
            view = view[window:]
            self._flush()

    def _end_stream(self, stream_id: int) -> None:
        with contextlib.suppress(H2Error):
            self._h2.end_stream(stream_id)
            self._flush()

    def _reset(self, stream_id: int, code: ErrorCodes) -> None:
        with contextlib.suppress(H2Error):
            self._h2.reset_stream(stream_id, code)
            self._flush()

    def stream_gone(self, stream_id: int) -> bool:
        """Whether the peer reset ``stream_id`` or the connection is closed."""
        transport = self._transport
        closing = transport is None or transport.is_closing()
        return closing or stream_id in self._gone

    # -- plumbing -----------------------------------------------------------------

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """GOAWAY, then close: the server is shutting down."""
        with contextlib.suppress(H2Error):
            self._h2.close_connection()
            self._flush()
        self._close_transport()

    def _close_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _StreamChannel:
    """A subscription's events as DATA frames on one HTTP/2 stream."""

    def __init__(self, connection: Http2Connection, stream_id: int) -> None:
        self._connection = connection
        self._stream_id = stream_id

    def is_gone(self) -> bool:
        return self._connection.stream_gone(self._stream_id)

    async def send(self, data: bytes) -> None:
        await self._connection.send_data(self._stream_id, data)
