"""The catalog a region's parts share, and the reading of a request's stream name.

A real region on a temporary directory: the catalog persists through the real engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from shardline.errors import (
    InvalidArgumentException,
    ResourceNotFoundException,
    ValidationException,
)
from shardline.server.handlers.params import stream_name
from shardline.storage.config import RegionConfig
from shardline.storage.region import Region

ACCOUNT = "123456789012"
ARN = f"arn:aws:kinesis:eu-west-1:{ACCOUNT}:stream/"


def config(data_dir: Path) -> RegionConfig:
    return RegionConfig(data_dir=data_dir, region="eu-west-1", account_id=ACCOUNT, create_delay_s=0)


@pytest.fixture
def region(tmp_path: Path) -> Iterator[Region]:
    opened = Region(config(tmp_path))
    yield opened
    asyncio.run(opened.close())


def test_a_request_names_its_stream_by_name_or_by_this_regions_arn(region: Region) -> None:
    assert stream_name(region, {"StreamName": "orders"}) == "orders"
    assert stream_name(region, {"StreamARN": ARN + "orders"}) == "orders"
    assert stream_name(region, {"StreamARN": ARN + "orders", "StreamName": "orders"}) == "orders"


def test_an_arn_of_another_account_names_no_stream_before_any_other_check(
    region: Region,
) -> None:
    other = "arn:aws:kinesis:eu-west-1:999999999999:stream/orders"
    with pytest.raises(ResourceNotFoundException) as raised:
        stream_name(region, {"StreamARN": other, "StreamName": "payments"})
    assert raised.value.message == f"Stream orders under account {ACCOUNT} not found."


def test_an_arn_and_a_name_that_disagree_are_refused(region: Region) -> None:
    with pytest.raises(InvalidArgumentException) as raised:
        stream_name(region, {"StreamARN": ARN + "orders", "StreamName": "payments"})
    assert raised.value.message == "StreamARN and StreamName must refer to the same stream."


def test_a_request_naming_no_stream_is_a_validation_error(region: Region) -> None:
    with pytest.raises(ValidationException) as raised:
        stream_name(region, {})
    assert raised.value.message == "Either StreamName or StreamARN should be provided."


def test_streams_and_their_shard_uids_survive_a_restart(tmp_path: Path) -> None:
    async def create(names: list[str]) -> list[int]:
        region = Region(config(tmp_path))
        try:
            for name in names:
                await region.create_stream(name, 2, "PROVISIONED", {}, None)
            return sorted(s.uid for st in region.streams.values() for s in st.shards.values())
        finally:
            await region.close()

    first = asyncio.run(create(["orders"]))
    both = asyncio.run(create(["payments"]))
    assert len(both) == 4 and both[:2] == first
    assert min(both[2:]) > max(first)  # the counter went on from where it was saved
