"""``GET /metrics`` on a real region: counters against the records actually put and read.

Each test uses its own stream on the session's server (or a server of its own when it
needs other flags), scrapes with urllib and parses with prometheus-client's own text
parser, so what is checked is what Prometheus would store.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from shardline.testing import (
    RegionProcess,
    Samples,
    kinesis_client,
    scrape_metrics,
    wait_active,
    wait_for,
)


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
    return scrape_metrics(url)


def stream_value(samples: dict[Any, float], name: str, stream: str) -> float:
    return samples[(name, (("stream", stream),))]


def shard_samples(samples: dict[Any, float], stream: str) -> dict[tuple[str, str], float]:
    """``(sample name, shard) -> value`` of every shard-level sample of ``stream``."""
    out: dict[tuple[str, str], float] = {}
    for (name, labels), value in samples.items():
        label = dict(labels)
        if name.startswith("kinesis_shard_") and label.get("stream") == stream:
            out[(name, label["shard"])] = value
    return out


def read_all(kinesis: Any, stream: str) -> tuple[list[dict[str, Any]], int]:
    """Every record of every shard, and how many GetRecords calls that took."""
    records, calls = [], 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            out = kinesis.get_records(ShardIterator=iterator, Limit=7)
            calls += 1
            records.extend(out["Records"])
            if not out["Records"] and out["MillisBehindLatest"] == 0:
                break
            iterator = out["NextShardIterator"]
    return records, calls


def test_stream_counters_match_the_records_put_and_read(
    region: RegionProcess, kinesis: Any, make_stream: Callable[..., str]
) -> None:
    stream = make_stream(shards=2)
    batch = [{"Data": b"x" * (i + 1), "PartitionKey": f"key-{i}"} for i in range(25)]
    singles = [(b"single-%d" % i, f"pk{i}") for i in range(3)]
    assert kinesis.put_records(StreamName=stream, Records=batch)["FailedRecordCount"] == 0
    for data, key in singles:
        kinesis.put_record(StreamName=stream, Data=data, PartitionKey=key)
    batch_bytes = sum(len(r["Data"]) + len(r["PartitionKey"]) for r in batch)
    single_bytes = sum(len(d) + len(k) for d, k in singles)
    records, calls = read_all(kinesis, stream)
    assert len(records) == 28

    samples = scrape(region.url)

    def value(name: str) -> float:
        return stream_value(samples, name, stream)

    assert value("kinesis_incoming_records_total") == 28
    assert value("kinesis_incoming_bytes_total") == batch_bytes + single_bytes
    assert value("kinesis_put_records_records_total") == 25
    assert value("kinesis_put_records_entries_total") == 25
    assert value("kinesis_put_records_bytes_total") == batch_bytes
    assert value("kinesis_put_records_success_total") == 1
    assert value("kinesis_put_records_latency_seconds_count") == 1
    assert value("kinesis_put_records_throttled_records_total") == 0
    assert value("kinesis_put_records_failed_records_total") == 0
    assert value("kinesis_put_record_success_total") == 3
    assert value("kinesis_put_record_bytes_total") == single_bytes
    assert value("kinesis_put_record_latency_seconds_count") == 3
    assert value("kinesis_get_records_records_total") == 28
    assert value("kinesis_get_records_bytes_total") == batch_bytes + single_bytes
    assert value("kinesis_get_records_success_total") == calls
    assert value("kinesis_get_records_latency_seconds_count") == calls
    assert value("kinesis_get_records_iterator_age_seconds") == 0
    # No shard-level metric without EnableEnhancedMonitoring.
    assert shard_samples(samples, stream) == {}
    # The process metrics are there too.
    assert samples[("shardline_storage_commit_seconds_count", ())] > 0
    assert samples[("shardline_storage_database_bytes", ())] > 0
    assert samples[("shardline_http_open_connections", (("protocol", "http1"),))] >= 1


def test_shard_level_metrics_appear_only_after_enable_enhanced_monitoring(
    region: RegionProcess, kinesis: Any, make_stream: Callable[..., str]
) -> None:
    stream = make_stream(shards=2)
    kinesis.put_records(StreamName=stream, Records=[{"Data": b"before", "PartitionKey": "a"}] * 3)
    assert shard_samples(scrape(region.url), stream) == {}

    kinesis.enable_enhanced_monitoring(
        StreamName=stream, ShardLevelMetrics=["IncomingRecords", "IncomingBytes"]
    )
    put = kinesis.put_records(
        StreamName=stream,
        Records=[{"Data": b"d" * 10, "PartitionKey": f"k{i}"} for i in range(40)],
    )
    per_shard: dict[str, int] = {}
    bytes_per_shard: dict[str, int] = {}
    for i, result in enumerate(put["Records"]):
        shard = result["ShardId"]
        per_shard[shard] = per_shard.get(shard, 0) + 1
        bytes_per_shard[shard] = bytes_per_shard.get(shard, 0) + 10 + len(f"k{i}")
    samples = shard_samples(scrape(region.url), stream)
    shards = ["shardId-000000000000", "shardId-000000000001"]
    assert set(samples) == {
        (name, shard)
        for name in ("kinesis_shard_incoming_records_total", "kinesis_shard_incoming_bytes_total")
        for shard in shards
    }
    for shard in shards:
        # Counted from the moment monitoring was enabled, as on AWS.
        assert samples[("kinesis_shard_incoming_records_total", shard)] == per_shard.get(shard, 0)
        assert samples[("kinesis_shard_incoming_bytes_total", shard)] == bytes_per_shard.get(
            shard, 0
        )

    kinesis.disable_enhanced_monitoring(StreamName=stream, ShardLevelMetrics=["ALL"])
    assert shard_samples(scrape(region.url), stream) == {}


def test_fan_out_events_and_resubscribe_refusals_are_counted(
    region: RegionProcess, kinesis: Any, make_stream: Callable[..., str]
) -> None:
    stream = make_stream(shards=1)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="metrics")
    consumer_arn = consumer["Consumer"]["ConsumerARN"]
    wait_for(
        lambda: (
            kinesis.describe_stream_consumer(ConsumerARN=consumer_arn)["ConsumerDescription"][
                "ConsumerStatus"
            ]
            == "ACTIVE"
        ),
        what="the consumer to become ACTIVE",
    )
    data = [b"event-%02d" % i for i in range(12)]
    kinesis.put_records(StreamName=stream, Records=[{"Data": d, "PartitionKey": "p"} for d in data])
    subscription = kinesis.subscribe_to_shard(
        ConsumerARN=consumer_arn,
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "TRIM_HORIZON"},
    )
    received, events = 0, 0
    for event in subscription["EventStream"]:
        if "SubscribeToShardEvent" in event:
            events += 1
            received += len(event["SubscribeToShardEvent"]["Records"])
            if received == len(data):
                break
    with pytest.raises(kinesis.exceptions.ResourceInUseException):
        kinesis.subscribe_to_shard(
            ConsumerARN=consumer_arn,
            ShardId="shardId-000000000000",
            StartingPosition={"Type": "TRIM_HORIZON"},
        )
    subscription["EventStream"].close()

    samples = scrape(region.url)

    def value(name: str) -> float:
        return stream_value(samples, name, stream)

    assert value("kinesis_subscribe_to_shard_event_records_total") == len(data)
    assert value("kinesis_subscribe_to_shard_event_bytes_total") == sum(len(d) + 1 for d in data)
    assert value("kinesis_subscribe_to_shard_event_success_total") >= events
    assert value("kinesis_subscribe_to_shard_rate_exceeded_total") == 1


def test_throttled_writes_are_counted_per_stream(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    region = fresh_region("--create-delay-ms", "0", "--enforce-throughput")
    kinesis = kinesis_client(region.url)
    kinesis.create_stream(StreamName="limited", ShardCount=1)
    wait_active(kinesis, "limited")
    stored = refused = 0
    for _ in range(3):  # 1,500 records at once: a shard admits 1,000 per second
        out = kinesis.put_records(
            StreamName="limited", Records=[{"Data": b"t", "PartitionKey": "k"}] * 500
        )
        refused += out["FailedRecordCount"]
        stored += 500 - out["FailedRecordCount"]
    assert refused > 0

    samples = scrape(region.url)

    def value(name: str) -> float:
        return stream_value(samples, name, "limited")

    assert value("kinesis_put_records_throttled_records_total") == refused
    assert value("kinesis_write_provisioned_throughput_exceeded_total") == refused
    assert value("kinesis_put_records_records_total") == stored
    assert value("kinesis_incoming_records_total") == stored
    assert value("kinesis_put_records_entries_total") == 1500
