"""The report contracts: every kind survives the store's JSON, old bodies still read,
and a body of a newer version is refused instead of half-read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shardline.stores.reports import (
    STALE_AFTER_S,
    CallBucket,
    ConsumerReport,
    DecisionReport,
    DecisionTaken,
    HealthReport,
    HealthState,
    MonitorReport,
    ProducerReport,
    Published,
    RegionVerdict,
    ReplicatedShard,
    ReplicatorReport,
    ReportBody,
    ReportFormatError,
    RetentionGap,
    ShardProgress,
    SinkFigures,
)

SHARD = "shardId-000000000000"

#: Each kind as the components wrote it before reports carried a version (the
#: bodies of the writers in failover/, replication/ and stores/control.py then),
#: with the typed report it must read as.
LEGACY: list[tuple[dict[str, Any], ReportBody]] = [
    (
        {"epoch": 4, "region": "us-west-2", "since": 1700.5, "pending": 3, "held": 12},
        ProducerReport(epoch=4, region="us-west-2", since=1700.5, pending=3, held=12),
    ),
    (
        {
            "application": "ticker",
            "stream": "prices",
            "region": "us-east-1",
            "generation": 2,
            "running": True,
            "shards": {SHARD: {"millis_behind": 250, "processed_through": 1700.25}},
            "lag_ms": 250,
            "processed": 900,
            "worker": "host-1:abc",
            "sink": {"applied": 880, "stale": 5, "duplicates": 15},
        },
        ConsumerReport(
            application="ticker",
            stream="prices",
            region="us-east-1",
            generation=2,
            running=True,
            shards={SHARD: ShardProgress(millis_behind=250, processed_through=1700.25)},
            processed=900,
            worker="host-1:abc",
            sink=SinkFigures(applied=880, stale=5, duplicates=15),
        ),
    ),
    (
        {
            "source": "us-east-1",
            "target": "us-west-2",
            "stream": "prices",
            "generation": 1,
            "lag_ms": 40,
            "shards": {
                SHARD: {"sequence_number": "4955", "millis_behind": 40, "copied": 7, "skipped": 1}
            },
            "copied": 7,
            "gaps": [{"shard_id": SHARD, "checkpoint": "4900", "resumed_at": "4950"}],
        },
        ReplicatorReport(
            source="us-east-1",
            target="us-west-2",
            stream="prices",
            generation=1,
            shards={SHARD: ReplicatedShard("4955", millis_behind=40, copied=7, skipped=1)},
            gaps=(RetentionGap(SHARD, "4900", "4950"),),
        ),
    ),
    (
        {
            "epoch": 2,
            "active_region": "us-west-2",
            "regions": {
                "us-east-1": {
                    "state": "FAILED",
                    "ok": 1,
                    "errors": 99,
                    "error_rate": 0.99,
                    "canary": {"ok": False, "at": 1700.0},
                }
            },
            "decisions": [{"epoch": 2, "at": 1699.0, "to": "us-west-2", "reason": "automatic"}],
        },
        MonitorReport(
            epoch=2,
            active_region="us-west-2",
            regions={"us-east-1": RegionVerdict(HealthState.FAILED, 1, 99, 0.99, False, 1700.0)},
            decisions=(DecisionTaken(2, 1699.0, "us-west-2", "automatic"),),
        ),
    ),
    (
        {"region": "us-east-1", "calls": [[1700, 10, 0], [1701, 8, 2]]},
        HealthReport("us-east-1", (CallBucket(1700, 10, 0), CallBucket(1701, 8, 2))),
    ),
    (
        {"epoch": 3, "active_region": "us-east-1", "reason": "failback", "changed_at": 1710.0},
        DecisionReport(3, "us-east-1", "failback", 1710.0),
    ),
]

KINDS = [report for _, report in LEGACY]


def _through_json(body: dict[str, Any]) -> Any:
    """What a store hands back: the body after JSON encoding and decoding."""
    return json.loads(json.dumps(body))


@pytest.mark.parametrize("report", KINDS, ids=lambda r: r.KIND)
def test_every_kind_comes_back_from_the_store_as_it_went_in(report: ReportBody) -> None:
    body = report.to_body()
    assert body["v"] == 1
    assert type(report).from_body(_through_json(body)) == report


def test_there_is_one_contract_per_kind() -> None:
    kinds = [report.KIND for report in KINDS]
    assert sorted(kinds) == sorted(set(kinds))
    assert set(kinds) == {"producer", "consumer", "replicator", "controller", "health", "decision"}


@pytest.mark.parametrize(("legacy", "report"), LEGACY, ids=lambda x: getattr(x, "KIND", ""))
def test_a_body_written_before_versions_reads_and_is_written_the_same_again(
    legacy: dict[str, Any], report: ReportBody
) -> None:
    assert type(report).from_body(legacy) == report
    assert report.to_body() == {"v": 1, **legacy}  # the stored form did not change


@pytest.mark.parametrize("report", KINDS, ids=lambda r: r.KIND)
def test_a_body_of_a_newer_version_is_refused_with_what_to_do(report: ReportBody) -> None:
    newer = {**report.to_body(), "v": 2}
    with pytest.raises(ReportFormatError, match=r"version 2.*upgrade this component"):
        type(report).from_body(newer)


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True, None])
def test_a_version_that_is_no_version_is_refused(version: object) -> None:
    with pytest.raises(ReportFormatError, match="not a report version"):
        ProducerReport.from_body({"v": version, "epoch": 1})


def test_fields_an_older_writer_did_not_write_take_their_defaults() -> None:
    # A producer before it reported since when it sends; a monitor before canaries.
    producer = ProducerReport.from_body({"epoch": 2, "region": "east", "pending": 0, "held": 0})
    assert producer == ProducerReport(epoch=2, region="east")
    monitor = MonitorReport.from_body(
        {"epoch": 1, "active_region": "east", "regions": {"east": {"state": "HEALTHY"}}}
    )
    east = monitor.regions["east"]
    assert east.state is HealthState.HEALTHY and (east.canary_ok, east.canary_at) == (None, None)
    assert ConsumerReport.from_body({"region": "west", "running": False}).sink is None


@pytest.mark.parametrize(
    ("report_type", "body", "complaint"),
    [
        (ProducerReport, {"epoch": "three"}, "epoch = 'three' is not an integer"),
        (ProducerReport, ["not", "an", "object"], "is not a JSON object"),
        (ConsumerReport, {"running": "yes"}, "running = 'yes' is not true or false"),
        (ConsumerReport, {"shards": {SHARD: {"millis_behind": 1.5}}}, "is not an integer"),
        (HealthReport, {"calls": [[1700, 1]]}, r"is not \[second, ok, errors\]"),
        (MonitorReport, {"regions": {"east": {"state": "SORT_OF"}}}, "is not a health state"),
        (DecisionReport, {"active_region": "east"}, "no epoch"),
    ],
)
def test_a_malformed_body_is_refused_naming_the_field(
    report_type: type[ReportBody], body: object, complaint: str
) -> None:
    with pytest.raises(ReportFormatError, match=complaint):
        report_type.from_body(body)


def test_derived_figures_follow_the_shards() -> None:
    consumer = ConsumerReport(shards={"a": ShardProgress(30), "b": ShardProgress(70)})
    replicator = ReplicatorReport(
        shards={"a": ReplicatedShard(copied=3, millis_behind=5), "b": ReplicatedShard(copied=4)}
    )
    assert (consumer.lag_ms, replicator.lag_ms, replicator.copied) == (70, 5, 7)
    assert ConsumerReport().lag_ms == 0


def test_a_report_is_stale_once_it_is_stale_after_seconds_old() -> None:
    report = Published("p1", ProducerReport(), updated_at=1000.0)
    assert not report.stale(1000.0 + STALE_AFTER_S - 0.1)
    assert report.stale(1000.0 + STALE_AFTER_S)
