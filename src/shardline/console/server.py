"""The console's web server: the page, its live feed, the stream browser and actions.

Routes:

- ``GET /`` the page; ``GET /static/…`` its script, styles and the vendored
  charting library (uPlot), shipped in the package so the console works offline;
- ``GET /api/snapshot``: one feed document (:mod:`shardline.console.feed`);
- ``GET /api/events``: Server-Sent Events, a feed document every ``UPDATE_S``;
- ``GET /api/streams?region=R``: the region's streams, shards and lineage;
- ``GET /api/tail?region=R&stream=S``: Server-Sent Events, one per record put;
- ``POST /api/actions/failover`` ``{"to_region": R?}``, ``/failback`` ``{}`` and
  ``/fault`` ``{"region": R, "fault": {...} | null}`` (:mod:`shardline.console.actions`);
- ``GET /metrics``: the given collectors (``shardline up`` serves its processes' restarts).

Safety: the console listens on 127.0.0.1 unless told otherwise. A request must name
this server in its Host header (a DNS-rebinding page cannot), and an action must be
a JSON POST whose Origin, when sent, is this server (a form on another site cannot
send JSON without a CORS preflight, which is never granted).

Resource handling: leaving :func:`serving_console` ends every open event stream,
stops a failback still running (``shardline failback`` resumes it) and closes the
server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client.registry import Collector

from shardline.console import browser
from shardline.console.actions import Actions
from shardline.console.feed import FeedSources, snapshot
from shardline.console.processes import ProcessSource
from shardline.metrics.http import metrics_route, serving_app
from shardline.stores.control import ControlStore
from shardline.topology import Topology, TopologyError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
#: How often the page gets a new feed document.
UPDATE_S = 1.0
_SOURCES = web.AppKey("sources", FeedSources)
_CLOSING = web.AppKey("closing", asyncio.Event)
_HOSTS = web.AppKey("hosts", set)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse requests for another host name, and cross-origin or non-JSON actions."""
    if (request.host.rsplit(":", 1)[0].strip("[]")) not in request.app[_HOSTS]:
        return web.Response(status=403, text="open the console at the URL it printed\n")
    if request.method == "POST":
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return web.json_response({"ok": False, "message": "cross-origin action"}, status=403)
        if request.content_type != "application/json":
            return web.json_response({"ok": False, "message": "send JSON"}, status=415)
    return await handler(request)


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})


async def _snapshot(request: web.Request) -> web.Response:
    return web.json_response(await snapshot(request.app[_SOURCES]), dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


async def _open_events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    return response


async def _events(request: web.Request) -> web.StreamResponse:
    """The live feed: a document every UPDATE_S until the page or the console closes."""
    response = await _open_events(request)
    closing = request.app[_CLOSING]
    with contextlib.suppress(ConnectionError):
        while not closing.is_set():
            document = await snapshot(request.app[_SOURCES])
            await response.write(f"data: {_dumps(document)}\n\n".encode())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), UPDATE_S)
    return response


def _region(request: web.Request) -> Any:
    try:
        return request.app[_SOURCES].topology.region(request.query.get("region", ""))
    except TopologyError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc


async def _streams(request: web.Request) -> web.Response:
    region = _region(request)
    try:
        return web.json_response(await browser.describe_region(region))
    except Exception as exc:  # an unreachable region is shown, not fatal
        return web.json_response({"region": region.name, "error": str(exc), "streams": []})


async def _pump(records: AsyncGenerator[dict[str, Any], None], queue: asyncio.Queue[Any]) -> None:
    try:
        async for record in records:
            await queue.put(record)
    finally:
        await records.aclose()


async def _tail(request: web.Request) -> web.StreamResponse:
    """Records of a stream as they are put, as events, until the page closes it."""
    region, stream = _region(request), request.query.get("stream", "")
    response = await _open_events(request)
    closing = request.app[_CLOSING]
    queue: asyncio.Queue[Any] = asyncio.Queue(1000)
    pump = asyncio.create_task(_pump(browser.tail(region, stream), queue))
    try:
        await response.write(b": tailing\n\n")
        while not closing.is_set() and not (pump.done() and queue.empty()):
            try:
                record = await asyncio.wait_for(queue.get(), 1.0)
            except TimeoutError:
                await response.write(b": idle\n\n")  # also finds a page that went away
                continue
            await response.write(f"data: {_dumps(record)}\n\n".encode())
        if pump.done() and not pump.cancelled() and pump.exception() is not None:
            failure = f"tail of {stream} in {region.name} ended: {pump.exception()}"
            await response.write(f"event: failure\ndata: {_dumps(failure)}\n\n".encode())
    except ConnectionError:
        pass
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
    return response


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


async def _action(request: web.Request) -> web.Response:
    """Run one confirmed action (module docstring) and answer its result."""
    actions = request.app[_SOURCES].actions
    body = await _body(request)
    name = request.match_info["name"]
    if name == "failover":
        result = await actions.failover(body.get("to_region"))
    elif name == "failback":
        result = actions.start_failback()
    elif name == "fault":
        fault = body.get("fault")
        if fault is not None and not isinstance(fault, dict):
            raise web.HTTPBadRequest(text="fault must be an object or null")
        result = await actions.set_fault(str(body.get("region", "")), fault)
    else:
        raise web.HTTPNotFound(text=f"no action {name!r}")
    return web.json_response(
        {"ok": result.ok, "message": result.message}, status=200 if result.ok else 409
    )


def build_console(
    sources: FeedSources, hosts: set[str], collectors: Sequence[Collector] = ()
) -> web.Application:
    """The console's aiohttp application (routes in the module docstring)."""
    app = web.Application(middlewares=[_same_origin])
    app[_SOURCES] = sources
    app[_CLOSING] = asyncio.Event()
    app[_HOSTS] = hosts
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_get("/api/snapshot", _snapshot)
    app.router.add_get("/api/events", _events)
    app.router.add_get("/api/streams", _streams)
    app.router.add_get("/api/tail", _tail)
    app.router.add_post("/api/actions/{name}", _action)
    if collectors:
        metrics_route(app, collectors)
    return app


@contextlib.asynccontextmanager
async def serving_console(
    topology: Topology,
    store: ControlStore,
    processes: ProcessSource,
    host: str = "127.0.0.1",
    port: int | None = None,
    collectors: Sequence[Collector] = (),
) -> AsyncIterator[str]:
    """Serve the console of ``topology`` on ``host:port`` (None or 0: a free port)
    while the block runs; yields its URL. ``processes`` feeds the Processes panel."""
    actions = Actions(topology, store)
    sources = FeedSources(topology, store, processes, actions)
    hosts = {host, "127.0.0.1", "localhost", "::1"}
    async with contextlib.AsyncExitStack() as stack:
        app = build_console(sources, hosts, collectors)
        try:
            bound = await stack.enter_async_context(serving_app(app, host, port or 0))
        except OSError as exc:
            if not port:
                raise
            log.warning("console port %s is taken (%s): serving on a free port", port, exc)
            app = build_console(sources, hosts, collectors)
            bound = await stack.enter_async_context(serving_app(app, host, 0))
        try:
            yield f"http://{host}:{bound}/"
        finally:
            # Open event streams end first, so closing the server does not wait on them.
            app[_CLOSING].set()
            await actions.close()
