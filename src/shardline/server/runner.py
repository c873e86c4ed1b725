"""Run a region server until asked to stop.

``serve`` reports the bound address once the socket listens (so callers can bind
port 0 and learn the port), answers HTTP/1.1 and HTTP/2 on that one port, in plain
text or over TLS (``connections``, ``http2``, ``tls``), within the limits of
``ServerLimits``, and on SIGTERM/SIGINT stops accepting requests, lets the
writers commit what they hold, and closes the databases (one per account:
``accounts``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import ssl
from collections.abc import Callable

from aiohttp import web

from shardline.server.accounts import Accounts
from shardline.server.app import COLLECTOR_KEY, KINESIS_KEY, build_app
from shardline.server.auth.gate import Gate, GateConfig
from shardline.server.connections import Connections
from shardline.server.http2 import Http2Server
from shardline.server.limits import ServerLimits, connection_cap, raise_fd_limit
from shardline.storage.config import RegionConfig


def server_url(host: str, port: int, tls: bool) -> str:
    """The URL clients use: ``https`` with TLS, an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


async def serve(
    config: RegionConfig,
    host: str = "127.0.0.1",
    port: int = 4567,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    gate: GateConfig | None = None,
    *,
    limits: ServerLimits | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Serve the Kinesis API for ``config`` on ``host:port`` until ``stop`` is set.

    ``gate`` says how callers authenticate (default: no credentials, loopback Host
    names only); with credentials, each account a key names gets its own catalog.

    Resource handling: the soft open-file limit is raised to the hard limit first
    (``limits.raise_fd_limit``); every account's database is closed on the way out,
    also when serving fails.
    """
    gate = gate or GateConfig()
    limits = limits or ServerLimits()
    cap = connection_cap(limits, raise_fd_limit())
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    _stop_on_signals(loop, stop)
    keys = gate.keys
    accounts = Accounts(config, keys.accounts if keys is not None else {config.account_id})
    try:
        await accounts.start()
        app = build_app(accounts, Gate(gate, config.region, config.account_id), limits)
        tune_collector()
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, keepalive_timeout=limits.idle_timeout_s
        )
        await runner.setup()
        http1 = runner.server
        assert http1 is not None
        http2 = Http2Server(app[KINESIS_KEY])
        _count_connections(app, http1, http2)
        connections = Connections(http1, http2, limits, cap)
        server = await loop.create_server(
            connections,
            host,
            port,
            backlog=1024,
            ssl=tls,
            ssl_handshake_timeout=limits.header_timeout_s if tls else None,
        )
        bound = server.sockets[0].getsockname()[1] if server.sockets else port
        if on_ready is not None:
            on_ready(server_url(host, bound, tls is not None))
        try:
            await stop.wait()
        finally:
            server.close()
            http2.close()
            await runner.cleanup()
    finally:
        await accounts.close()


def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (where the loop can take signal handlers)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def _count_connections(app: web.Application, http1: web.Server, http2: Http2Server) -> None:
    """Let ``GET /metrics`` report the open connections of each protocol."""
    app[COLLECTOR_KEY].open_connections = lambda: {
        "http1": len(http1.connections),
        "http2": len(http2.connections),
    }


#: Allocations between young-generation collections (Python's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Set the cyclic garbage collector for a server that allocates per record.

    Why: a PutRecords call makes a few thousand short-lived containers (entries,
    outcomes, result dicts), so with Python's defaults the young generation is
    collected several times per call and survivors are walked again and again; the
    start-up heap (botocore's Kinesis model, aiohttp) is ~65,000 objects that every
    full collection walks. Freezing the start-up heap and collecting the young
    generation every 50,000 allocations cut the server's CPU per put record by about
    a tenth (bench/README.md). Nearly everything here is freed by reference counting;
    the collector only has cycles left to find (exceptions with their tracebacks),
    and those wait at most one young collection longer.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
