"""Failover, failback and fencing, end to end with real processes.

Each test runs two regions, ``shardline monitor`` (health + controller),
``shardline replicate``, a region-following consumer per region and a
region-following producer (``ha_worker.py``), all as child processes sharing the
topology's SQLite control store. Outages are injected with the regions' fault
endpoint. Policies are shortened (a few seconds instead of 5 minutes) so the tests
are quick; the logic is the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ha_worker
import pytest
from live_files import complete_lines, read_jsonl

from shardline.framing import origin
from shardline.stores.control import ControlState
from shardline.stores.sqlite_control import SQLiteControlStore
from shardline.testing import (
    ChildProcess,
    ShardlineProcess,
    kinesis_client,
    read_stream,
    set_fault,
    wait_for,
)

if TYPE_CHECKING:
    from tests.conftest import TwoRegions

WINDOW_S = 4.0
CHECK_S = 0.5
CHECKS = 3


def policy(standby: str, **extra: Any) -> dict[str, Any]:
    return {
        "standby": standby,
        "window_s": WINDOW_S,
        "threshold": 0.2,
        "min_samples": 5,
        "check_interval_s": CHECK_S,
        "consecutive_checks": CHECKS,
        "canary_interval_s": 0.25,
        "min_switch_interval_s": 0,
        "start_buffer_s": 2.0,
        "poll_interval_s": 0.2,
        **extra,
    }


class Pipeline:
    """Every component of the reference pipeline, as processes (see module doc)."""

    def __init__(self, regions: Any, tmp_path: Path) -> None:
        self.regions = regions
        self.tmp = tmp_path
        topology = str(regions.topology_path)
        self.topology = topology
        self.monitor = ShardlineProcess("monitor", "-t", topology, ready="monitor .* running")
        self.replicator = ShardlineProcess(
            "replicate",
            "-t",
            topology,
            "--lease-failover-s",
            "2",
            ready="following the control store",
        )
        self.consumers = {
            region: ChildProcess(
                ha_worker.command(
                    "consume", topology, "--region", region, "--out", str(self.out(region))
                ),
                ready="consumer ready",
            )
            for region in ("east", "west")
        }
        self.acked = tmp_path / "acked.txt"
        self.producer: ChildProcess | None = None

    def out(self, region: str) -> Path:
        return self.tmp / f"processed-{region}.jsonl"

    def start(self, count: int, rate: float) -> Pipeline:
        self.monitor.start()
        wait_for(lambda: self.state() is not None, what="the initial control state")
        self.replicator.start()
        for consumer in self.consumers.values():
            consumer.start()
        self.producer = ChildProcess(
            ha_worker.command(
                "produce",
                self.topology,
                "--count",
                str(count),
                "--rate",
                str(rate),
                "--acked",
                str(self.acked),
                "--spool",
                str(self.tmp / "producer.spool"),
            ),
            ready="producer ready",
        ).start()
        return self

    def stop(self) -> None:
        for process in [self.producer, *self.consumers.values(), self.replicator, self.monitor]:
            if process is not None:
                process.stop()

    def state(self) -> ControlState | None:
        async def read() -> ControlState | None:
            path = self.regions.topology_path.parent / "stores/control.db"
            async with SQLiteControlStore(path) as store:
                return await store.get_state()

        return asyncio.run(read())

    def acked_ids(self) -> set[str]:
        return set(complete_lines(self.acked))

    def processed(self, region: str) -> list[dict[str, Any]]:
        return read_jsonl(self.out(region))

    def processed_ids(self) -> set[str]:
        return {line["id"] for region in ("east", "west") for line in self.processed(region)}

    def producer_done(self) -> bool:
        assert self.producer is not None
        return any("producer done" in line for line in self.producer.output)

    def assert_nothing_acknowledged_is_lost(self, timeout: float = 60.0) -> None:
        # The worker itself may take up to 120 s to see its last held records released.
        wait_for(self.producer_done, timeout=240, what="the producer to finish")
        acked = self.acked_ids()
        assert acked
        wait_for(
            lambda: not (acked - self.processed_ids()),
            timeout=timeout,
            what="every acknowledged record processed in some region",
        )


@pytest.fixture()
def pipeline(
    two_regions: Callable[..., TwoRegions], tmp_path: Path
) -> Iterator[Callable[..., Pipeline]]:
    started: list[Pipeline] = []

    def start(standby: str, count: int, rate: float, **extra: Any) -> Pipeline:
        regions = two_regions(
            {"ticker": 2},
            failover=policy(standby, **extra),
            replication={"publish_interval_s": 0.2},
        )
        started.append(Pipeline(regions, tmp_path).start(count, rate))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.mark.parametrize("standby", ["cold", "warm"])
def test_primary_outage_fails_over_and_loses_no_acknowledged_record(
    pipeline: Callable[..., Pipeline], standby: str
) -> None:
    run = pipeline(standby, count=1500, rate=150)
    wait_for(lambda: len(run.acked_ids()) >= 300, what="traffic before the fault")
    if standby == "warm":
        # Warm: the standby's consumers process the replicated stream all along.
        wait_for(lambda: run.processed("west"), what="the warm standby processing")
        assert all(line["origin"] == "east" for line in run.processed("west"))
    else:
        assert run.processed("west") == []
    set_fault(run.regions.east.url, outage=True)
    fault_at = time.time()
    # Detection needs the window's error rate over the threshold for 3 checks.
    state = wait_for(
        lambda: (s := run.state()) and s.active_region == "west" and s,
        timeout=WINDOW_S + CHECKS * CHECK_S + 20,
        what="automatic failover",
    )
    assert state  # wait_for returns the truthy value (for the type checker)
    assert state.epoch == 2 and state.replication is None
    assert state.reason.startswith("automatic")
    run.assert_nothing_acknowledged_is_lost()
    after = [line for line in run.processed("west") if line["t"] >= fault_at]
    assert after, "the standby processed records after the fault"
    if standby == "cold":
        assert min(line["t"] for line in run.processed("west")) >= state.changed_at


def test_error_rate_under_the_threshold_does_not_fail_over(
    pipeline: Callable[..., Pipeline],
) -> None:
    run = pipeline("cold", count=3000, rate=200)
    wait_for(lambda: len(run.acked_ids()) >= 200, what="traffic")
    set_fault(run.regions.east.url, error_rate=0.05, status=500)
    time.sleep(WINDOW_S * 2 + CHECKS * CHECK_S)
    state = run.state()
    assert state is not None and state.active_region == "east" and state.epoch == 1
    # The same pipeline does fail over once the rate is well above the threshold.
    set_fault(run.regions.east.url, error_rate=0.6, status=500)
    wait_for(
        lambda: (s := run.state()) and s.active_region == "west",
        timeout=WINDOW_S + CHECKS * CHECK_S + 20,
        what="failover above the threshold",
    )


def test_failback_restores_the_layout_with_no_record_lost(
    pipeline: Callable[..., Pipeline],
) -> None:
    run = pipeline("cold", count=2400, rate=150, automatic=False)
    wait_for(lambda: len(run.acked_ids()) >= 300, what="traffic before failover")
    manual = ShardlineProcess("failover", "-t", run.topology, "--reason", "drill", ready="epoch")
    manual.start()
    wait_for(lambda: not manual.running, what="manual failover command")
    assert any("west active" in line for line in manual.output)
    wait_for(lambda: run.processed("west"), what="standby")
    back = ShardlineProcess("failback", "-t", run.topology, ready="step 0", start_timeout=60)
    back.start()
    wait_for(lambda: not back.running, timeout=90, what="failback to finish")
    text = "".join(back.output)
    for step in ("step 1", "step 2", "step 3", "step 4", "failback complete"):
        assert step in text, text
    state = run.state()
    assert state is not None and state.active_region == "east"
    assert state.replication is not None and state.replication.source == "east"
    assert state.draining == ()
    run.assert_nothing_acknowledged_is_lost()
    # Records put after the failback reach the standby again (replication resumed).
    # Put here rather than left to the producer, which may have finished by now.
    east = kinesis_client(run.regions.east.url)
    late = {f"after-failback-{i}".encode() for i in range(20)}
    east.put_records(
        StreamName="ticker", Records=[{"Data": d, "PartitionKey": d.decode()} for d in late]
    )
    wait_for(
        lambda: late <= copies_from_east(run),
        what="replication resumed to the standby",
    )


def copies_from_east(run: Pipeline) -> set[bytes]:
    """The payloads of the records in the standby that the replicator copied from the primary."""
    unwrapped = (origin.unwrap(r["Data"]) for r in read_stream(run.regions.west.url, "ticker"))
    return {payload for region, payload in unwrapped if region == "east"}


def test_a_replicator_on_a_stale_epoch_stops_writing(pipeline: Callable[..., Pipeline]) -> None:
    run = pipeline("cold", count=200, rate=100, automatic=False)
    run.assert_nothing_acknowledged_is_lost()
    wait_for(
        lambda: len(read_stream(run.regions.west.url, "ticker")) >= 200,
        what="replication of the first records",
    )
    manual = ShardlineProcess("failover", "-t", run.topology, ready="epoch")
    manual.start()
    wait_for(lambda: not manual.running, what="manual failover command")
    wait_for(
        lambda: any("stopping replication" in line for line in run.replicator.output),
        what="the replicator to notice the new epoch",
    )
    before = len(read_stream(run.regions.west.url, "ticker"))
    east = kinesis_client(run.regions.east.url)
    east.put_records(
        StreamName="ticker",
        Records=[{"Data": f"late-{i}".encode(), "PartitionKey": str(i)} for i in range(50)],
    )
    time.sleep(2.0)
    assert len(read_stream(run.regions.west.url, "ticker")) == before
