"""Domain objects → Kinesis output shapes (the one mapping layer)."""

from __future__ import annotations

from typing import Any

from shardline.server.protocol import Timestamp
from shardline.storage.account import Commitment
from shardline.storage.catalog import Shard, Stream, shard_id


def hash_range(shard: Shard) -> dict[str, str]:
    return {"StartingHashKey": str(shard.start_hash), "EndingHashKey": str(shard.end_hash)}


def shard_shape(shard: Shard) -> dict[str, Any]:
    out: dict[str, Any] = {"ShardId": shard.shard_id}
    if shard.parent is not None:
        out["ParentShardId"] = shard_id(shard.parent)
    if shard.adjacent_parent is not None:
        out["AdjacentParentShardId"] = shard_id(shard.adjacent_parent)
    out["HashKeyRange"] = hash_range(shard)
    sequence: dict[str, str] = {"StartingSequenceNumber": shard.starting_sequence}
    ending = shard.ending_sequence
    if ending is not None:
        sequence["EndingSequenceNumber"] = ending
    out["SequenceNumberRange"] = sequence
    return out


def child_shape(shard: Shard) -> dict[str, Any]:
    parents = [shard_id(p) for p in (shard.parent, shard.adjacent_parent) if p is not None]
    return {"ShardId": shard.shard_id, "ParentShards": parents, "HashKeyRange": hash_range(shard)}


def monitoring(stream: Stream) -> list[dict[str, Any]]:
    return [{"ShardLevelMetrics": list(stream.shard_level_metrics)}]


def encryption(stream: Stream) -> dict[str, Any]:
    out: dict[str, Any] = {"EncryptionType": stream.encryption}
    if stream.key_id is not None:
        out["KeyId"] = stream.key_id
    return out


def stream_summary(stream: Stream) -> dict[str, Any]:
    return {
        "StreamName": stream.name,
        "StreamARN": stream.arn,
        "StreamStatus": stream.status,
        "StreamModeDetails": {"StreamMode": stream.mode},
        "StreamCreationTimestamp": Timestamp.from_ms(stream.created_ms),
    }


def warm_throughput(stream: Stream) -> dict[str, Any]:
    """``WarmThroughput``, for an on-demand stream that was given a target."""
    if stream.warm_target_mibps is None:
        return {}
    shape = {"TargetMiBps": stream.warm_target_mibps}
    if stream.warm_current_mibps is not None:
        shape["CurrentMiBps"] = stream.warm_current_mibps
    return {"WarmThroughput": shape}


def commitment_shape(commitment: Commitment, now_ms: int) -> dict[str, Any]:
    """``MinimumThroughputBillingCommitment`` as DescribeAccountSettings reports it."""
    out: dict[str, Any] = {"Status": commitment.status(now_ms)}
    instants = (
        ("StartedAt", commitment.started_ms),
        ("EndedAt", commitment.ended_ms),
        ("EarliestAllowedEndAt", commitment.earliest_end_ms),
    )
    for name, epoch_ms in instants:
        if epoch_ms is not None:
            out[name] = Timestamp.from_ms(epoch_ms)
    return out
