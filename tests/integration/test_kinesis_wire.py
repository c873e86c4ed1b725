"""The wire layer against a real region: shard listings across pages, waiting for ACTIVE."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shardline.kinesis import (
    Endpoint,
    NotActiveError,
    ShardInfo,
    connect,
    list_all_shards,
    wait_stream_active,
)
from shardline.testing import RegionProcess, kinesis_client, wait_active

#: One more than a ListShards page holds by default, so a listing takes two pages.
PAGE = 1000


def _list(url: str, stream: str, shard_filter: dict[str, Any] | None = None) -> list[ShardInfo]:
    async def run() -> list[ShardInfo]:
        async with connect(Endpoint(endpoint_url=url)) as client:
            return await list_all_shards(client, stream, shard_filter)

    return asyncio.run(run())


@pytest.fixture(scope="module")
def wide_stream(region: RegionProcess) -> str:
    """A stream with more shards than one ListShards page, one of them split."""
    kinesis = kinesis_client(region.url)
    name = f"wide-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=PAGE + 1)
    wait_active(kinesis, name, timeout=120)
    first = kinesis.list_shards(StreamName=name, MaxResults=1)["Shards"][0]
    low, high = (int(first["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
    kinesis.split_shard(
        StreamName=name, ShardToSplit=first["ShardId"], NewStartingHashKey=str((low + high) // 2)
    )
    wait_active(kinesis, name, timeout=120)
    return name


def test_every_shard_is_listed_across_pages(region: RegionProcess, wide_stream: str) -> None:
    page = kinesis_client(region.url).list_shards(StreamName=wide_stream)
    assert "NextToken" in page  # the listing below really spans pages
    shards = _list(region.url, wide_stream)
    assert len(shards) == PAGE + 3  # the split parent and its two children
    assert len({shard.shard_id for shard in shards}) == len(shards)


def test_a_filter_applies_to_every_page(region: RegionProcess, wide_stream: str) -> None:
    """ShardFilter goes on the first call only (Kinesis refuses it beside NextToken)."""
    shards = _list(region.url, wide_stream, {"Type": "AT_LATEST"})
    assert len(shards) == PAGE + 2  # the closed parent is left out
    assert all(shard.is_open for shard in shards)


def test_a_split_is_parsed_into_a_closed_parent_and_two_children(
    region: RegionProcess, wide_stream: str
) -> None:
    shards = _list(region.url, wide_stream)
    (parent,) = [shard for shard in shards if not shard.is_open]
    children = sorted(
        (shard for shard in shards if shard.parents == {parent.shard_id}),
        key=lambda shard: shard.starting_hash_key,
    )
    assert len(children) == 2
    assert children[0].starting_hash_key == parent.starting_hash_key
    assert children[0].ending_hash_key + 1 == children[1].starting_hash_key
    assert children[1].ending_hash_key == parent.ending_hash_key
    assert parent.ending_sequence is not None


def test_wait_stream_active_returns_once_a_slow_stream_is_active(fresh_region: Any) -> None:
    slow = fresh_region("--create-delay-ms", "300")
    kinesis = kinesis_client(slow.url)
    kinesis.create_stream(StreamName="slow", ShardCount=1)

    async def run() -> None:
        async with connect(Endpoint(endpoint_url=slow.url)) as client:
            await wait_stream_active(client, "slow", timeout_s=60)

    asyncio.run(run())
    summary = kinesis.describe_stream_summary(StreamName="slow")["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"


def test_wait_stream_active_gives_up_with_an_error_that_names_the_stream(
    fresh_region: Any,
) -> None:
    stuck = fresh_region("--create-delay-ms", "600000")
    kinesis_client(stuck.url).create_stream(StreamName="stuck", ShardCount=1)

    async def run() -> None:
        async with connect(Endpoint(endpoint_url=stuck.url)) as client:
            await wait_stream_active(client, "stuck", timeout_s=0.5)

    with pytest.raises(NotActiveError, match="stream stuck is still CREATING"):
        asyncio.run(run())
