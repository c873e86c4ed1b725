"""HTTP front of a region: the Kinesis envelope, checked in AWS's order.

For every request, as numbered steps (the order decides which error a bad request
gets, so it follows AWS):

0. Without credentials, the ``Host`` must be a loopback name or an allowed one
   (``auth.gate``, against DNS rebinding): anything else is a 403 with an XML body.
1. A CORS preflight (``OPTIONS`` with ``Origin``) is answered at once (``cors``):
   browsers never sign a preflight, so it comes before any authentication.
2. Only POST is an API call; anything else is a 403 with an XML body.
3. The Content-Type picks the codec (JSON 1.1 or CBOR 1.1). ``application/json`` is
   answered in Coral's older JSON RPC envelope, as AWS answers it.
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

Every answer, success or error, carries ``x-amzn-RequestId`` and ``x-amz-id-2`` (a
preflight only the first, as on AWS), plus the CORS headers when the request came
from a browser.

The steps work on a transport-neutral ``HttpRequest`` and answer an ``ApiReply`` or
an ``OpenSubscription``, so HTTP/1.1 (aiohttp, here) and HTTP/2 (``http2``) serve the
same API with the same errors. ``/_shardline/*`` (faults) passes step 0 and then
``Gate.admit_admin`` instead of the Kinesis steps.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import orjson
from aiohttp import hdrs, web

from shardline.errors import (
    InternalFailure,
    KinesisError,
    SerializationException,
    ServiceUnavailable,
    UnknownOperationException,
)
from shardline.server import cors, faults, model, protocol
from shardline.server.accounts import Accounts
from shardline.server.auth.access import authorize
from shardline.server.auth.gate import Gate, admin_error_body
from shardline.server.bodies import held_body
from shardline.server.connections import track_requests
from shardline.server.faults import FaultInjector
from shardline.server.handlers import load_all
from shardline.server.handlers.registry import Handler
from shardline.server.limits import BodyBudget, ServerLimits
from shardline.server.metrics import PATH as METRICS_PATH
from shardline.server.metrics import RegionCollector, metrics_handler, metrics_registry
from shardline.server.request import HttpRequest
from shardline.server.subscribe import OpenSubscription, Subscription
from shardline.server.targets import route
from shardline.storage.region import Region

log = logging.getLogger(__name__)

TARGET_PREFIX = "Kinesis_20131202."
ADMIN_PREFIX = "/_shardline/"
Handler_ = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Served by AWS under an older envelope, never as the Kinesis API (step 2).
LEGACY_JSON_TYPE = "application/json"
#: Random bytes behind an ``x-amz-id-2`` (AWS's decode to 72-80 bytes).
EXTENDED_ID_BYTES = 72


@dataclass(frozen=True)
class ApiReply:
    """A complete answer: status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def _xml_error(status: int, code: str, message: str | None) -> ApiReply:
    """AWS's XML error body; it comes without a Content-Type, as AWS sends it."""
    inner = f"\n  <Message>{escape(message)}</Message>\n" if message else None
    body = f"<{code}>{inner}</{code}>\n" if inner else f"<{code}/>\n"
    return ApiReply(status, {}, body.encode())


def _not_an_api_call(call: HttpRequest) -> ApiReply:
    """Step 2: a method other than POST."""
    if call.signed:
        return _xml_error(
            403,
            "AccessDeniedException",
            "Unable to determine service/operation name to be authorized",
        )
    return _xml_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")


def _legacy_json_envelope(body: bytes) -> ApiReply:
    """Step 3 for ``Content-Type: application/json``: Coral's JSON 1.0 RPC envelope.

    AWS does not serve Kinesis under that content type. It answers 404 in the envelope
    of its older JSON RPC protocol: ``SerializationException`` when the body is not a
    JSON object or array, ``UnknownOperationException`` otherwise, even for a real
    operation with a well-formed body.
    """
    code = "UnknownOperationException"
    if body:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict | list):
            code = "SerializationException"
    payload = {"Output": {"__type": f"com.amazon.coral.service#{code}"}, "Version": "1.0"}
    return ApiReply(404, {"Content-Type": LEGACY_JSON_TYPE}, orjson.dumps(payload))


class KinesisApp:
    """Dispatches Kinesis API calls to the operation handlers of each account's region."""

    def __init__(self, accounts: Accounts, gate: Gate, limits: ServerLimits | None = None) -> None:
        self.accounts = accounts
        self.gate = gate
        self.handlers: dict[str, Handler] = load_all()
        self.operations = model.operation_names()
        self.faults = FaultInjector()
        self.limits = limits or ServerLimits()
        #: Request bodies held across the server, HTTP/1.1 and HTTP/2 together.
        self.budget = BodyBudget(self.limits.body_budget_bytes)

    def _reply(self, codec: protocol.Protocol, status: int, payload: Any) -> ApiReply:
        # An operation without output answers with an empty body, as AWS does.
        body = b"" if payload is None else protocol.encode(codec, payload)
        return ApiReply(status, {"Content-Type": protocol.content_type(codec)}, body)

    def _error(self, codec: protocol.Protocol, error: KinesisError) -> ApiReply:
        reply = self._reply(codec, error.http_status, error.to_wire())
        reply.headers["x-amzn-ErrorType"] = error.code
        return reply

    def refuse(self, headers: Mapping[str, str], error: KinesisError) -> ApiReply:
        """An error answer to a request whose body was never read (the budget is full)."""
        codec = protocol.protocol_for(headers.get("Content-Type")) or "json"
        reply = self._error(codec, error)
        self.stamp(reply.headers, headers)
        return reply

    async def answer(self, call: HttpRequest) -> ApiReply | OpenSubscription:
        """Run one API call through the envelope's steps (module docstring)."""
        refused_host = self.gate.host_refusal(call)
        if refused_host is not None:
            return _xml_error(403, "AccessDeniedException", refused_host)
        if cors.is_preflight(call.method, call.headers):
            return self._preflight(call.headers)
        outcome = await self._dispatch(call)
        self.stamp(outcome.headers, call.headers)
        return outcome

    def _preflight(self, headers: Mapping[str, str]) -> ApiReply:
        origin = headers["Origin"]
        if not self.gate.origin_allowed(origin):
            return _xml_error(
                403,
                "AccessDeniedException",
                f"Origin {origin!r} may not call this server: without --credentials only "
                "pages from loopback origins may; add others with --allow-origin ORIGIN.",
            )
        return ApiReply(
            200, {"x-amzn-RequestId": str(uuid.uuid4()), **cors.preflight_headers(headers)}, b""
        )

    def stamp(self, reply_headers: dict[str, str], call_headers: Mapping[str, str]) -> None:
        """Ids on every answer, and CORS headers for an allowed cross-origin caller."""
        reply_headers["x-amzn-RequestId"] = str(uuid.uuid4())
        extended = base64.b64encode(os.urandom(EXTENDED_ID_BYTES)).decode("ascii")
        reply_headers["x-amz-id-2"] = extended
        origin = call_headers.get("Origin")
        if origin is not None and self.gate.origin_allowed(origin):
            reply_headers.update(cors.response_headers(call_headers))

    def too_large(self, call_headers: Mapping[str, str]) -> ApiReply:
        """A body over ``ServerLimits.max_body_bytes``: 413 and no body, as AWS answers."""
        reply = ApiReply(413, {}, b"")
        self.stamp(reply.headers, call_headers)
        return reply

    async def _dispatch(self, call: HttpRequest) -> ApiReply | OpenSubscription:
        """Steps 2-4: the method, the Content-Type and the target."""
        if call.method != "POST":
            return _not_an_api_call(call)
        content_type = call.headers.get("Content-Type")
        if protocol.media_type(content_type) == LEGACY_JSON_TYPE:
            return _legacy_json_envelope(call.body)
        target = call.headers.get("X-Amz-Target", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        known = operation in self.operations
        codec = protocol.protocol_for(content_type)
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
            return self._error("cbor", error)
        try:
            return await self._call(call, operation if known else "", codec)
        except KinesisError as exc:
            return self._error(codec, exc)
        except Exception:
            log.exception("internal failure in %s", operation)
            return self._error(codec, InternalFailure())

    async def _call(
        self, call: HttpRequest, operation: str, codec: protocol.Protocol
    ) -> ApiReply | OpenSubscription:
        """Steps 4-10 for a request in a codec Kinesis speaks; errors raise."""
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
        return self._reply(codec, 200, result)

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
        try:
            async with held_body(request, self.budget, self.limits) as body:
                call = HttpRequest(request.method, request.raw_path, request.headers, body)
                outcome: ApiReply | OpenSubscription = await self.answer(call)
        except web.HTTPRequestEntityTooLarge:
            outcome = self.too_large(request.headers)
        except ServiceUnavailable as exc:
            outcome = self.refuse(request.headers, exc)
        if isinstance(outcome, ApiReply):
            kind = web.Response if "Content-Type" in outcome.headers else _BareResponse
            return kind(status=outcome.status, body=outcome.body, headers=outcome.headers)
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


def _host_checked(gate: Gate, handler: Handler_) -> Handler_:
    """``handler`` behind the Host check (step 0), for endpoints outside the envelope."""

    async def checked(request: web.Request) -> web.StreamResponse:
        call = HttpRequest(request.method, request.raw_path, request.headers, b"")
        refused_host = gate.host_refusal(call)
        if refused_host is not None:
            return web.Response(status=403, text=refused_host + "\n")
        return await handler(request)

    return checked


class _BareResponse(web.Response):
    """A response sent without a Content-Type, as AWS sends its XML errors.

    aiohttp gives any body ``application/octet-stream``; ``_drop_default_content_type``
    takes it off again just before the headers are written.
    """


async def _drop_default_content_type(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, _BareResponse):
        response.headers.popall(hdrs.CONTENT_TYPE, None)


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
COLLECTOR_KEY = web.AppKey("metrics", RegionCollector)


def build_app(
    accounts: Accounts, gate: Gate, limits: ServerLimits | None = None
) -> web.Application:
    """The aiohttp application serving the Kinesis API for every account in ``accounts``.

    The ``KinesisApp`` behind it is kept under ``KINESIS_KEY``, so that HTTP/2
    connections reach the same handlers, injected faults and body budget; the metrics
    collector under ``COLLECTOR_KEY``, so the runner can tell it about connections.
    The metrics are those of the home account (``Accounts.home``).
    """
    limits = limits or ServerLimits()
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[track_requests])
    kinesis = KinesisApp(accounts, gate, limits)
    app[KINESIS_KEY] = kinesis
    collector = RegionCollector(accounts.home, lambda: kinesis.budget.held)
    app[COLLECTOR_KEY] = collector
    app.on_response_prepare.append(_drop_default_content_type)
    app.router.add_route("*", ADMIN_PREFIX + "{tail:.*}", kinesis.handle_admin)
    metrics = metrics_handler(metrics_registry(collector))
    app.router.add_route("*", METRICS_PATH, _host_checked(gate, metrics))
    app.router.add_route("*", "/{tail:.*}", kinesis.handle)
    return app
