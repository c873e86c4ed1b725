"""PutRecord(s), GetShardIterator and GetRecords against a real server process."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shardline.testing import RegionProcess, read_shard


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_put_records_reports_each_entry_and_get_returns_them_in_order(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream(shards=2)
    records: list[dict[str, Any]] = [
        {"Data": f"r{i}".encode(), "PartitionKey": f"k{i % 7}"} for i in range(300)
    ]
    out = kinesis.put_records(StreamName=name, Records=records)
    assert out["FailedRecordCount"] == 0
    assert len(out["Records"]) == 300
    assert all(len(r["SequenceNumber"]) == 56 for r in out["Records"])
    by_shard: dict[str, list[str]] = {}
    for entry, result in zip(records, out["Records"], strict=True):
        by_shard.setdefault(result["ShardId"], []).append(entry["Data"].decode())
    for shard_id, expected in by_shard.items():
        got = read_shard(kinesis, name, shard_id)
        assert [r["Data"].decode() for r in got] == expected
        sequences = [int(r["SequenceNumber"]) for r in got]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


def test_partition_key_md5_decides_the_shard(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream(shards=4)
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    for key in ("alpha", "beta", "gamma", "delta", "epsilon"):
        out = kinesis.put_record(StreamName=name, Data=b"x", PartitionKey=key)
        hashed = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
        owner = next(
            s["ShardId"]
            for s in shards
            if int(s["HashKeyRange"]["StartingHashKey"])
            <= hashed
            <= int(s["HashKeyRange"]["EndingHashKey"])
        )
        assert out["ShardId"] == owner


def test_any_partition_key_and_payload_come_back_exactly(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    """Keys JSON must escape or that are not ASCII, and payloads of every length
    modulo 3 (base64's padding), through PutRecords and GetRecords: each record is
    routed by the MD5 of its key's UTF-8 and read back byte for byte."""
    name = make_stream(shards=4)
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    keys = ['quote"d', "back\\slash", "new\nline", "tab\t", "nul\x00", "bell\x07", "del\x7f"]
    keys += ["/slash", "é", "日本語", "😀 emoji", "k" * 256, "\u2028 separator"]
    records: list[dict[str, Any]] = [
        {"Data": bytes((i * 7 + j) % 256 for j in range(i % 7)), "PartitionKey": key}
        for i, key in enumerate(keys * 3)
    ]
    out = kinesis.put_records(StreamName=name, Records=records)
    assert out["FailedRecordCount"] == 0
    expected: dict[str, list[tuple[str, bytes]]] = {}
    for record, result in zip(records, out["Records"], strict=True):
        hashed = int.from_bytes(hashlib.md5(record["PartitionKey"].encode()).digest(), "big")
        owner = next(
            s["ShardId"]
            for s in shards
            if int(s["HashKeyRange"]["StartingHashKey"])
            <= hashed
            <= int(s["HashKeyRange"]["EndingHashKey"])
        )
        assert result["ShardId"] == owner, record["PartitionKey"]
        expected.setdefault(owner, []).append((record["PartitionKey"], record["Data"]))
    for shard_id, stored in expected.items():
        got = read_shard(kinesis, name, shard_id)
        assert [(r["PartitionKey"], r["Data"]) for r in got] == stored


def test_explicit_hash_key_overrides_the_partition_key(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream(shards=4)
    out = kinesis.put_record(
        StreamName=name, Data=b"x", PartitionKey="whatever", ExplicitHashKey=str(2**128 - 1)
    )
    assert out["ShardId"] == "shardId-000000000003"
    out = kinesis.put_records(
        StreamName=name,
        Records=[{"Data": b"y", "PartitionKey": "p", "ExplicitHashKey": "0"}],
    )
    assert out["Records"][0]["ShardId"] == "shardId-000000000000"


def test_iterator_types_position_reads(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream()
    shard = "shardId-000000000000"
    seqs = [
        kinesis.put_record(StreamName=name, Data=str(i).encode(), PartitionKey="k")[
            "SequenceNumber"
        ]
        for i in range(5)
    ]
    at = read_shard(kinesis, name, shard, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2])
    assert [r["Data"] for r in at] == [b"2", b"3", b"4"]
    after = read_shard(
        kinesis, name, shard, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2]
    )
    assert [r["Data"] for r in after] == [b"3", b"4"]
    latest = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    assert kinesis.get_records(ShardIterator=latest)["Records"] == []
    kinesis.put_record(StreamName=name, Data=b"new", PartitionKey="k")
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=latest)["Records"]] == [b"new"]


def test_at_timestamp_starts_at_the_first_record_arriving_at_or_after_it(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream()
    kinesis.put_record(StreamName=name, Data=b"before", PartitionKey="k")
    time.sleep(0.05)
    cut = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    kinesis.put_record(StreamName=name, Data=b"after", PartitionKey="k")
    got = read_shard(kinesis, name, "shardId-000000000000", "AT_TIMESTAMP", Timestamp=cut)
    assert [r["Data"] for r in got] == [b"after"]
    assert got[0]["ApproximateArrivalTimestamp"] >= cut


def test_limit_and_millis_behind_latest(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream()
    kinesis.put_records(
        StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"} for _ in range(10)]
    )
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    first = kinesis.get_records(ShardIterator=iterator, Limit=4)
    assert len(first["Records"]) == 4
    rest = kinesis.get_records(ShardIterator=first["NextShardIterator"], Limit=100)
    assert len(rest["Records"]) == 6
    assert rest["MillisBehindLatest"] == 0
    assert rest["NextShardIterator"]


def test_get_records_returns_at_most_10_mib(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream()
    blob = b"z" * (1024 * 1024 - 10)
    for _ in range(12):
        kinesis.put_record(StreamName=name, Data=blob, PartitionKey="k")
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out = kinesis.get_records(ShardIterator=iterator)
    assert 1 <= len(out["Records"]) <= 10
    assert sum(len(r["Data"]) for r in out["Records"]) <= 10 * 1024 * 1024
    assert out["MillisBehindLatest"] > 0 or len(out["Records"]) < 12


def test_sequence_number_from_another_shard_is_refused(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream(shards=2)
    seq = kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k", ExplicitHashKey="0")[
        "SequenceNumber"
    ]
    with pytest.raises(ClientError) as exc:
        kinesis.get_shard_iterator(
            StreamName=name,
            ShardId="shardId-000000000001",
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=seq,
        )
    assert error_code(exc) == "InvalidArgumentException"
    assert "It encodes shardId-000000000000" in exc.value.response["Error"]["Message"]


def test_writes_to_missing_or_creating_streams_are_not_found(
    kinesis: Any, fresh_region: Callable[..., RegionProcess]
) -> None:
    with pytest.raises(ClientError) as exc:
        kinesis.put_record(StreamName="does-not-exist", Data=b"x", PartitionKey="k")
    assert error_code(exc) == "ResourceNotFoundException"
    assert exc.value.response["Error"]["Message"] == (
        "Stream does-not-exist under account 000000000000 not found."
    )
    slow = fresh_region("--create-delay-ms", "600000")  # CREATING throughout
    from shardline.testing import kinesis_client

    client = kinesis_client(slow.url)
    client.create_stream(StreamName="slow", ShardCount=1)
    assert (
        client.describe_stream_summary(StreamName="slow")["StreamDescriptionSummary"][
            "StreamStatus"
        ]
        == "CREATING"
    )
    with pytest.raises(ClientError) as exc:
        client.put_record(StreamName="slow", Data=b"x", PartitionKey="k")
    assert error_code(exc) == "ResourceNotFoundException"


def test_throughput_enforcement_throttles_per_shard(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    from shardline.testing import kinesis_client, wait_active

    server = fresh_region("--create-delay-ms", "0", "--enforce-throughput")
    client = kinesis_client(server.url)
    client.create_stream(StreamName="t", ShardCount=1)
    wait_active(client, "t")
    # One call of 2 MiB against the shard's 1 MiB/s: about half the records fit, the
    # rest are throttled within this call, however slow the machine is.
    records: list[dict[str, Any]] = [{"Data": b"x" * 4096, "PartitionKey": "k"} for _ in range(500)]
    outcome = client.put_records(StreamName="t", Records=records)
    assert 200 < outcome["FailedRecordCount"] < 300
    throttled = [r for r in outcome["Records"] if "ErrorCode" in r]
    assert throttled[0]["ErrorCode"] == "ProvisionedThroughputExceededException"
    assert "Rate exceeded for shard shardId-000000000000" in throttled[0]["ErrorMessage"]
