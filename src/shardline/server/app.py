"""HTTP front of a region: the Kinesis envelope, checked in AWS's order.

For every request, as numbered steps (the order decides which error a bad request
gets, so it follows AWS):

1. Only POST is an API call; anything else is a 403 with an XML body.
2. The Content-Type picks the codec (JSON 1.1 or CBOR 1.1).
3. ``X-Amz-Target`` must name a Kinesis operation (``UnknownOperationException``).
4. An injected fault, if one is set (``faults``), delays or fails the call.
5. The body is decoded (``SerializationException``); AWS reads it before the signature.
6. The request must be signed (``MissingAuthenticationTokenException``); the
   signature itself is not checked, as no credentials exist locally.
7. The input is validated against the service model (``ValidationException``).
8. The handler runs; any ``KinesisError`` it raises is rendered with its code and
   status, and anything else becomes a logged ``InternalFailure`` (500), never a
   dropped connection, so one bad request cannot disturb another.

The steps work on a transport-neutral ``ApiCall`` and answer an ``ApiReply`` or an
``OpenSubscription``, so HTTP/1.1 (aiohttp, here) and HTTP/2 (``http2``) serve the
same API with the same errors.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from shardline.errors import (
    InternalFailure,
    KinesisError,
    MissingAuthenticationTokenException,
    SerializationException,
    ServiceUnavailable,
    UnknownOperationException,
)
from shardline.server import faults, model, protocol
from shardline.server.bodies import held_body
from shardline.server.connections import track_requests
from shardline.server.faults import FaultInjector
from shardline.server.handlers import Handler, load_all
from shardline.server.limits import BodyBudget, ServerLimits
from shardline.server.subscribe import OpenSubscription, Subscription
from shardline.storage.region import Region

log = logging.getLogger(__name__)

TARGET_PREFIX = "Kinesis_20131202."
REGION_KEY = web.AppKey("region", Region)


@dataclass(frozen=True)
class ApiCall:
    """One HTTP request, as far as the Kinesis envelope cares."""

    method: str
    #: Case-insensitive, as HTTP header names are.
    headers: Mapping[str, str]
    #: Whether the query string carries a presigned-URL signature.
    presigned: bool
    body: bytes


@dataclass(frozen=True)
class ApiReply:
    """A complete answer: status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def _xml_error(status: int, code: str, message: str | None) -> ApiReply:
    inner = f"\n  <Message>{message}</Message>\n" if message else None
    body = f"<{code}>{inner}</{code}>\n" if inner else f"<{code}/>\n"
    return ApiReply(status, {"x-amzn-RequestId": str(uuid.uuid4())}, body.encode())


def _signed(call: ApiCall) -> bool:
    return "Authorization" in call.headers or call.presigned


def _error_body(error: KinesisError) -> dict[str, Any]:
    body: dict[str, Any] = {"__type": error.code}
    if error.message:
        # Coral spells the key with a capital M for serialization errors only.
        key = "Message" if isinstance(error, SerializationException) else "message"
        body[key] = error.message
    return body


class KinesisApp:
    """Dispatches Kinesis API calls to the operation handlers of one region."""

    def __init__(self, region: Region, limits: ServerLimits | None = None) -> None:
        self.region = region
        self.handlers: dict[str, Handler] = load_all()
        self.operations = model.operation_names()
        self.faults = FaultInjector()
        self.limits = limits or ServerLimits()
        #: Request bodies held across the server, HTTP/1.1 and HTTP/2 together.
        self.budget = BodyBudget(self.limits.body_budget_bytes)

    def _reply(
        self, codec: protocol.Protocol, status: int, payload: Any, request_id: str
    ) -> ApiReply:
        # An operation without output answers with an empty body, as AWS does.
        body = b"" if payload is None else protocol.encode(codec, payload)
        headers = {"Content-Type": protocol.content_type(codec), "x-amzn-RequestId": request_id}
        return ApiReply(status, headers, body)

    def _error(self, codec: protocol.Protocol, error: KinesisError, request_id: str) -> ApiReply:
        reply = self._reply(codec, error.http_status, _error_body(error), request_id)
        reply.headers["x-amzn-ErrorType"] = error.code
        return reply

    def refuse(self, headers: Mapping[str, str], error: KinesisError) -> ApiReply:
        """An error answer to a request whose body was never read (the budget is full)."""
        codec = protocol.protocol_for(headers.get("Content-Type")) or "json"
        return self._error(codec, error, str(uuid.uuid4()))

    async def answer(self, call: ApiCall) -> ApiReply | OpenSubscription:
        """Run one API call through the envelope's steps (module docstring)."""
        request_id = str(uuid.uuid4())
        if call.method != "POST":
            if _signed(call):
                return _xml_error(
                    403,
                    "AccessDeniedException",
                    "Unable to determine service/operation name to be authorized",
                )
            return _xml_error(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        target = call.headers.get("X-Amz-Target", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        known = operation in self.operations
        codec = protocol.protocol_for(call.headers.get("Content-Type"))
        body = call.body
        if codec is None:
            if body:
                if known:
                    return _xml_error(404, "UnknownOperationException", None)
                return _xml_error(
                    403,
                    "AccessDeniedException",
                    "Unable to determine service/operation name to be authorized",
                )
            error: KinesisError = SerializationException() if known else UnknownOperationException()
            return self._error("cbor", error, request_id)
        try:
            handler = self.handlers.get(operation) if known else None
            if handler is None and operation != "SubscribeToShard":
                raise UnknownOperationException()
            await self.faults.apply(operation)
            if not body:
                raise SerializationException()
            raw = protocol.decode(codec, body)
            if not isinstance(raw, dict):
                raise SerializationException()
            if not _signed(call):
                raise MissingAuthenticationTokenException("Missing Authentication Token")
            params = model.parse_input(operation, raw, codec)
            if operation == "SubscribeToShard":
                config = self.region.config
                subscription = Subscription(
                    self.region,
                    codec,
                    config.subscription_lifetime_s,
                    config.subscription_heartbeat_s,
                )
                return subscription.open(params)
            assert handler is not None
            result = await handler(self.region, params)
            return self._reply(codec, 200, result, request_id)
        except KinesisError as exc:
            return self._error(codec, exc, request_id)
        except Exception:
            log.exception("internal failure in %s", operation)
            return self._error(codec, InternalFailure(), request_id)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The HTTP/1.1 front: an aiohttp request in, its answer out."""
        try:
            async with held_body(request, self.budget, self.limits) as body:
                call = ApiCall(
                    request.method, request.headers, "X-Amz-Algorithm" in request.query, body
                )
                outcome = await self.answer(call)
        except ServiceUnavailable as exc:
            outcome = self.refuse(request.headers, exc)
        if isinstance(outcome, ApiReply):
            return web.Response(status=outcome.status, body=outcome.body, headers=outcome.headers)
        response = web.StreamResponse(headers=outcome.headers)
        await response.prepare(request)
        await outcome.serve(_ResponseChannel(request, response))
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response


class _ResponseChannel:
    """An event stream's HTTP/1.1 side: a chunked aiohttp response."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._request = request
        self._response = response

    def is_gone(self) -> bool:
        transport = self._request.transport
        return transport is None or transport.is_closing()

    async def send(self, data: bytes) -> None:
        await self._response.write(data)


KINESIS_KEY = web.AppKey("kinesis", KinesisApp)


def build_app(region: Region, limits: ServerLimits | None = None) -> web.Application:
    """The aiohttp application serving the Kinesis API for ``region``.

    The ``KinesisApp`` behind it is kept under ``KINESIS_KEY``, so that HTTP/2
    connections reach the same handlers, injected faults and body budget.
    """
    limits = limits or ServerLimits()
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[track_requests])
    app[REGION_KEY] = region
    kinesis = KinesisApp(region, limits)
    app[KINESIS_KEY] = kinesis
    app.router.add_route("*", faults.PATH, kinesis.faults.handle)
    app.router.add_route("*", "/{tail:.*}", kinesis.handle)
    return app
