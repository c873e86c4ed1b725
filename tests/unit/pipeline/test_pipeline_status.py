"""The live status view, rendered from reports in a real (SQLite) control store."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from rich.console import Console

from shardline.failover.decisions import initial_state
from shardline.pipeline.snapshot import StatusSnapshot, collect
from shardline.pipeline.status import Footer, ProcessView, render
from shardline.stores.reports import (
    ConsumerReport,
    HealthState,
    MonitorReport,
    RegionVerdict,
    ReportBody,
    ShardProgress,
    SinkFigures,
)
from shardline.stores.sqlite_control import SQLiteControlStore
from shardline.topology import parse_topology

#: A report to publish: component, body, wall-clock seconds it was published at.
Published = tuple[str, ReportBody, float]

REGIONS = [
    {"name": "us-east-1", "role": "primary", "endpoint_url": "http://127.0.0.1:4567"},
    {"name": "us-west-2", "role": "standby", "endpoint_url": "http://127.0.0.1:4568"},
]


def _health(east: HealthState, west: HealthState) -> MonitorReport:
    return MonitorReport(
        regions={
            "us-east-1": RegionVerdict(east, ok=0, errors=40, error_rate=1.0),
            "us-west-2": RegionVerdict(west, ok=40, errors=0, error_rate=0.0),
        }
    )


HEALTHY, FAILED = HealthState.HEALTHY, HealthState.FAILED


def _rendered(tmp_path: Path, reports: list[Published], processes: list[ProcessView]) -> str:
    topology = parse_topology({"regions": REGIONS, "streams": [{"name": "ticker"}]}, tmp_path)

    async def snapshot() -> StatusSnapshot:
        async with SQLiteControlStore(tmp_path / "control.db") as store:
            await store.initialize(initial_state(topology))
            for component, report, updated_at in reports:
                await store.put_report(component, report, updated_at)
            return await collect(topology, store)

    now = asyncio.run(snapshot())
    footer = Footer(tmp_path, tmp_path / "logs", "shardline status")
    console = Console(width=400, record=True)
    console.print(render(topology, now, None, processes, footer))
    return console.export_text()


def test_region_health_comes_from_the_freshest_controller_report(tmp_path: Path) -> None:
    now = time.time()
    text = _rendered(
        tmp_path,
        [
            # An earlier run's dead monitor, listed first, still says HEALTHY.
            ("monitor-a", _health(HEALTHY, HEALTHY), now - 102),
            ("monitor-b", _health(FAILED, HEALTHY), now - 0.5),
        ],
        [],
    )
    (east,) = [line for line in text.splitlines() if line.strip().startswith("│ us-east-1")]
    assert "FAILED" in east and "HEALTHY" not in east
    assert re.search(r"older controller reports ignored: monitor-a \(10\d s old\)", text)


def test_a_stale_newest_report_is_marked_with_its_age(tmp_path: Path) -> None:
    report = ("monitor-a", _health(HEALTHY, HEALTHY), time.time() - 45)
    text = _rendered(tmp_path, [report], [])
    assert re.search(r"HEALTHY \(4\d s ago\)", text)
    assert re.search(r"the newest controller report is 4\d s old", text)


def test_the_cold_standby_has_a_row_and_the_footer_says_where_things_are(tmp_path: Path) -> None:
    now = time.time()
    east = ConsumerReport(
        region="us-east-1",
        running=True,
        generation=1,
        shards={"shardId-0": ShardProgress(millis_behind=12)},
        sink=SinkFigures(applied=5, duplicates=1),
    )
    consumers: list[Published] = [
        ("consumer-east", east, now),
        ("consumer-west", ConsumerReport(region="us-west-2", running=False), now),
    ]
    restarting = ProcessView("replicator", 42, 3, False, "TopologyError: bad file")
    text = _rendered(tmp_path, consumers, [restarting])
    assert "consumer in us-east-1" in text and "lag 12 ms" in text
    assert "idle: cold standby, starts on failover" in text
    assert f"data {tmp_path}" in text and f"logs {tmp_path / 'logs'}" in text
    assert "shardline status" in text and "Ctrl-C to stop" in text
    assert "replicator restarted 3 times; its last log line: TopologyError: bad file" in text
