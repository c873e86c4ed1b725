"""SplitShard, MergeShards and UpdateShardCount: lineage, ordering and shard ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shardline.testing import RegionProcess, kinesis_client, read_shard, wait_active, wait_for

MAX = 2**128 - 1


def open_shards(kinesis: Any, name: str) -> list[dict[str, Any]]:
    shards = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"]
    return sorted(shards, key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))


def test_split_closes_parent_and_reading_it_ends_with_child_shards(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream()
    kinesis.put_record(StreamName=name, Data=b"old", PartitionKey="k")
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    shards = {s["ShardId"]: s for s in kinesis.list_shards(StreamName=name)["Shards"]}
    parent = shards["shardId-000000000000"]
    assert "EndingSequenceNumber" in parent["SequenceNumberRange"]
    children = [s for s in shards.values() if s.get("ParentShardId") == "shardId-000000000000"]
    assert [c["HashKeyRange"] for c in children] == [
        {"StartingHashKey": "0", "EndingHashKey": str(2**127 - 1)},
        {"StartingHashKey": str(2**127), "EndingHashKey": str(MAX)},
    ]
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    first = kinesis.get_records(ShardIterator=iterator)
    assert [r["Data"] for r in first["Records"]] == [b"old"]
    end = kinesis.get_records(ShardIterator=first["NextShardIterator"])
    assert end["Records"] == []
    assert "NextShardIterator" not in end
    assert sorted(c["ShardId"] for c in end["ChildShards"]) == sorted(
        c["ShardId"] for c in children
    )
    assert all(c["ParentShards"] == ["shardId-000000000000"] for c in end["ChildShards"])


def test_new_writes_go_to_children_with_higher_sequence_numbers(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream()
    before = kinesis.put_record(StreamName=name, Data=b"a", PartitionKey="k")
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    after = kinesis.put_record(StreamName=name, Data=b"b", PartitionKey="k")
    assert after["ShardId"] in ("shardId-000000000001", "shardId-000000000002")
    assert int(after["SequenceNumber"]) > int(before["SequenceNumber"])


def test_merge_child_lists_both_parents(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream(shards=2)
    kinesis.merge_shards(
        StreamName=name,
        ShardToMerge="shardId-000000000000",
        AdjacentShardToMerge="shardId-000000000001",
    )
    (child,) = open_shards(kinesis, name)
    assert child["ParentShardId"] == "shardId-000000000000"
    assert child["AdjacentParentShardId"] == "shardId-000000000001"
    assert child["HashKeyRange"] == {"StartingHashKey": "0", "EndingHashKey": str(MAX)}
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000001", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    end = kinesis.get_records(ShardIterator=iterator)
    assert end["ChildShards"][0]["ParentShards"] == [
        "shardId-000000000000",
        "shardId-000000000001",
    ]


def test_non_adjacent_merge_and_bad_split_key_are_refused(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream(shards=3)
    with pytest.raises(ClientError) as exc:
        kinesis.merge_shards(
            StreamName=name,
            ShardToMerge="shardId-000000000000",
            AdjacentShardToMerge="shardId-000000000002",
        )
    assert exc.value.response["Error"]["Code"] == "InvalidArgumentException"
    with pytest.raises(ClientError) as exc:
        kinesis.split_shard(
            StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey="0"
        )
    assert exc.value.response["Error"]["Code"] == "InvalidArgumentException"
    with pytest.raises(ClientError) as exc:
        kinesis.split_shard(
            StreamName=name, ShardToSplit="shardId-000000000009", NewStartingHashKey="5"
        )
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(("start", "target"), [(4, 3), (3, 6), (5, 4), (2, 1)])
def test_update_shard_count_leaves_uniform_open_shards(
    kinesis: Any, make_stream: Callable[..., str], start: int, target: int
) -> None:
    name = make_stream(shards=start)
    out = kinesis.update_shard_count(
        StreamName=name, TargetShardCount=target, ScalingType="UNIFORM_SCALING"
    )
    assert (out["CurrentShardCount"], out["TargetShardCount"]) == (start, target)
    shards = open_shards(kinesis, name)
    width = (MAX + 1) // target
    assert len(shards) == target
    for i, shard in enumerate(shards):
        low = int(shard["HashKeyRange"]["StartingHashKey"])
        assert low == (MAX + 1) * i // target
        assert abs(int(shard["HashKeyRange"]["EndingHashKey"]) - low + 1 - width) <= 1
    every = kinesis.list_shards(StreamName=name)["Shards"]
    for shard in every:  # lineage: at most two parents, all known
        ids = {s["ShardId"] for s in every}
        assert shard.get("ParentShardId", "shardId-000000000000") in ids
        assert shard.get("AdjacentParentShardId", "shardId-000000000000") in ids


def test_update_shard_count_limits(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream(shards=2)
    with pytest.raises(ClientError) as exc:
        kinesis.update_shard_count(
            StreamName=name, TargetShardCount=5, ScalingType="UNIFORM_SCALING"
        )
    assert exc.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert "double" in exc.value.response["Error"]["Message"]


def test_per_key_order_survives_split_and_merge(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream(shards=2)
    sent = []
    for round_ in range(3):
        for i in range(20):
            data = f"{round_}-{i}".encode()
            kinesis.put_record(StreamName=name, Data=data, PartitionKey="same-key")
            sent.append(data)
        if round_ == 0:
            kinesis.update_shard_count(
                StreamName=name, TargetShardCount=4, ScalingType="UNIFORM_SCALING"
            )
        elif round_ == 1:
            kinesis.update_shard_count(
                StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING"
            )
    # Read parents before children (by lineage), as a KCL-style consumer does.
    shards = {s["ShardId"]: s for s in kinesis.list_shards(StreamName=name)["Shards"]}
    done: set[str] = set()
    received = []
    while len(done) < len(shards):
        for shard_id, shard in sorted(shards.items()):
            parents = {shard.get("ParentShardId"), shard.get("AdjacentParentShardId")} - {None}
            if shard_id in done or not parents <= done:
                continue
            received += [
                r["Data"]
                for r in read_shard(kinesis, name, shard_id)
                if r["PartitionKey"] == "same-key"
            ]
            done.add(shard_id)
    assert received == sent


def test_list_shards_pages_with_next_token_and_filters(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream(shards=5)
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey="1000"
    )
    first = kinesis.list_shards(StreamName=name, MaxResults=3)
    assert [s["ShardId"] for s in first["Shards"]] == [f"shardId-00000000000{i}" for i in range(3)]
    second = kinesis.list_shards(NextToken=first["NextToken"], MaxResults=10)
    assert [s["ShardId"] for s in second["Shards"]][-1] == "shardId-000000000006"
    assert "NextToken" not in second
    with pytest.raises(ClientError) as exc:
        kinesis.list_shards(StreamName=name, NextToken=first["NextToken"])
    assert exc.value.response["Error"]["Message"] == (
        "NextToken and StreamName cannot be provided together."
    )
    latest = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"]
    assert "shardId-000000000000" not in {s["ShardId"] for s in latest}
    horizon = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_TRIM_HORIZON"})
    assert [s["ShardId"] for s in horizon["Shards"]] == [
        f"shardId-00000000000{i}" for i in range(5)
    ]
    after = kinesis.list_shards(
        StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000004"}
    )
    assert [s["ShardId"] for s in after["Shards"]] == [
        "shardId-000000000005",
        "shardId-000000000006",
    ]


# -- AWS's rules for SplitShard and MergeShards ----------------------------------------------

ACCOUNT = "000000000000"


def refused(call: Callable[..., Any], **params: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as exc:
        call(**params)
    error: dict[str, str] = exc.value.response["Error"]
    return error


@pytest.mark.parametrize("key", ["1", str(MAX)], ids=["start-plus-one", "end"])
def test_split_key_must_leave_each_child_more_than_one_key(
    kinesis: Any, make_stream: Callable[..., str], key: str
) -> None:
    name = make_stream()
    error = refused(
        kinesis.split_shard,
        StreamName=name,
        ShardToSplit="shardId-000000000000",
        NewStartingHashKey=key,
    )
    assert error == {
        "Code": "InvalidArgumentException",
        "Message": f"NewStartingHashKey {key} used in SplitShard() on shard shardId-000000000000 "
        f"in stream {name} under account {ACCOUNT} is not both greater than one plus the "
        f"shard's StartingHashKey 0 and less than the shard's EndingHashKey {MAX}.",
    }
    assert len(kinesis.list_shards(StreamName=name)["Shards"]) == 1


def test_split_at_the_tightest_allowed_keys(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream()
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey="2"
    )
    low, high = open_shards(kinesis, name)
    assert low["HashKeyRange"] == {"StartingHashKey": "0", "EndingHashKey": "1"}
    kinesis.split_shard(
        StreamName=name, ShardToSplit=high["ShardId"], NewStartingHashKey=str(MAX - 1)
    )
    assert [s["HashKeyRange"] for s in open_shards(kinesis, name)][1:] == [
        {"StartingHashKey": "2", "EndingHashKey": str(MAX - 2)},
        {"StartingHashKey": str(MAX - 1), "EndingHashKey": str(MAX)},
    ]


def test_merge_needs_the_adjacent_shard_to_follow(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream(shards=2)
    error = refused(
        kinesis.merge_shards,
        StreamName=name,
        ShardToMerge="shardId-000000000001",
        AdjacentShardToMerge="shardId-000000000000",
    )
    assert error == {
        "Code": "InvalidArgumentException",
        "Message": f"Shards shardId-000000000001 and shardId-000000000000 in stream {name} under "
        f"account {ACCOUNT} are not an adjacent pair of shards eligible for merging",
    }
    assert len(open_shards(kinesis, name)) == 2


def test_resharding_a_closed_shard_is_an_invalid_argument(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream(shards=2)
    kinesis.merge_shards(
        StreamName=name,
        ShardToMerge="shardId-000000000000",
        AdjacentShardToMerge="shardId-000000000001",
    )
    message = (
        f"Shard shardId-000000000000 in stream {name} under account {ACCOUNT} has already been "
        "merged or split, and thus is not eligible for merging or splitting."
    )
    split = refused(
        kinesis.split_shard, StreamName=name, ShardToSplit="shardId-0", NewStartingHashKey="100"
    )
    assert split == {"Code": "InvalidArgumentException", "Message": message}
    merge = refused(
        kinesis.merge_shards,
        StreamName=name,
        ShardToMerge="shardId-000000000000",
        AdjacentShardToMerge="shardId-000000000001",
    )
    assert merge == {"Code": "InvalidArgumentException", "Message": message}


def test_missing_shards_are_named_in_the_normal_form(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream(shards=2)
    expected = {
        "Code": "ResourceNotFoundException",
        "Message": f"Could not find shard shardId-000000000005 in stream {name} under account "
        f"{ACCOUNT}.",
    }
    split = refused(
        kinesis.split_shard, StreamName=name, ShardToSplit="shardId-5", NewStartingHashKey="100"
    )
    assert split == expected
    merge = refused(
        kinesis.merge_shards, StreamName=name, ShardToMerge="shardId-0", AdjacentShardToMerge="5"
    )
    assert merge == expected


@pytest.mark.parametrize("operation", ["split", "merge", "iterator"])
def test_an_unreadable_shard_id_is_named_even_for_a_missing_stream(
    kinesis: Any, operation: str
) -> None:
    calls = {
        "split": lambda: kinesis.split_shard(
            StreamName="no-such-stream", ShardToSplit="ABKLFD8", NewStartingHashKey="100"
        ),
        "merge": lambda: kinesis.merge_shards(
            StreamName="no-such-stream", ShardToMerge="ABKLFD8", AdjacentShardToMerge="shardId-1"
        ),
        "iterator": lambda: kinesis.get_shard_iterator(
            StreamName="no-such-stream", ShardId="ABKLFD8", ShardIteratorType="LATEST"
        ),
    }
    error = refused(calls[operation])
    assert error == {
        "Code": "ResourceNotFoundException",
        "Message": "Could not find shard ABKLFD8 in stream no-such-stream under account "
        f"{ACCOUNT}.",
    }


def test_merge_of_a_missing_stream_with_readable_ids_is_stream_not_found(kinesis: Any) -> None:
    error = refused(
        kinesis.merge_shards,
        StreamName="no-such-stream",
        ShardToMerge="shardId-0",
        AdjacentShardToMerge="shardId-1",
    )
    assert error == {
        "Code": "ResourceNotFoundException",
        "Message": f"Stream no-such-stream under account {ACCOUNT} not found.",
    }


# -- a reshard takes effect when the stream becomes ACTIVE -----------------------------------


def read_closed_shard(
    kinesis: Any, name: str, shard_id: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every record of a closed shard, and the children its end names."""
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    for _ in range(10_000):
        out = kinesis.get_records(ShardIterator=iterator)
        records.extend(out["Records"])
        iterator = out.get("NextShardIterator")
        if iterator is None:
            return records, sorted(c["ShardId"] for c in out["ChildShards"])
    raise AssertionError(f"{shard_id} never ended")


def test_while_updating_the_old_shards_are_listed_and_take_the_writes(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    # A long update delay: the stream is surely still UPDATING for the checks below.
    # The reshard then completes at once when the killed server restarts (an accepted
    # call is carried out, not forgotten).
    server = fresh_region("--create-delay-ms", "0", "--update-delay-ms", "60000")
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="slow", ShardCount=1)
    wait_active(kinesis, "slow")
    kinesis.put_record(StreamName="slow", Data=b"before", PartitionKey="k")
    kinesis.split_shard(
        StreamName="slow", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    described = kinesis.describe_stream(StreamName="slow")["StreamDescription"]
    assert described["StreamStatus"] == "UPDATING"
    assert [s["ShardId"] for s in described["Shards"]] == ["shardId-000000000000"]
    assert "EndingSequenceNumber" not in described["Shards"][0]["SequenceNumberRange"]
    listed = kinesis.list_shards(StreamName="slow", ShardFilter={"Type": "AT_LATEST"})["Shards"]
    assert [s["ShardId"] for s in listed] == ["shardId-000000000000"]
    during = kinesis.put_record(StreamName="slow", Data=b"during", PartitionKey="k")
    assert during["ShardId"] == "shardId-000000000000"

    server.kill()
    server.restart()
    wait_active(kinesis, "slow", timeout=30)
    shards = kinesis.list_shards(StreamName="slow")["Shards"]
    assert [s["ShardId"] for s in shards] == [f"shardId-00000000000{i}" for i in range(3)]
    assert "EndingSequenceNumber" in shards[0]["SequenceNumberRange"]
    records, children = read_closed_shard(kinesis, "slow", "shardId-000000000000")
    assert [r["Data"] for r in records] == [b"before", b"during"]
    assert children == ["shardId-000000000001", "shardId-000000000002"]
    after = kinesis.put_record(StreamName="slow", Data=b"after", PartitionKey="k")
    assert after["ShardId"] in ("shardId-000000000001", "shardId-000000000002")


@dataclass(frozen=True)
class Ack:
    """One record a writer's PutRecords call acknowledged."""

    started: float  # time.monotonic() when the call began
    key: str
    data: bytes
    shard_id: str
    sequence: str


def _write_until_stopped(
    url: str,
    name: str,
    key: str,
    stop: threading.Event,
    acks: list[Ack],
    errors: list[object],
) -> None:
    client = kinesis_client(url)
    for call in range(5_000):  # bounded; the test stops the writers long before
        if stop.is_set():
            return
        batch: list[dict[str, Any]] = [
            {"Data": f"{key}/{call}/{i}".encode(), "PartitionKey": key} for i in range(5)
        ]
        started = time.monotonic()
        try:
            out = client.put_records(StreamName=name, Records=batch)
        except Exception as exc:  # reported by the test, never swallowed
            errors.append(exc)
            return
        for entry, result in zip(batch, out["Records"], strict=True):
            if "ErrorCode" in result:
                errors.append(result)
            else:
                acks.append(
                    Ack(started, key, entry["Data"], result["ShardId"], result["SequenceNumber"])
                )


def _wait_for_acks_after(acks: list[Ack], moment: float, count: int = 50) -> None:
    wait_for(
        lambda: sum(1 for a in acks if a.started > moment) >= count,
        timeout=60,
        what=f"{count} records acknowledged by calls made after the moment",
    )


def test_concurrent_writers_across_split_and_merge_lose_and_duplicate_nothing(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    server = fresh_region("--create-delay-ms", "0", "--update-delay-ms", "2000")
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="busy", ShardCount=1)
    wait_active(kinesis, "busy")
    stop = threading.Event()
    acks: list[Ack] = []
    errors: list[object] = []
    keys = [f"key-{n}" for n in range(4)]
    writers = [
        threading.Thread(
            target=_write_until_stopped, args=(server.url, "busy", key, stop, acks, errors)
        )
        for key in keys
    ]
    for writer in writers:
        writer.start()
    try:
        _wait_for_acks_after(acks, 0.0)
        kinesis.split_shard(
            StreamName="busy", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
        )
        wait_active(kinesis, "busy", timeout=60)
        split_active = time.monotonic()
        _wait_for_acks_after(acks, split_active)
        kinesis.merge_shards(
            StreamName="busy",
            ShardToMerge="shardId-000000000001",
            AdjacentShardToMerge="shardId-000000000002",
        )
        wait_active(kinesis, "busy", timeout=60)
        merge_active = time.monotonic()
        _wait_for_acks_after(acks, merge_active)
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
    assert not errors

    # Read the lineage: the parent to its end, its children to their ends, the merge child.
    parent, children = read_closed_shard(kinesis, "busy", "shardId-000000000000")
    assert children == ["shardId-000000000001", "shardId-000000000002"]
    stored = {"shardId-000000000000": parent}
    for child in children:
        stored[child], merged = read_closed_shard(kinesis, "busy", child)
        assert merged == ["shardId-000000000003"]
    stored["shardId-000000000003"] = read_shard(kinesis, "busy", "shardId-000000000003")

    # Every acknowledged record is stored exactly once, where its acknowledgement said.
    located = [(shard, r["SequenceNumber"], r["Data"]) for shard, rs in stored.items() for r in rs]
    assert sorted(located) == sorted((a.shard_id, a.sequence, a.data) for a in acks)
    # Read parent first, then children (as a KCL does), each key's records come in order.
    for key in keys:
        read = [r["Data"] for rs in stored.values() for r in rs if r["PartitionKey"] == key]
        assert read == [a.data for a in acks if a.key == key]
    # Once the stream was ACTIVE again no put reached a closed parent.
    assert all(a.shard_id != "shardId-000000000000" for a in acks if a.started > split_active)
    assert all(a.shard_id == "shardId-000000000003" for a in acks if a.started > merge_active)
