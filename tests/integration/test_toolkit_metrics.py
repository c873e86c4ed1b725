"""The toolkit's ``/metrics``: the replicator and the monitor on the topology's ports.

Real regions, a real ``shardline replicate`` and ``shardline monitor`` (logging JSON
lines), scraped with prometheus-client's parser: replication lag, watermarks and
copies per shard; region health, error rate, epoch and active region; and, after an
outage injected into the primary, the region FAILED and the failover decision.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shardline.pipeline.launch import free_port
from shardline.testing import (
    ShardlineProcess,
    kinesis_client,
    scrape_metrics,
    set_fault,
    wait_for,
)

POLICY = {
    "window_s": 4.0,
    "threshold": 0.2,
    "min_samples": 5,
    "check_interval_s": 0.5,
    "consecutive_checks": 3,
    "canary_interval_s": 0.25,
    "min_switch_interval_s": 0,
    "start_buffer_s": 2.0,
    "poll_interval_s": 0.2,
}


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@dataclass
class Running:
    east_url: str
    monitor: ShardlineProcess
    monitor_url: str
    replicator_url: str


@pytest.fixture()
def pipeline(two_regions: Any) -> Iterator[Running]:
    ports = {"monitor": free_port(), "replicator": free_port()}
    regions = two_regions({"orders": 2}, failover=POLICY, metrics=ports)
    topology = str(regions.topology_path)
    monitor = ShardlineProcess(
        "monitor", "-t", topology, "--log-format", "json", ready="monitor .* running"
    )
    replicator = ShardlineProcess(
        "replicate", "-t", topology, "--lease-failover-s", "2", ready="following the control"
    )
    with monitor, replicator:
        yield Running(
            regions.east.url,
            monitor,
            f"http://127.0.0.1:{ports['monitor']}",
            f"http://127.0.0.1:{ports['replicator']}",
        )


def test_replicator_and_monitor_serve_their_metrics_on_the_topology_ports(
    pipeline: Running,
) -> None:
    east = kinesis_client(pipeline.east_url)
    put = east.put_records(
        StreamName="orders",
        Records=[{"Data": b"order-%d" % i, "PartitionKey": f"k{i}"} for i in range(30)],
    )
    per_shard: dict[str, int] = {}
    for result in put["Records"]:
        per_shard[result["ShardId"]] = per_shard.get(result["ShardId"], 0) + 1

    run = {"stream": "orders", "source": "east", "target": "west"}

    def copied() -> dict[Any, float] | None:
        samples = scrape_metrics(pipeline.replicator_url)
        done = all(
            value(samples, "shardline_replication_records_copied_total", **run, shard=shard)
            == count
            for shard, count in per_shard.items()
        )
        return samples if done else None

    samples = wait_for(copied, 60, "the replicator's metrics to count every record copied")
    assert samples is not None  # wait_for returns the truthy value (for the type checker)
    assert value(samples, "shardline_replication_running") == 1
    assert value(samples, "shardline_replication_generation", **run) == 1
    for shard in per_shard:
        watermark = value(
            samples, "shardline_replication_watermark_timestamp_seconds", **run, shard=shard
        )
        assert watermark is not None and abs(watermark - time.time()) < 120
        assert value(samples, "shardline_replication_lag_seconds", **run, shard=shard) is not None
    # The KCL-named metrics of the replicator's worker are on the same page.
    assert any(name == "RecordsProcessed_total" for name, _ in samples)

    def healthy() -> dict[Any, float] | None:
        samples = scrape_metrics(pipeline.monitor_url)
        ok = value(samples, "shardline_canary_rounds_total", region="east", result="ok") or 0
        return samples if ok > 0 and value(samples, "shardline_control_epoch") == 1 else None

    samples = wait_for(healthy, 30, "the monitor to publish canary rounds and the epoch")
    assert samples is not None  # wait_for returns the truthy value (for the type checker)
    for region in ("east", "west"):
        assert value(samples, "shardline_region_health_state", region=region, state="HEALTHY") == 1
        assert value(samples, "shardline_region_health_state", region=region, state="FAILED") == 0
    assert value(samples, "shardline_active_region", region="east") == 1
    assert value(samples, "shardline_active_region", region="west") == 0


def test_an_outage_shows_as_failed_region_and_a_failover_decision(pipeline: Running) -> None:
    wait_for(
        lambda: value(scrape_metrics(pipeline.monitor_url), "shardline_control_epoch") == 1,
        30,
        "the monitor's first check",
    )
    set_fault(pipeline.east_url, outage=True)

    def failed_over() -> dict[Any, float] | None:
        samples = scrape_metrics(pipeline.monitor_url)
        return samples if value(samples, "shardline_control_epoch") == 2 else None

    samples = wait_for(failed_over, 60, "the failover decision in the monitor's metrics")
    assert samples is not None  # wait_for returns the truthy value (for the type checker)
    assert value(samples, "shardline_region_health_state", region="east", state="FAILED") == 1
    assert (value(samples, "shardline_region_error_rate", region="east") or 0.0) >= 0.2
    assert value(samples, "shardline_failover_decisions_total", to="west") == 1
    assert value(samples, "shardline_active_region", region="west") == 1
    wait_for(
        lambda: (
            value(scrape_metrics(pipeline.replicator_url), "shardline_replication_running") == 0
        ),
        30,
        "the replicator to stop its run after the failover",
    )
    # --log-format json: every log line the monitor wrote is one JSON object.
    logged = [json.loads(line) for line in pipeline.monitor.output if line.startswith("{")]
    assert any("FAILOVER" in entry["message"] for entry in logged)
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in logged)
