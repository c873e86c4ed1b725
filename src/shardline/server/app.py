"""HTTP front of a region: the Kinesis envelope, checked in AWS's order.

For every request, as numbered steps (the order decides which error a bad request
gets, so it follows AWS):

1. Without credentials, the ``Host`` must be a loopback name or an allowed one
   (``auth.gate``, against DNS rebinding): anything else is a 403 with an XML body.
   A CORS preflight (``OPTIONS`` with ``Origin``) needs no signature; it belongs
   right after this step, before the method check.
2. Only POST is an API call; anything else is a 403 with an XML body.
3. The Content-Type picks the codec (JSON 1.1 or CBOR 1.1).
4. ``X-Amz-Target`` must name a Kinesis operation (``UnknownOperationException``).
5. An injected fault, if one is set (``faults``), delays or fails the call.
6. The body is decoded (``SerializationException``); AWS reads it before the signature.
7. The request is authenticated (``auth.gate``): unsigned is
   ``MissingAuthenticationTokenException``; with credentials the SigV4 signature is
   verified (``auth.sigv4``) and names the caller.
8. The input is validated against the service model (``ValidationException``).
9. The call is routed to the account it acts on and authorized there
   (``targets``, ``auth.access``): ``AccessDeniedException`` when refused.
10. The handler runs; any ``KinesisError`` it raises is rendered with its code and
    status, and anything else becomes a logged ``InternalFailure`` (500), never a
    dropped connection, so one bad request cannot disturb another.

The steps work on a transport-neutral ``HttpRequest`` and answer an ``ApiReply`` or
an ``OpenSubscription``, so HTTP/1.1 (aiohttp, here) and HTTP/2 (``http2``) serve the
same API with the same errors. ``/_shardline/*`` (faults) passes step 1 and then
``Gate.admit_admin`` instead of the Kinesis steps.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from shardline.errors import (
    InternalFailure,
    KinesisError,
    SerializationException,
    UnknownOperationException,
)
from shardline.server import faults, model, protocol
from shardline.server.accounts import Accounts
from shardline.server.auth.access import authorize
from shardline.server.auth.gate import Gate, admin_error_body
from shardline.server.faults import FaultInjector
from shardline.server.handlers import Handler, load_all
from shardline.server.request import HttpRequest
from shardline.server.subscribe import OpenSubscription, Subscription
from shardline.server.targets import route
from shardline.storage.region import Region

log = logging.getLogger(__name__)

TARGET_PREFIX = "Kinesis_20131202."
#: Largest request body accepted: a 10 MiB record, base64-encoded, with room to spare.
MAX_BODY_BYTES = 16 * 1024 * 1024
ADMIN_PREFIX = "/_shardline/"


@dataclass(frozen=True)
class ApiReply:
    """A complete answer: status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def _xml_error(status: int, code: str, message: str | None) -> ApiReply:
    inner = f"\n  <Message>{escape(message)}</Message>\n" if message else None
    body = f"<{code}>{inner}</{code}>\n" if inner else f"<{code}/>\n"
    return ApiReply(status, {"x-amzn-RequestId": str(uuid.uuid4())}, body.encode())


def _error_body(error: KinesisError) -> dict[str, Any]:
    body: dict[str, Any] = {"__type": error.code}
    if error.message:
        # Coral spells the key with a capital M for serialization errors only.
        key = "Message" if isinstance(error, SerializationException) else "message"
        body[key] = error.message
    return body


class KinesisApp:
    """Dispatches Kinesis API calls to the operation handlers of each account's region."""

    def __init__(self, accounts: Accounts, gate: Gate) -> None:
        self.accounts = accounts
        self.gate = gate
        self.handlers: dict[str, Handler] = load_all()
        self.operations = model.operation_names()
        self.faults = FaultInjector()

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

    def _refusal(self, call: HttpRequest) -> ApiReply | None:
        """Steps 1-2: a wrong Host, or a method other than POST."""
        refused_host = self.gate.host_refusal(call)
        if refused_host is not None:
            return _xml_error(403, "AccessDeniedException", refused_host)
        if call.method == "POST":
            return None
        if call.signed:
            return _xml_error(
                403,
                "AccessDeniedException",
                "Unable to determine service/operation name to be authorized",
            )
        return _xml_error(
            403, "MissingAuthenticationTokenException", "Missing Authentication Token"
        )

    async def answer(self, call: HttpRequest) -> ApiReply | OpenSubscription:
        """Run one API call through the envelope's steps (module docstring)."""
        refusal = self._refusal(call)
        if refusal is not None:
            return refusal
        target = call.headers.get("X-Amz-Target", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        known = operation in self.operations
        codec = protocol.protocol_for(call.headers.get("Content-Type"))
        if codec is None:
            if call.body:
                if known:
                    return _xml_error(404, "UnknownOperationException", None)
                return _xml_error(
                    403,
                    "AccessDeniedException",
                    "Unable to determine service/operation name to be authorized",
                )
            error: KinesisError = SerializationException() if known else UnknownOperationException()
            return self._error("cbor", error, str(uuid.uuid4()))
        return await self._call(call, operation if known else "", codec)

    async def _call(
        self, call: HttpRequest, operation: str, codec: protocol.Protocol
    ) -> ApiReply | OpenSubscription:
        """Steps 4-10 for a request whose codec is known."""
        request_id = str(uuid.uuid4())
        try:
            handler = self.handlers.get(operation)
            if handler is None and operation != "SubscribeToShard":
                raise UnknownOperationException()
            await self.faults.apply(operation)
            if not call.body:
                raise SerializationException()
            raw = protocol.decode(codec, call.body)
            if not isinstance(raw, dict):
                raise SerializationException()
            caller = self.gate.authenticate(call)
            params = model.parse_input(operation, raw, codec)
            routed = route(self.accounts, caller, operation, params)
            authorize(caller, f"kinesis:{operation}", routed.target)
            if handler is None:
                return self._subscribe(routed.region, codec, params)
            result = await handler(routed.region, params)
            return self._reply(codec, 200, result, request_id)
        except KinesisError as exc:
            return self._error(codec, exc, request_id)
        except Exception:
            log.exception("internal failure in %s", operation)
            return self._error(codec, InternalFailure(), request_id)

    def _subscribe(
        self, region: Region, codec: protocol.Protocol, params: dict[str, Any]
    ) -> OpenSubscription:
        config = region.config
        subscription = Subscription(
            region, codec, config.subscription_lifetime_s, config.subscription_heartbeat_s
        )
        return subscription.open(params)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The HTTP/1.1 front: an aiohttp request in, its answer out."""
        call = HttpRequest(request.method, request.raw_path, request.headers, await request.read())
        outcome = await self.answer(call)
        if isinstance(outcome, ApiReply):
            return web.Response(status=outcome.status, body=outcome.body, headers=outcome.headers)
        response = web.StreamResponse(headers=outcome.headers)
        await response.prepare(request)
        await outcome.serve(_ResponseChannel(request, response))
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def handle_admin(self, request: web.Request) -> web.StreamResponse:
        """``/_shardline/*``: the Host check, then only admins (``Gate.admit_admin``)."""
        call = HttpRequest(request.method, request.raw_path, request.headers, await request.read())
        refused_host = self.gate.host_refusal(call)
        if refused_host is not None:
            return web.json_response(
                {"error": refused_host, "code": "AccessDeniedException"}, status=403
            )
        try:
            self.gate.admit_admin(call, request.remote)
        except KinesisError as exc:
            return web.json_response(admin_error_body(exc), status=403)
        if request.path == faults.PATH:
            return await self.faults.handle(request)
        return web.json_response({"error": f"no admin endpoint at {request.path}"}, status=404)


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


def build_app(accounts: Accounts, gate: Gate) -> web.Application:
    """The aiohttp application serving the Kinesis API for every account in ``accounts``.

    The ``KinesisApp`` behind it is kept under ``KINESIS_KEY``, so that HTTP/2
    connections reach the same handlers and the same injected faults.
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    kinesis = KinesisApp(accounts, gate)
    app[KINESIS_KEY] = kinesis
    app.router.add_route("*", ADMIN_PREFIX + "{tail:.*}", kinesis.handle_admin)
    app.router.add_route("*", "/{tail:.*}", kinesis.handle)
    return app
