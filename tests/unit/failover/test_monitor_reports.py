"""The monitor meets a report it cannot read: it keeps checking, decides nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from shardline.failover.decisions import initial_state
from shardline.failover.monitor import Monitor
from shardline.stores.control import ReportDocument
from shardline.stores.reports import (
    CallBucket,
    ConsumerReport,
    HealthReport,
    HealthState,
    MonitorReport,
)
from shardline.stores.sqlite_control import SQLiteControlStore
from shardline.topology import FailoverSpec, RegionSpec, StreamSpec, Topology


def topology() -> Topology:
    return Topology(
        regions=(RegionSpec("east", "primary"), RegionSpec("west", "standby")),
        streams=(StreamSpec("ticker"),),
        failover=FailoverSpec(min_samples=1, consecutive_checks=1, window_s=60.0),
    )


async def _fail_over_past_a_newer_consumer_report(path: Path) -> None:
    async with SQLiteControlStore(path) as store:
        monitor = Monitor(topology(), store, "monitor-test")
        await store.initialize(initial_state(monitor.topology))
        second = int(time.time())
        await store.put_report("producer@east", HealthReport("east", (CallBucket(second, 0, 50),)))
        await store.put_report_document(
            ReportDocument(ConsumerReport.KIND, "w1@east", {"v": 2, "region": "east"}, time.time())
        )
        for _ in range(3):
            state = await monitor.check()
        assert monitor.regions["east"].health.state is HealthState.FAILED
        # No decision on a consumer report it cannot read, and no crash: the state
        # stays where it was and the heartbeat goes on.
        assert state is not None and (state.epoch, state.active_region) == (1, "east")
        assert (await store.get_state()) == state
        (heartbeat,) = await store.get_reports(MonitorReport)
        assert heartbeat.body.regions["east"].state is HealthState.FAILED


def test_a_consumer_report_of_a_newer_version_stops_the_decision_not_the_monitor(
    tmp_path: Path,
) -> None:
    asyncio.run(_fail_over_past_a_newer_consumer_report(tmp_path / "control.db"))
