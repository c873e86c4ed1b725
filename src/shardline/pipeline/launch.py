"""Start a topology's processes under one supervisor, in dependency order.

1. One ``shardline serve`` per region whose endpoint is on this machine
   (127.0.0.1 or localhost), with its own data directory and the endpoint's port.
   Regions elsewhere (AWS itself, another host) are used as they are.
2. Wait until every region answers, then create the topology's streams where they
   are missing and wait until they are ACTIVE.
3. Write the initial control state (if there is none yet).
4. The monitor/controller, the replicator, one ticker consumer per region, and the
   ticker producer.

Without a topology file, :func:`default_topology` writes one into the data
directory: two local regions on free ports, one two-shard ``ticker`` stream, SQLite
stores, cold standby and the reference failover policy.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from shardline.errors import ShardlineError
from shardline.failover.decisions import initial_state
from shardline.kinesis import connect, wait_stream_active
from shardline.pipeline.supervisor import Child, Supervisor, last_line
from shardline.stores.factory import control_store_for
from shardline.topology import RegionSpec, Topology, load_topology

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
REGION_START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def default_topology(
    data_dir: Path,
    failover: dict[str, object] | None = None,
    pipeline: dict[str, object] | None = None,
) -> Path:
    """Write the embedded default topology into ``data_dir``; returns the file.

    ``failover`` and ``pipeline`` override keys of those tables (drills shorten the
    failover policy).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    east, west = free_port(), free_port()
    lines = [
        "# Written by shardline up: the embedded default topology.",
        "[[regions]]",
        'name = "us-east-1"',
        'role = "primary"',
        f'endpoint_url = "http://127.0.0.1:{east}"',
        "",
        "[[regions]]",
        'name = "us-west-2"',
        'role = "standby"',
        f'endpoint_url = "http://127.0.0.1:{west}"',
        "",
        "[[streams]]",
        'name = "ticker"',
        "shards = 2",
        "",
        "[stores]",
        'directory = "stores"',
        "",
        "[pipeline]",
        'data_dir = "."',
        *(f"{key} = {_toml_value(value)}" for key, value in (pipeline or {}).items()),
        "",
        "[failover]",
        *(f"{key} = {_toml_value(value)}" for key, value in (failover or {}).items()),
        "",
        "[metrics]   # where each component serves /metrics (Prometheus)",
        f"monitor = {free_port()}",
        f"replicator = {free_port()}",
        f"producer = {free_port()}",
        f'consumers = {{ "us-east-1" = {free_port()}, "us-west-2" = {free_port()} }}',
        f"console = {free_port()}",
    ]
    path = data_dir / "shardline.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def local_port(region: RegionSpec) -> int | None:
    """The port to serve ``region`` on, when its endpoint is on this machine."""
    if region.endpoint_url is None:
        return None
    parts = urlsplit(region.endpoint_url)
    if parts.hostname not in LOCAL_HOSTS or parts.port is None:
        return None
    return parts.port


def shardline_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shardline", *args]


class LaunchError(ShardlineError):
    """A process of the pipeline could not start; the message quotes its log."""


async def wait_answering(
    region: RegionSpec, timeout: float = REGION_START_TIMEOUT_S, child: Child | None = None
) -> None:
    """Wait until ``region``'s Kinesis API answers ListStreams.

    Raises :class:`LaunchError` as soon as ``child`` (the region's ``shardline
    serve``, when this machine runs it) exits, quoting its last log line (say, a
    port already in use), or after ``timeout`` seconds.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    async with connect(region.endpoint()) as client:
        while True:
            try:
                await client.list_streams()
                return
            except Exception:
                if child is not None and child.log_path and (child.restarts or not child.alive):
                    log = child.log_path
                    raise LaunchError(
                        f"region {region.name} did not start: {last_line(log)} (log: {log})"
                    ) from None
                if asyncio.get_running_loop().time() > deadline:
                    raise LaunchError(
                        f"region {region.name} did not answer at {region.endpoint_url} "
                        f"within {timeout:g} s"
                    ) from None
                await asyncio.sleep(0.2)


async def ensure_streams(topology: Topology, region: RegionSpec) -> None:
    """Create the topology's streams in ``region`` where missing; wait until ACTIVE."""
    async with connect(region.endpoint()) as client:
        for stream in topology.streams:
            try:
                await client.create_stream(StreamName=stream.name, ShardCount=stream.shards)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceInUseException":
                    raise
            await wait_stream_active(client, stream.name)


async def launch(topology_path: Path, supervisor: Supervisor) -> Topology:
    """Steps 1–4 of the module docstring; returns the loaded topology."""
    topology = load_topology(topology_path)
    data_dir = topology.pipeline.data_dir
    path = str(topology_path)
    served: dict[str, Child] = {}
    for region in topology.regions:
        port = local_port(region)
        if port is not None:
            served[region.name] = supervisor.start(
                f"region-{region.name}",
                shardline_command(
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(data_dir / "regions" / region.name),
                    "--region",
                    region.name,
                    "--create-delay-ms",
                    "0",
                ),
            )
    for region in topology.regions:
        await wait_answering(region, child=served.get(region.name))
        await ensure_streams(topology, region)
    async with control_store_for(topology.stores) as store:
        await store.initialize(initial_state(topology))
    supervisor.start("monitor", shardline_command("monitor", "-t", path))
    supervisor.start(
        "replicator",
        shardline_command(
            "replicate", "-t", path, "--lease-failover-s", str(topology.pipeline.lease_failover_s)
        ),
    )
    for region in topology.regions:
        supervisor.start(
            f"consumer-{region.name}",
            shardline_command("ticker", "consume", "-t", path, "--region", region.name),
        )
    supervisor.start("producer", shardline_command("ticker", "produce", "-t", path))
    return topology
