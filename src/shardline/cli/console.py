"""``shardline console``: the web console for a pipeline run elsewhere."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from shardline import logs
from shardline.cli.ha import topology_option
from shardline.console import from_up_json, serving_console
from shardline.stores.factory import control_store_for
from shardline.topology import TopologyError, load_topology


@click.command("console")
@topology_option
@logs.log_format_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to listen on (default: the topology's [metrics] console port, else a free one).",
)
def console_command(topology_path: str, host: str, port: int | None) -> None:
    """Serve the web console of the pipeline the topology file describes.

    It reads the control store the file names and talks to its regions, so it
    works for a pipeline `shardline up` runs in another terminal (whose processes it
    also shows, from up.json) or one run by hand. Its actions (failover, failback,
    faults) are the CLI's own. Ctrl-C stops it; the pipeline keeps running.
    """
    logs.configure(logging.WARNING)
    try:
        topology = load_topology(topology_path)
    except TopologyError as exc:
        raise click.ClickException(str(exc)) from exc
    chosen = topology.metrics.console if port is None else port

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        processes = from_up_json(topology.pipeline.data_dir)
        async with (
            control_store_for(topology.stores) as store,
            serving_console(topology, store, processes, host, chosen) as url,
        ):
            click.echo(f"console at {url}  (Ctrl-C to stop)")
            await stop.wait()

    asyncio.run(main())
