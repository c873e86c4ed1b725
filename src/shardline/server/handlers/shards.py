"""Shard listing and resharding operations."""

from __future__ import annotations

from typing import Any

from shardline.errors import InvalidArgumentException, ResourceNotFoundException
from shardline.server.handlers import operation
from shardline.server.handlers.params import stream_name
from shardline.server.handlers.shapes import shard_shape
from shardline.storage.catalog import Shard, Stream, parse_shard_id
from shardline.storage.region import Region
from shardline.storage.sequence import arrival_ms, now_ms

LIST_SHARDS_DEFAULT_LIMIT = 1000
_EXCLUSIVE_WITH_TOKEN = (
    "StreamName",
    "StreamARN",
    "ExclusiveStartShardId",
    "ShardFilter",
    "StreamCreationTimestamp",
)


def _closed_after(shard: Shard, epoch_ms: int) -> bool:
    return shard.closed_key is None or arrival_ms(shard.closed_key) > epoch_ms


def _filtered(region: Region, stream: Stream, kind: str | None, ts: float | None) -> list[Shard]:
    """The shards a ShardFilter of ``kind`` selects, ordered by shard id."""
    shards = sorted(stream.shards.values(), key=lambda s: s.index)
    if kind is None or kind in ("AFTER_SHARD_ID", "FROM_TRIM_HORIZON"):
        return shards
    if kind == "AT_LATEST":
        return [s for s in shards if s.is_open]
    if kind == "AT_TRIM_HORIZON":
        at = max(region.trim_horizon_ms(stream), stream.created_ms)
        return [s for s in shards if s.open_at(at)]
    assert ts is not None
    at = max(int(ts * 1000), stream.created_ms)
    if at > now_ms():
        return [s for s in shards if s.is_open]
    if kind == "AT_TIMESTAMP":
        return [s for s in shards if s.open_at(at)]
    return [s for s in shards if _closed_after(s, at)]  # FROM_TIMESTAMP


@operation("ListShards")
async def list_shards(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    token = p.get("NextToken")
    if token is not None:
        for member in _EXCLUSIVE_WITH_TOKEN:
            if member in p:
                raise InvalidArgumentException(
                    f"NextToken and {member} cannot be provided together."
                )
        name, created, after_text, kind_text, ts_text = region.signer.open_next_token(
            "ListShards", token
        )
        stream = region.describe(name)
        if str(stream.created_ms) != created:
            raise ResourceNotFoundException(
                f"Stream {name} under account {region.account} not found."
            )
        after = int(after_text)
        kind = kind_text or None
        ts = float(ts_text) if ts_text else None
    else:
        if "StreamName" not in p and "StreamARN" not in p:
            raise InvalidArgumentException("Either NextToken or StreamName should be provided.")
        stream = region.describe(stream_name(region, p))
        created_ts = p.get("StreamCreationTimestamp")
        if created_ts is not None and int(created_ts * 1000) != stream.created_ms:
            raise ResourceNotFoundException(
                f"Stream {stream.name} under account {region.account} not found."
            )
        start = p.get("ExclusiveStartShardId")
        after = -1 if start is None else _index_or(start, -1)
        shard_filter = p.get("ShardFilter")
        kind, ts = None, None
        if shard_filter is not None:
            kind, ts = _check_filter(shard_filter)
            if kind == "AFTER_SHARD_ID":
                after = max(after, _index_or(shard_filter["ShardId"], -1))
    if stream.status == "CREATING":
        raise region.not_found(stream.name)
    shards = [s for s in _filtered(region, stream, kind, ts) if s.index > after]
    limit = p.get("MaxResults", LIST_SHARDS_DEFAULT_LIMIT)
    page = shards[:limit]
    out: dict[str, Any] = {"Shards": [shard_shape(s) for s in page]}
    if len(shards) > limit:
        out["NextToken"] = region.signer.next_token(
            "ListShards",
            stream.name,
            str(stream.created_ms),
            str(page[-1].index),
            kind or "",
            "" if ts is None else repr(ts),
        )
    return out


def _index_or(text: str, default: int) -> int:
    index = parse_shard_id(text)
    return default if index is None else index


def _check_filter(shard_filter: dict[str, Any]) -> tuple[str, float | None]:
    kind = shard_filter["Type"]
    if kind == "AFTER_SHARD_ID" and "ShardId" not in shard_filter:
        raise InvalidArgumentException("ShardId is required for the AFTER_SHARD_ID ShardFilter.")
    if kind != "AFTER_SHARD_ID" and "ShardId" in shard_filter:
        raise InvalidArgumentException(f"ShardId cannot be provided with the {kind} ShardFilter.")
    timed = kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP")
    if timed and "Timestamp" not in shard_filter:
        raise InvalidArgumentException(f"Timestamp is required for the {kind} ShardFilter.")
    if not timed and "Timestamp" in shard_filter:
        raise InvalidArgumentException(f"Timestamp cannot be provided with the {kind} ShardFilter.")
    return kind, shard_filter.get("Timestamp")


@operation("SplitShard")
async def split_shard(region: Region, p: dict[str, Any]) -> None:
    await region.split_shard(
        stream_name(region, p), p["ShardToSplit"], int(p["NewStartingHashKey"])
    )


@operation("MergeShards")
async def merge_shards(region: Region, p: dict[str, Any]) -> None:
    await region.merge_shards(stream_name(region, p), p["ShardToMerge"], p["AdjacentShardToMerge"])


@operation("UpdateShardCount")
async def update_shard_count(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    name = stream_name(region, p)
    target = p["TargetShardCount"]
    current = await region.update_shard_count(name, target)
    return {
        "StreamName": name,
        "StreamARN": region.describe(name).arn,
        "CurrentShardCount": current,
        "TargetShardCount": target,
    }
