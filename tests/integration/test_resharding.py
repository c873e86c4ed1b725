"""SplitShard, MergeShards and UpdateShardCount: lineage, ordering and shard ends."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from shardline.testing import read_shard

MAX = 2**128 - 1


def open_shards(kinesis, name):
    shards = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"]
    return sorted(shards, key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))


def test_split_closes_parent_and_reading_it_ends_with_child_shards(kinesis, make_stream):
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


def test_new_writes_go_to_children_with_higher_sequence_numbers(kinesis, make_stream):
    name = make_stream()
    before = kinesis.put_record(StreamName=name, Data=b"a", PartitionKey="k")
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    after = kinesis.put_record(StreamName=name, Data=b"b", PartitionKey="k")
    assert after["ShardId"] in ("shardId-000000000001", "shardId-000000000002")
    assert int(after["SequenceNumber"]) > int(before["SequenceNumber"])


def test_merge_child_lists_both_parents(kinesis, make_stream):
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


def test_non_adjacent_merge_and_bad_split_key_are_refused(kinesis, make_stream):
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
def test_update_shard_count_leaves_uniform_open_shards(kinesis, make_stream, start, target):
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


def test_update_shard_count_limits(kinesis, make_stream):
    name = make_stream(shards=2)
    with pytest.raises(ClientError) as exc:
        kinesis.update_shard_count(
            StreamName=name, TargetShardCount=5, ScalingType="UNIFORM_SCALING"
        )
    assert exc.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert "double" in exc.value.response["Error"]["Message"]


def test_per_key_order_survives_split_and_merge(kinesis, make_stream):
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


def test_list_shards_pages_with_next_token_and_filters(kinesis, make_stream):
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
