"""A consumer application that runs in one region whenever the control state says so.

Run one :class:`RegionConsumer` per region (typically one process each, as one
Auto Scaling group per region would). Each follows the control state
(:func:`~shardline.failover.decisions.consumer_generation`):

1. When its region's consumers should run, it starts a
   :class:`~shardline.consumer.Scheduler` for that *generation*: the lease table is
   ``<application>-<region>-g<epoch>``, so a generation begins at the position the
   decision chose (TRIM_HORIZON at first, AT_TIMESTAMP after a failover or failback)
   and resumes from its own checkpoints after a crash.
2. When a decision stops them (another region became active, a failback drained
   them) or replaces the generation, the worker stops gracefully: final
   checkpoints, leases released.
3. Every ``report_interval_s`` it publishes a ``consumer`` report
   (:class:`~shardline.stores.reports.ConsumerReport`): region, generation, per
   shard the MillisBehindLatest and the instant up to which every record is
   processed (``processed_through``), records processed, and the outcome counts of
   the application's sink when it names one. The controller
   derives a failover's start position from these, and failback waits on them for
   the standby to have processed everything stored there. A ``health`` report
   counts its reads (GetRecords answers and errors, fan-out events and errors) for
   the monitor's error rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from shardline.consumer.config import ConsumerConfig
from shardline.consumer.processor import RecordProcessor
from shardline.consumer.scheduler import Scheduler
from shardline.failover.decisions import consumer_generation
from shardline.failover.health import HealthCounts, health_report
from shardline.failover.watch import StateWatcher
from shardline.stores.control import ControlStore, ControlStoreError, Generation
from shardline.stores.factory import lease_store_for
from shardline.stores.reports import ConsumerReport, ShardProgress, SinkFigures
from shardline.topology import Topology

log = logging.getLogger(__name__)


def generation_application(application: str, region: str, generation: Generation) -> str:
    """The lease table (and fan-out consumer) name of one generation."""
    return f"{application}-{region}-g{generation.epoch}"


class RegionConsumer:
    """Runs ``processor_factory`` on ``stream`` in ``region`` as decided (module doc).

    ``config_overrides`` are ConsumerConfig fields (retrieval, failover_time_s, …)
    applied to every generation's worker; ``sink_figures``, when the application
    has an idempotent sink, gives its outcome counts (duplicates absorbed, say) for
    every report. A callable, not the sink: the failover layer does not depend on
    ``sinks``.
    """

    def __init__(
        self,
        topology: Topology,
        store: ControlStore,
        region: str,
        application: str,
        processor_factory: Callable[[], RecordProcessor],
        stream: str | None = None,
        *,
        config_overrides: dict[str, Any] | None = None,
        report_interval_s: float = 1.0,
        sink_figures: Callable[[], SinkFigures] | None = None,
    ) -> None:
        self.topology = topology
        self.sink_figures = sink_figures
        self.store = store
        self.region = topology.region(region)
        self.application = application
        self.factory = processor_factory
        self.stream = topology.stream(stream).name
        self.overrides = config_overrides or {}
        self.report_interval_s = report_interval_s
        self.watcher = StateWatcher(store, topology.failover.poll_interval_s)
        self.generation: Generation | None = None
        self.scheduler: Scheduler | None = None
        self._worker: asyncio.Task[None] | None = None
        self.component = f"{application}@{self.region.name}/{uuid.uuid4().hex[:8]}"
        self.reads = HealthCounts()

    def stop(self) -> None:
        self.watcher.stop()

    async def run(self) -> None:
        """Follow the control state until :meth:`stop`."""
        reporter = asyncio.create_task(self._report_loop())
        try:
            async for state in self.watcher.changes():
                wanted = consumer_generation(state, self.region.name, self.topology)
                if wanted != self.generation:
                    await self._stop_worker()
                    if wanted is not None:
                        self._start_worker(wanted)
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            await self._stop_worker()

    def _start_worker(self, generation: Generation) -> None:
        start = generation.start
        config = ConsumerConfig(
            generation_application(self.application, self.region.name, generation),
            self.stream,
            endpoint_url=self.region.endpoint_url,
            region_name=self.region.region_name,
            client_options=self.region.client_options(),
            initial_position=start.kind,
            initial_timestamp=dt.datetime.fromtimestamp(start.timestamp, dt.UTC)
            if start.timestamp is not None
            else None,
        )
        config = dataclasses.replace(config, **self.overrides)
        log.info(
            "%s: consumers start in %s, generation %d from %s",
            self.application,
            self.region.name,
            generation.epoch,
            start,
        )
        self.generation = generation
        self.scheduler = Scheduler(
            config, self.factory, lease_store_for(self.topology.stores, config.application_name)
        )
        self.scheduler.metrics.read_observers.append(
            lambda ok: self.reads.record(ok=int(ok), errors=int(not ok))
        )
        self._worker = asyncio.create_task(
            self.scheduler.run(), name=f"consumer-{self.region.name}"
        )

    async def _stop_worker(self) -> None:
        if self.scheduler is None or self._worker is None:
            return
        log.info("%s: consumers stop in %s", self.application, self.region.name)
        self.scheduler.shutdown()
        try:
            await self._worker
        except Exception:
            log.exception("consumer worker failed while stopping")
        await self._publish()
        self.scheduler = self._worker = self.generation = None

    def report(self) -> ConsumerReport:
        """This worker's ``consumer`` report (module docstring, step 3)."""
        scheduler = self.scheduler
        shards: dict[str, ShardProgress] = {}
        if scheduler is not None:
            metrics = scheduler.metrics
            shards = {
                shard: ShardProgress(
                    metrics.millis_behind.get(shard, 0), metrics.caught_up_to.get(shard)
                )
                for shard in scheduler.consumers
            }
        return ConsumerReport(
            application=self.application,
            stream=self.stream,
            region=self.region.name,
            generation=self.generation.epoch if self.generation else None,
            running=scheduler is not None,
            shards=shards,
            processed=scheduler.metrics.processed_total if scheduler else 0,
            worker=scheduler.config.worker_id if scheduler else "",
            sink=self.sink_figures() if self.sink_figures is not None else None,
        )

    async def _publish(self) -> None:
        since = time.time() - self.topology.failover.window_s
        with contextlib.suppress(ControlStoreError):
            await self.store.put_report(self.component, self.report())
            await self.store.put_report(
                *health_report(self.component, self.region.name, self.reads, since)
            )

    async def _report_loop(self) -> None:
        while True:
            await self._publish()
            if self._worker is not None and self._worker.done():
                log.error("consumer worker in %s ended unexpectedly; restarting", self.region.name)
                generation = self.generation
                self.scheduler = self._worker = self.generation = None
                if generation is not None:
                    self._start_worker(generation)
            await asyncio.sleep(self.report_interval_s)
