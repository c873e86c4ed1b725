"""Run a region server until asked to stop.

``serve`` reports the bound address once the socket listens (so callers can bind
port 0 and learn the port), and on SIGTERM/SIGINT stops accepting requests, lets the
writer commit what it holds, and closes the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from aiohttp import web

from shardline.server.app import build_app
from shardline.storage.config import RegionConfig
from shardline.storage.region import Region


async def serve(
    config: RegionConfig,
    host: str = "127.0.0.1",
    port: int = 4567,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the Kinesis API for ``config`` on ``host:port`` until ``stop`` is set.

    Resource handling: the region (and its database) is closed on the way out, also
    when serving fails.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    region = Region(config)
    try:
        await region.start()
        runner = web.AppRunner(build_app(region), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        bound = port
        for address in runner.addresses:
            bound = address[1]
        url = f"http://{host}:{bound}"
        if on_ready is not None:
            on_ready(url)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await region.close()
