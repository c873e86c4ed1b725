"""Serve a component's Prometheus metrics over HTTP, on its own event loop.

Every long-running toolkit component (``replicate``, ``monitor``, the ticker
producer and consumers, ``up``) serves ``GET /metrics`` on the port the topology
file gives it (``[metrics]``). The page holds prometheus-client's default registry
(the KPL- and KCL-named families producers and consumers already count, plus the
process's CPU and memory) and the component's own collectors, which read its state
when scraped, so nothing is counted twice and nothing runs between scrapes.

Why on the event loop and not prometheus-client's own server thread: collectors read
dictionaries the event loop changes; reading them on the loop's thread never sees
one half-changed.

Who may scrape: whoever can reach ``host:port``. The default host is 127.0.0.1
(this machine only); binding another address is the operator's decision.

Error handling: a port already taken (say, two replicators of one topology on one
machine) is logged and the component runs on without its endpoint.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


def render(collectors: Sequence[Collector]) -> bytes:
    """The default registry's families followed by those of ``collectors``."""
    own = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        own.register(collector)
    return generate_latest(REGISTRY) + generate_latest(own)


def metrics_route(app: web.Application, collectors: Sequence[Collector]) -> None:
    """Add ``GET /metrics`` serving :func:`render` of ``collectors`` to ``app``."""

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=render(collectors), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", handle)


@contextlib.asynccontextmanager
async def serving_app(app: web.Application, host: str, port: int) -> AsyncIterator[int]:
    """Serve ``app`` on ``host:port`` (0: a free port) while the block runs; yields the
    bound port. Raises OSError when the address cannot be bound."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes no bound port otherwise
        sockets = getattr(server, "sockets", None) or []
        yield sockets[0].getsockname()[1] if sockets else port
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serving_metrics(
    host: str,
    port: int | None,
    collectors: Sequence[Collector] = (),
    announce: Callable[[str], None] | None = None,
) -> AsyncIterator[str | None]:
    """Serve ``/metrics`` on ``host:port`` while the block runs; yields the URL.

    ``port`` None serves nothing (yields None); 0 picks a free port. ``announce``
    is told the URL once it listens.
    """
    if port is None:
        yield None
        return
    app = web.Application()
    metrics_route(app, collectors)
    async with contextlib.AsyncExitStack() as stack:
        try:
            bound = await stack.enter_async_context(serving_app(app, host, port))
        except OSError as exc:
            log.warning("metrics not served: cannot listen on %s:%s (%s)", host, port, exc)
            yield None
            return
        url = f"http://{host}:{bound}/metrics"
        if announce is not None:
            announce(url)
        yield url
