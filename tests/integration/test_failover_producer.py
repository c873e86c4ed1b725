"""What a FailoverProducer does with acknowledgements that race a decision.

Real regions (``shardline serve``) and a real SQLite control store; the producer
runs in the test's event loop so that the test can see when it has taken up a
decision. The interleavings are made by evidence, not by timing: a call is held in
flight by the region's fault endpoint (``latency_ms``, released when the fault is
cleared) until the producer has seen the decision, so it is acknowledged *after*
it, as calls are in a partial outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ha_worker
from live_files import complete_lines

from shardline.failover.decisions import (
    failback_switch,
    failover,
    initial_state,
    resume_replication,
    stop_draining,
)
from shardline.failover.producer import FailoverProducer
from shardline.framing import envelope, origin
from shardline.producer import ProducerConfig, PutOutcome
from shardline.stores.control import ControlState, ControlStore
from shardline.stores.sqlite_control import SQLiteControlStore
from shardline.testing import (
    ChildProcess,
    ShardlineProcess,
    fault_in_force,
    read_stream,
    set_fault,
    wait_for,
)
from shardline.topology import Topology, load_topology

if TYPE_CHECKING:
    from tests.conftest import TwoRegions

HOLD_CALLS: dict[str, Any] = {"latency_ms": 600_000, "operations": ["PutRecords"]}


async def until(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``condition`` (sync or async) on the event loop until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def payloads(url: str) -> list[bytes]:
    """The user payloads in ``url``'s ticker stream (origin marker and envelope removed)."""
    return [
        envelope.decode(origin.unwrap(record["Data"])[1]).payload
        for record in read_stream(url, "ticker")
    ]


class Harness:
    """A FailoverProducer on the regions' topology, and the control store it follows."""

    def __init__(self, regions: Any, tmp_path: Path) -> None:
        self.regions = regions
        self.topology: Topology = load_topology(regions.topology_path)
        self.store: ControlStore = SQLiteControlStore(tmp_path / "stores" / "control.db")
        self.config = ProducerConfig(
            record_ids=True,
            spool_path=tmp_path / "producer.spool",
            max_buffered_time_s=0.0,
            request_timeout_s=900.0,
        )

    async def start(self, state: ControlState | None = None) -> FailoverProducer:
        await self.store.ensure_table()
        await self.store.initialize(state or initial_state(self.topology))
        return await FailoverProducer(self.topology, self.store, self.config).start()

    async def decide(self, producer: FailoverProducer, new: ControlState) -> None:
        """Write ``new`` and wait until the producer has *seen* it (not carried it out)."""
        current = await self.store.get_state()
        assert current is not None
        await self.store.replace(current.epoch, new)
        await until(
            lambda: producer.watcher.latest and producer.watcher.latest.epoch == new.epoch,
            "the producer to see the decision",
        )

    async def put_in_flight(self, producer: FailoverProducer, url: str, data: bytes) -> Any:
        """Put ``data`` and return its outcome future once its call is held in ``url``."""
        set_fault(url, **HOLD_CALLS)
        future = await producer.put(data, "AAPL")
        await until(
            lambda: fault_in_force(url)["delayed_calls"] == 1, "the call to arrive and be held"
        )
        return future


def test_a_record_the_primary_acknowledges_during_the_failover_switch_reaches_the_standby(
    two_regions: Callable[..., TwoRegions], tmp_path: Path
) -> None:
    """Issue 19's interleaving: a partial outage lets an in-flight call succeed late."""
    regions = two_regions({"ticker": 1}, failover={"poll_interval_s": 0.1})
    harness = Harness(regions, tmp_path)

    async def scenario() -> PutOutcome:
        producer = await harness.start()
        try:
            future = await harness.put_in_flight(producer, regions.east.url, b"in-flight")
            state = await harness.store.get_state()
            assert state is not None
            await harness.decide(producer, failover(state, harness.topology, "west", "test", []))
            set_fault(regions.east.url)  # the held call goes on: the primary stores it
            outcome: PutOutcome = await future
            await until(lambda: producer.state and producer.state.epoch == 2, "the switch")
            await producer.flush(60)
            return outcome
        finally:
            await producer.close()

    outcome = asyncio.run(scenario())
    assert outcome.succeeded and outcome.destination is not None
    assert outcome.destination.endpoint_url == regions.east.url, "acknowledged by the primary"
    # Nothing replicates here: only the producer can have brought it to the standby.
    assert payloads(regions.west.url) == [b"in-flight"]


def test_a_record_the_standby_acknowledges_during_the_failback_switch_reaches_the_primary(
    two_regions: Callable[..., TwoRegions], tmp_path: Path
) -> None:
    regions = two_regions({"ticker": 1}, failover={"poll_interval_s": 0.1})
    harness = Harness(regions, tmp_path)
    first = initial_state(harness.topology)
    on_standby = failover(first, harness.topology, "west", "test", [])

    async def scenario() -> PutOutcome:
        producer = await harness.start(on_standby)
        try:
            future = await harness.put_in_flight(producer, regions.west.url, b"late-standby")
            switch = failback_switch(on_standby, harness.topology, "test failback")
            await harness.decide(producer, switch)
            set_fault(regions.west.url)
            outcome: PutOutcome = await future
            await until(lambda: producer.state and producer.state.epoch == 3, "the switch")
            await producer.flush(60)
            return outcome
        finally:
            await producer.close()

    outcome = asyncio.run(scenario())
    assert outcome.succeeded and outcome.destination is not None
    assert outcome.destination.endpoint_url == regions.west.url
    assert payloads(regions.east.url) == [b"late-standby"]


def test_held_records_older_than_a_new_replication_run_are_sent_again(
    two_regions: Callable[..., TwoRegions], tmp_path: Path
) -> None:
    """A producer that missed a failover and its failback stayed on the primary.

    Its held records arrived before the new replication run's start, so that run
    never copies them; its watermarks, moving past them with newer records, must not
    release them unsent.
    """
    regions = two_regions(
        {"ticker": 1},
        failover={"poll_interval_s": 0.1, "start_buffer_s": 0.1},
        replication={"publish_interval_s": 0.1},
    )
    harness = Harness(regions, tmp_path)
    topology = harness.topology

    async def scenario() -> None:
        producer = await harness.start()
        try:
            before = await producer.put(b"before-the-run", "AAPL")
            assert (await before).succeeded
            acked_at = time.time()
            await until(lambda: time.time() > acked_at + 0.5, "the clock to pass the buffer")
            # Every decision of a failover and a failback, written as one jump: the
            # producer sees none of the intermediate states.
            state = await harness.store.get_state()
            assert state is not None
            new = failover(state, topology, "west", "missed", [])
            new = failback_switch(new, topology, "missed")
            new = resume_replication(stop_draining(new, "missed"), topology)
            await harness.decide(producer, new)
            with ShardlineProcess("replicate", "-t", str(regions.topology_path), ready="follow"):
                after = await producer.put(b"after-the-run", "AAPL")
                assert (await after).succeeded
                inner = producer.producer
                assert inner is not None
                await until(lambda: inner.held == 0, "every held record replicated")
        finally:
            await producer.close()

    asyncio.run(scenario())
    assert sorted(payloads(regions.west.url)) == [b"after-the-run", b"before-the-run"]


def test_a_producer_killed_while_holding_sends_what_it_held_to_the_region_active_at_restart(
    two_regions: Callable[..., TwoRegions], tmp_path: Path
) -> None:
    """Held records live in the spool: a SIGKILL and a failover in between lose none."""
    regions = two_regions({"ticker": 2}, failover={"poll_interval_s": 0.1})
    harness = Harness(regions, tmp_path)
    first = initial_state(harness.topology)

    async def initialize() -> None:
        await harness.store.ensure_table()
        await harness.store.initialize(first)

    asyncio.run(initialize())
    acked, spool = tmp_path / "acked.txt", tmp_path / "worker.spool"

    def worker(count: int) -> ChildProcess:
        return ChildProcess(
            ha_worker.command(
                "produce", str(regions.topology_path), "--count", str(count),
                "--rate", "500", "--acked", str(acked), "--spool", str(spool),
            ),
            ready="producer ready",
        )  # fmt: skip

    holding = worker(200).start()
    # Nothing replicates: every acknowledged record stays held in the spool.
    wait_for(lambda: len(complete_lines(acked)) >= 100, what="records acknowledged by east")
    holding.kill()
    asyncio.run(harness.store.transition(first, failover(first, harness.topology, "west", "t", [])))
    restarted = worker(0).start()
    wait_for(lambda: "producer done" in "".join(restarted.output), timeout=120, what="the re-send")
    restarted.stop()
    in_west = {
        envelope.decode(origin.unwrap(r["Data"])[1]).record_id
        for r in read_stream(regions.west.url, "ticker")
    }
    assert set(complete_lines(acked)) <= in_west
