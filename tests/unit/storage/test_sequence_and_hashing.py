"""Sequence numbers, hash ranges and record chunks: pure functions."""

from __future__ import annotations

import hashlib

from shardline.storage import chunks
from shardline.storage.catalog import parse_shard_id
from shardline.storage.hashing import MAX_HASH_KEY, even_ranges, hash_key, hash_key_bytes
from shardline.storage.sequence import (
    arrival_ms,
    format_sequence,
    key_for_time,
    next_key,
    parse_sequence,
)


def test_sequence_numbers_round_trip_and_sort_like_their_keys() -> None:
    keys = [key_for_time(1_700_000_000_000) + i for i in (0, 1, 65_535, 65_536, 10**9)]
    texts = [format_sequence(k, 7) for k in keys]
    assert all(len(t) == 56 and t.isdigit() for t in texts)
    assert [parse_sequence(t) for t in texts] == [(k, 7) for k in keys]
    assert sorted(texts) == texts
    assert [int(t) for t in texts] == sorted(int(t) for t in texts)


def test_foreign_sequence_numbers_do_not_parse() -> None:
    assert parse_sequence("49590338271490256608559692538361571095921575989136588898") is None
    assert parse_sequence("123") is None
    assert parse_sequence("4" * 56) is None


def test_keys_never_go_backwards_even_if_the_clock_does() -> None:
    key = next_key(0, 2_000)
    assert arrival_ms(key) == 2_000
    earlier_clock = next_key(key, 1_000)
    assert earlier_clock == key + 1


def test_even_ranges_tile_the_hash_space_like_aws() -> None:
    ranges = even_ranges(3)
    assert ranges[0] == (0, 113427455640312821154458202477256070484)
    assert ranges[-1][1] == MAX_HASH_KEY
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        assert start == end + 1


def test_hash_key_is_md5_and_byte_order_matches_int_order() -> None:
    assert hash_key("a") == int(hashlib.md5(b"a").hexdigest(), 16)
    values = [0, 1, 2**64, 2**127, MAX_HASH_KEY]
    assert sorted(hash_key_bytes(v) for v in values) == [hash_key_bytes(v) for v in values]


def test_shard_ids_are_read_as_aws_reads_them() -> None:
    assert parse_shard_id("shardId-000000000007") == 7
    assert parse_shard_id("shard-7") == 7
    assert parse_shard_id("7") == 7
    assert parse_shard_id("shardId-abc") is None
    assert parse_shard_id(str(2**31)) is None


def test_chunks_round_trip_unicode_keys_and_empty_payloads() -> None:
    keys = [5, 9, 12]
    partition_keys = ["a", "ключ", "\x00z"]
    payloads = [b"", b"\x00\xff" * 1000, b"x"]
    blob = chunks.pack(keys, [k.encode() for k in partition_keys], payloads)
    got_keys, got_pks, got_payloads = chunks.unpack(blob)
    assert list(got_keys) == keys
    assert got_pks == partition_keys
    assert got_payloads == payloads
