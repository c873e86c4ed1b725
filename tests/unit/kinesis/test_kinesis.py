"""The wire layer's pure parts: ShardInfo parsing and Endpoint client arguments."""

from __future__ import annotations

import pytest

from shardline.credentials import StaticCredentials
from shardline.kinesis import Endpoint, ShardInfo

MAX = str(2**128 - 1)


def _shard(shard_id: str, low: str, high: str, **extra: object) -> dict[str, object]:
    return {
        "ShardId": shard_id,
        "HashKeyRange": {"StartingHashKey": low, "EndingHashKey": high},
        "SequenceNumberRange": {"StartingSequenceNumber": "100"},
        **extra,
    }


def test_an_original_shard_has_no_parents_its_whole_range_and_is_open() -> None:
    info = ShardInfo.from_wire(_shard("shardId-000000000000", "0", MAX))
    assert info.shard_id == "shardId-000000000000"
    assert info.parent is None and info.adjacent_parent is None
    assert info.parents == frozenset()
    assert info.hash_range == (0, 2**128 - 1)
    assert isinstance(info.ending_hash_key, int)
    assert info.starting_sequence == "100" and info.ending_sequence is None
    assert info.is_open


def test_a_split_child_names_its_parent_and_a_merge_child_both() -> None:
    split = ShardInfo.from_wire(_shard("c", "0", "99", ParentShardId="p"))
    assert (split.parent, split.adjacent_parent, split.parents) == ("p", None, frozenset({"p"}))
    merged = ShardInfo.from_wire(
        _shard("m", "0", "199", ParentShardId="a", AdjacentParentShardId="b")
    )
    assert (merged.parent, merged.adjacent_parent) == ("a", "b")
    assert merged.parents == {"a", "b"}


def test_a_closed_shard_has_an_ending_sequence_number() -> None:
    closed = _shard("p", "0", MAX)
    closed["SequenceNumberRange"] = {"StartingSequenceNumber": "1", "EndingSequenceNumber": "9"}
    info = ShardInfo.from_wire(closed)
    assert not info.is_open
    assert info.ending_sequence == "9"


def test_a_child_shard_from_get_records_lists_its_parents_and_counts_as_open() -> None:
    child = {
        "ShardId": "m",
        "ParentShards": ["a", "b"],
        "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "199"},
    }
    info = ShardInfo.from_wire(child)
    assert (info.parent, info.adjacent_parent, info.parents) == ("a", "b", frozenset({"a", "b"}))
    assert info.hash_range == (0, 199)
    assert info.is_open and info.starting_sequence is None
    only = ShardInfo.from_wire({**child, "ParentShards": ["a"]})
    assert (only.parent, only.adjacent_parent) == ("a", None)


def test_a_shard_without_a_hash_range_is_refused() -> None:
    with pytest.raises(KeyError):
        ShardInfo.from_wire({"ShardId": "x", "SequenceNumberRange": {}})


def test_endpoint_credentials_and_ca_bundle_take_precedence_over_options() -> None:
    endpoint = Endpoint(
        "eu-west-1",
        "https://127.0.0.1:4567",
        {"aws_access_key_id": "old", "aws_secret_access_key": "old", "verify": False},
        StaticCredentials("AKID", "secret"),
        "ca.pem",
    )
    assert endpoint.client_kwargs() == {
        "region_name": "eu-west-1",
        "endpoint_url": "https://127.0.0.1:4567",
        "aws_access_key_id": "AKID",
        "aws_secret_access_key": "secret",
        "verify": "ca.pem",
    }


def test_an_aws_endpoint_names_no_url() -> None:
    kwargs = Endpoint("eu-west-1", options={}).client_kwargs()
    assert kwargs == {"region_name": "eu-west-1"}
