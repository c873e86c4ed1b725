"""A producer that follows the active region and holds records until replicated.

:class:`FailoverProducer` wraps a :class:`~shardline.producer.Producer` and keeps
it true to the control state:

1. Before the first record is sent, it reads the state and points the producer at
   the active region.
2. Records the primary acknowledges stay in the spool (*held*) until the
   replicator's watermark for their shard passes them; every ``poll_interval_s``
   the watermarks are read and held records released. Held, too, is whatever a
   region that is not active acknowledges (a call still in flight when the
   decision moved away from it).
3. On a new epoch with another active region, the producer switches destination:
   calls in flight finish, and everything not acknowledged *or still held* is sent
   to the new region. That re-send is what makes the RPO 0: records the failed
   primary acknowledged but never replicated reach the standby from the producer,
   including those acknowledged *during* the switch (a partial outage, where the
   primary still answers some calls, acknowledges records after the decision).
4. Every ``REPORT_INTERVAL_S``, from a task of its own (so a slow switch does not
   silence it), it publishes ``health`` reports (PutRecords calls and failures per
   region, for the monitor's error-rate window) and a ``producer`` report: the epoch
   it has carried out, the region it sends to and since when. A failback waits for every live
   producer to report the switch before it drains the standby.

Duplicates are the price of step 3 (a record may have been replicated just before
the watermark moved): they carry the same record id, so idempotent sinks absorb
them. Turn ``ProducerConfig.record_ids`` on for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterable

from shardline.credentials import default_client_options
from shardline.failover.health import HealthCounts, health_report
from shardline.failover.watch import StateWatcher
from shardline.producer import Destination, Producer, ProducerConfig, PutOutcome
from shardline.producer.exceptions import ProducerClosedError
from shardline.producer.records import Record
from shardline.stores.control import ControlState, ControlStore, ControlStoreError
from shardline.stores.reports import ProducerReport, ReportBody
from shardline.topology import Topology

log = logging.getLogger(__name__)

#: Health samples reach the monitor this often: its detection waits on them. A
#: producer reports every interval, switching or not, so a failback takes one whose
#: report is older than ``shardline.stores.reports.STALE_AFTER_S`` as gone.
REPORT_INTERVAL_S = 0.5


class FailoverProducer:
    """Puts records into the active region's stream (module docstring).

    Example::

        async with FailoverProducer(topology, store, ProducerConfig(record_ids=True)) as p:
            await p.put(b"AAPL 191.2", "AAPL")
    """

    def __init__(
        self,
        topology: Topology,
        store: ControlStore,
        config: ProducerConfig | None = None,
        stream: str | None = None,
    ) -> None:
        self.topology = topology
        self.store = store
        self.stream = topology.stream(stream).name
        self.config = config or ProducerConfig()
        self.watcher = StateWatcher(store, topology.failover.poll_interval_s)
        self.producer: Producer | None = None
        #: The newest decision this producer has carried out, and since when it has
        #: sent only to that decision's active region.
        self.state: ControlState | None = None
        self.sending_since = 0.0
        self._health: dict[str, HealthCounts] = {}
        #: Destination (as the producer's metrics name it) → region, made once: the
        #: call observer runs after every PutRecords call.
        self._regions = {str(self.destination_for(r.name)): r.name for r in topology.regions}
        self._tasks: list[asyncio.Task[None]] = []

    def destination_for(self, region: str) -> Destination:
        spec = self.topology.region(region)
        return Destination(
            self.stream, spec.endpoint_url, spec.region_name, spec.credentials(), spec.ca_bundle
        )

    async def start(self) -> FailoverProducer:
        """Steps 1 and 2: wait for a control state, then start the producer there."""
        while (state := await self.watcher.refresh()) is None:
            await asyncio.sleep(self.watcher.poll_interval_s)
        options = {**default_client_options(), **self.config.client_options}
        config = dataclasses.replace(self.config, client_options=options)
        producer = Producer(
            self.destination_for(state.active_region),
            config,
            spool_destinations=[self.destination_for(r.name) for r in self.topology.regions],
        )
        producer.hold_acknowledged_by(self._holds(state))
        producer.metrics.call_observers.append(self._observe_call)
        await producer.start()
        self.producer = producer
        self.state, self.sending_since = state, time.time()
        self._tasks = [
            asyncio.create_task(self._follow(), name="failover-producer"),
            asyncio.create_task(self._report_loop(), name="failover-producer-reports"),
        ]
        return self

    async def __aenter__(self) -> FailoverProducer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float | None = 30.0) -> None:
        """Stop following, then close the producer (held records stay in the spool)."""
        self.watcher.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.producer is not None:
            await self.producer.close(timeout)
            await self._publish()

    def _running(self) -> Producer:
        if self.producer is None:
            raise ProducerClosedError("the FailoverProducer is not started (call start())")
        return self.producer

    async def put(
        self, data: bytes, partition_key: str, explicit_hash_key: str | None = None
    ) -> asyncio.Future[PutOutcome]:
        return await self._running().put(data, partition_key, explicit_hash_key)

    async def put_many(self, records: Iterable[Record]) -> list[asyncio.Future[PutOutcome]]:
        return await self._running().put_many(records)

    async def flush(self, timeout: float | None = None) -> None:
        await self._running().flush(timeout)

    # -- following ------------------------------------------------------------------

    def _observe_call(self, destination: str, failed: bool) -> None:
        region = self._regions.get(destination)
        if region is not None:
            counts = self._health.setdefault(region, HealthCounts())
            counts.record(ok=0 if failed else 1, errors=1 if failed else 0)

    async def _follow(self) -> None:
        while True:
            state = await self.watcher.refresh()
            if state is not None:
                await self._apply(state)
            await self._release()
            await asyncio.sleep(self.watcher.poll_interval_s)

    async def _report_loop(self) -> None:
        while True:
            await self._publish()
            await asyncio.sleep(REPORT_INTERVAL_S)

    async def _apply(self, state: ControlState) -> None:
        """Step 3: follow a new decision.

        1. Widen the held set first (:meth:`_holds`): a call to the region being
           left may still be in flight, and what it gets acknowledged must be held.
        2. Switch: calls in flight finish, held records of other regions go to the
           new one.
        3. If a replication run begins at a timestamp, send again what is held from
           calls sent before it: the run will never copy those (a producer that did
           not see a failover and its failback stayed on the primary meanwhile).

        ``state`` counts as carried out only once the switch returned: from then on
        no call to the old region is in flight, so nothing more is stored there.
        """
        producer = self._running()
        producer.hold_acknowledged_by(self._holds(state))
        destination = self.destination_for(state.active_region)
        if destination != producer.destination:
            log.info("epoch %d: producer follows %s (%s)", state.epoch, destination, state.reason)
            await producer.switch_destination(destination)
            self.sending_since = time.time()
        run = state.replication
        if run is not None and run.generation.start.timestamp is not None:
            producer.resend_held(sent_before=run.generation.start.timestamp)
        self.state = state

    def _holds(self, state: ControlState) -> list[Destination]:
        """Whose acknowledgements are held under ``state``.

        - The primary's, always: it is the region replicated from, and a call sent
          to it before a failover may be acknowledged after the decision.
        - Every region's but the active one: an acknowledgement from a region being
          left (a call still in flight at a failback's switch) is held, and the
          switch sends it on to the region now active.

        The only region this set ever drops is the newly active one, to which
        nothing was in flight; so no acknowledgement escapes, whatever the order of
        decisions, switches and calls.
        """
        primary = self.topology.primary.name
        return [
            self.destination_for(region.name)
            for region in self.topology.regions
            if region.name == primary or region.name != state.active_region
        ]

    async def _release(self) -> None:
        """Step 2: release held records the replicator has copied.

        Watermarks count only under the decision this producer has carried out: if
        the state moved on after they were read, they may come from a replication
        run that began after some held records (step 3 of :meth:`_apply` must send
        those again first), so nothing is released until the new state is applied.
        """
        producer = self._running()
        if not producer.held or self.state is None:
            return
        destination = producer.destination
        region = self._regions.get(str(destination))
        if region is None:
            return
        try:
            marks = await self.store.get_watermarks(region, self.stream)
            current = await self.store.get_state()
        except ControlStoreError as exc:
            log.warning("reading watermarks failed: %s", exc)
            return
        if current is None or current.epoch != self.state.epoch:
            return
        producer.release_replicated(
            destination, {shard: m.sequence_number for shard, m in marks.items()}
        )

    async def _publish(self) -> None:
        """Step 4."""
        producer = self.producer
        if producer is None:
            return
        name = producer.config.name
        since = time.time() - self.topology.failover.window_s
        reports: list[tuple[str, ReportBody]] = [
            health_report(f"producer-{name}", region, counts, since)
            for region, counts in self._health.items()
        ]
        carried_out = ProducerReport(
            epoch=self.state.epoch if self.state else None,
            region=self.state.active_region if self.state else None,
            since=self.sending_since,
            pending=producer.pending,
            held=producer.held,
        )
        reports.append((name, carried_out))
        with contextlib.suppress(ControlStoreError):
            for component, report in reports:
                await self.store.put_report(component, report)
