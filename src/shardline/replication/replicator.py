"""``shardline replicate``: copies a stream from the active region to the standby.

The replicator follows the control state. While the state names a replication
run (source, target, generation) it runs that run; when a decision ends or
replaces the run it stops it, and starts the new one if there is one. A run is a
KCL-style worker (:class:`~shardline.consumer.Scheduler`) on the source stream
whose processors are :class:`~shardline.replication.copier.CopyingProcessor`: leases
and checkpoints as for any consumer, in a lease table named after the run, so a
new run (after a failback) starts at its own position instead of old checkpoints.

Retrieval: enhanced fan-out when the source offers it (``retrieval = "auto"``,
the default; lower latency, and its own read throughput), polling otherwise.

Resource handling: :meth:`Replicator.stop` (SIGTERM/SIGINT under the CLI) stops the
run gracefully: batches in flight finish, leases are released. A SIGKILLed
replicator loses nothing: its successor resumes from the last checkpoint, which is
never ahead of what the target acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shardline.consumer.config import ConsumerConfig, Retrieval
from shardline.consumer.scheduler import Scheduler
from shardline.failover.watch import StateWatcher
from shardline.kinesis import connect, list_all_shards
from shardline.replication.copier import CopyingProcessor
from shardline.replication.progress import ReplicationProgress
from shardline.stores.control import ControlStore, Replication
from shardline.stores.factory import lease_store_for
from shardline.topology import Topology

log = logging.getLogger(__name__)

#: Pause before a run that ended by itself is started again.
RESTART_DELAY_S = 2.0


def run_name(replication: Replication, stream: str) -> str:
    """The application name (lease table, fan-out consumer) of one run."""
    return (
        f"shardline-replicator-{stream}-{replication.source}-{replication.target}"
        f"-g{replication.generation.epoch}"
    )


@dataclass
class _Run:
    replication: Replication
    progress: ReplicationProgress
    task: asyncio.Task[None] | None = None
    #: Set by the run's task once the source's retrieval mode is known.
    scheduler: Scheduler | None = None


class Replicator:
    """Replicates ``stream`` as the control state directs (module docstring)."""

    def __init__(
        self,
        topology: Topology,
        store: ControlStore,
        stream: str | None = None,
        *,
        lease_failover_s: float = 10.0,
        component: str | None = None,
    ) -> None:
        self.topology = topology
        self.store = store
        self.stream = topology.stream(stream).name
        self.lease_failover_s = lease_failover_s
        self.component = component or f"replicator-{socket.gethostname()}-{os.getpid()}"
        self.watcher = StateWatcher(store, topology.failover.poll_interval_s)
        self._run: _Run | None = None
        self._stop = asyncio.Event()

    @property
    def progress(self) -> ReplicationProgress | None:
        return self._run.progress if self._run else None

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Follow the control state until :meth:`stop`.

        A run that ends by itself (the source or target unreachable at start, a
        crash) is started again after ``RESTART_DELAY_S``; a run the state no longer
        names is stopped.
        """
        restart_at = 0.0
        try:
            while not self._stop.is_set():
                await self.watcher.refresh()
                state = self.watcher.latest
                wanted = state.replication if state is not None else None
                current = self._run
                if current is not None and current.task is not None and current.task.done():
                    log.warning("replication run ended; starting it again")
                    await self._stop_run(current)
                    restart_at = time.monotonic() + RESTART_DELAY_S
                elif current is not None and current.replication != wanted:
                    await self._stop_run(current)
                if wanted is not None and self._run is None and time.monotonic() >= restart_at:
                    self._run = self._start_run(wanted)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.watcher.poll_interval_s)
        finally:
            if self._run is not None:
                await self._stop_run(self._run)

    def _start_run(self, replication: Replication) -> _Run:
        log.info(
            "replicating %s: %s -> %s (generation %d, from %s)",
            self.stream,
            replication.source,
            replication.target,
            replication.generation.epoch,
            replication.generation.start,
        )
        progress = ReplicationProgress(
            self.store,
            replication.generation.epoch,
            replication.source,
            replication.target,
            self.stream,
            self.component,
            publish_interval_s=self.topology.replication.publish_interval_s,
        )
        run = _Run(replication, progress)
        run.task = asyncio.create_task(
            self._drive(run), name=f"replication-g{replication.generation.epoch}"
        )
        return run

    def _config(self, replication: Replication, retrieval: Retrieval) -> ConsumerConfig:
        source = self.topology.region(replication.source)
        start = replication.generation.start
        return ConsumerConfig(
            run_name(replication, self.stream),
            self.stream,
            endpoint_url=source.endpoint_url,
            region_name=source.region_name,
            client_options=source.client_options(),
            initial_position=start.kind,
            initial_timestamp=dt.datetime.fromtimestamp(start.timestamp, dt.UTC)
            if start.timestamp is not None
            else None,
            retrieval=retrieval,
            failover_time_s=self.lease_failover_s,
            idle_time_between_reads_s=0.2,
        )

    async def _retrieval(self, source: Any) -> Retrieval:
        """Fan-out when configured, or when "auto" and the source offers it."""
        mode = self.topology.replication.retrieval
        if mode != "auto":
            return mode
        try:
            summary = await source.describe_stream_summary(StreamName=self.stream)
            arn = summary["StreamDescriptionSummary"]["StreamARN"]
            await source.list_stream_consumers(StreamARN=arn)
        except ClientError as exc:
            log.info("source has no enhanced fan-out (%s): polling", exc)
            return "polling"
        return "fanout"

    async def _drive(self, run: _Run) -> None:
        """Open the clients, run the worker and the publisher; stop both on fencing."""
        replication, progress = run.replication, run.progress
        source = self.topology.region(replication.source)
        target = self.topology.region(replication.target)
        async with (
            connect(source.endpoint()) as source_client,
            connect(target.endpoint()) as target_client,
        ):
            config = self._config(replication, await self._retrieval(source_client))
            ranges = await _shard_ranges(source_client, self.stream)
            mark = self.topology.replication.mark_origin
            scheduler = run.scheduler = Scheduler(
                config,
                lambda: CopyingProcessor(
                    target_client,
                    self.stream,
                    replication.source,
                    replication.target,
                    progress,
                    ranges.get,
                    mark_origin=mark,
                ),
                lease_store_for(self.topology.stores, config.application_name),
            )
            progress.source = source_client
            publisher = asyncio.create_task(progress.run_publisher())
            worker = asyncio.create_task(scheduler.run())
            stopped = asyncio.create_task(progress.stopped.wait())
            try:
                done, _ = await asyncio.wait({worker, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if worker in done and worker.exception() is not None:
                    log.error("replication worker failed", exc_info=worker.exception())
            finally:
                scheduler.shutdown()
                progress.stopped.set()
                with contextlib.suppress(Exception):
                    await worker
                for task in (publisher, stopped):
                    task.cancel()
                await asyncio.gather(publisher, stopped, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await progress.publish()

    async def _stop_run(self, run: _Run) -> None:
        log.info("stopping replication generation %d", run.replication.generation.epoch)
        if run.scheduler is not None:
            run.scheduler.shutdown()
        run.progress.stopped.set()
        if run.task is not None:
            with contextlib.suppress(Exception):
                await run.task
        self._run = None


async def _shard_ranges(client: Any, stream: str) -> dict[str, tuple[int, int]]:
    """Every shard's hash key range (for the explicit-hash-key rule of the copier)."""
    try:
        shards = await list_all_shards(client, stream)
    except ClientError as exc:
        log.warning("listing shards of %s failed: %s", stream, exc)
        return {}
    return {shard.shard_id: shard.hash_range for shard in shards}
