"""What the replicator sends for a batch of source records, and in which calls."""

from __future__ import annotations

import datetime as dt

from shardline.consumer.records import ConsumerRecord
from shardline.framing import aggregation, origin
from shardline.replication.copier import (
    MAX_CALL_BYTES,
    MAX_CALL_RECORDS,
    TargetEntry,
    chunks,
    target_entries,
)

SOURCE, TARGET = "east", "west"
NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
WHOLE_RANGE = (0, aggregation.MAX_HASH_KEY)


def plain(
    pk: str = "AMZN", data: bytes = b"178.25", seq: str = "100", origin_region: str | None = None
) -> ConsumerRecord:
    return ConsumerRecord(seq, 0, pk, data, NOW, origin_region=origin_region)


def user(seq: str, sub: int, pk: str, data: bytes, hash_key: str | None = None) -> ConsumerRecord:
    return ConsumerRecord(seq, sub, pk, data, NOW, hash_key, aggregated=True)


def entries(
    records: list[ConsumerRecord],
    shard_range: tuple[int, int] | None = WHOLE_RANGE,
    mark_origin: bool = False,
) -> list[TargetEntry]:
    return target_entries(records, TARGET, SOURCE, shard_range, mark_origin)


# -- loop prevention and the origin marker --------------------------------------------------


def test_records_that_came_from_the_target_are_not_copied_back() -> None:
    records = [plain(seq="1"), plain(seq="2", origin_region=TARGET), plain(seq="3")]
    assert len(entries(records, mark_origin=True)) == 2
    assert len(entries(records, mark_origin=False)) == 2


def test_records_written_in_the_source_are_marked_with_the_source() -> None:
    [entry] = entries([plain(data=b"payload")], mark_origin=True)
    assert origin.unwrap(entry.data) == (SOURCE, b"payload")


def test_a_record_keeps_the_origin_it_already_has() -> None:
    [entry] = entries([plain(data=b"payload", origin_region="south")], mark_origin=True)
    assert origin.unwrap(entry.data) == ("south", b"payload")


def test_without_marking_the_data_is_copied_unchanged() -> None:
    [entry] = entries([plain(data=b"payload", origin_region="south")], mark_origin=False)
    assert entry.data == b"payload"


def test_plain_records_keep_their_partition_key_and_order() -> None:
    records = [plain(pk=f"key-{i}", data=bytes([i]), seq=str(i)) for i in range(5)]
    sent = entries(records)
    assert [(e.partition_key, e.data) for e in sent] == [(f"key-{i}", bytes([i])) for i in range(5)]


# -- KPL aggregates -------------------------------------------------------------------------


def aggregate_records() -> list[ConsumerRecord]:
    return [
        user("200", 0, "AMZN", b"1", None),
        user("200", 1, "MSFT", b"2", str(2**100)),
        user("200", 2, "AMZN", b"3", None),
    ]


def test_user_records_of_one_aggregate_are_repacked_into_one_aggregate() -> None:
    records = aggregate_records()
    [entry] = entries(records)
    assert entry.partition_key == aggregation.AGGREGATE_PARTITION_KEY == "a"
    inside = aggregation.deaggregate(entry.data, entry.partition_key, entry.explicit_hash_key)
    assert [(u.partition_key, u.data, u.explicit_hash_key) for u in inside] == [
        (r.partition_key, r.data, r.explicit_hash_key) for r in records
    ]


def test_a_repacked_aggregate_is_routed_by_its_first_records_hash_key() -> None:
    [entry] = entries(aggregate_records())
    assert entry.explicit_hash_key == str(aggregation.hash_key_of("AMZN"))
    first_explicit = [user("300", 0, "MSFT", b"x", str(2**90)), user("300", 1, "AMZN", b"y")]
    [entry] = entries(first_explicit)
    assert entry.explicit_hash_key == str(2**90)


def test_a_marked_aggregate_is_the_whole_aggregate_behind_the_marker() -> None:
    records = aggregate_records()
    [entry] = entries(records, mark_origin=True)
    found, inner = origin.unwrap(entry.data)
    assert found == SOURCE
    assert [u.data for u in aggregation.deaggregate(inner, "a")] == [b"1", b"2", b"3"]


def test_aggregates_and_plain_records_stay_separate_and_in_order() -> None:
    records = [
        user("1", 0, "A", b"a0"),
        user("1", 1, "B", b"a1"),
        plain(pk="P", data=b"p", seq="2"),
        user("3", 0, "C", b"b0"),
        user("4", 0, "D", b"c0"),
        user("4", 1, "E", b"c1"),
    ]
    sent = entries(records)
    assert [e.partition_key for e in sent] == ["a", "P", "a", "a"]
    groups = [[u.data for u in aggregation.deaggregate(e.data, "a")] for e in sent]
    assert groups == [[b"a0", b"a1"], [b"p"], [b"b0"], [b"c0", b"c1"]]


# -- explicit hash keys of plain records ----------------------------------------------------


def test_a_plain_record_routed_by_its_partition_key_needs_no_explicit_hash_key() -> None:
    hashed = aggregation.hash_key_of("AMZN")
    for shard_range in (WHOLE_RANGE, (hashed, hashed), (hashed - 1, hashed + 1)):
        [entry] = entries([plain(pk="AMZN")], shard_range=shard_range)
        assert entry.explicit_hash_key is None


def test_a_plain_record_outside_its_shards_range_gets_the_shards_starting_hash_key() -> None:
    hashed = aggregation.hash_key_of("AMZN")
    above = (hashed + 1, aggregation.MAX_HASH_KEY)
    below = (0, hashed - 1)
    assert entries([plain(pk="AMZN")], shard_range=above)[0].explicit_hash_key == str(hashed + 1)
    assert entries([plain(pk="AMZN")], shard_range=below)[0].explicit_hash_key == "0"


def test_without_a_known_shard_range_no_explicit_hash_key_is_sent() -> None:
    [entry] = entries([plain()], shard_range=None)
    assert entry.explicit_hash_key is None
    assert "ExplicitHashKey" not in entry.wire()


def test_the_wire_form_carries_an_explicit_hash_key_when_there_is_one() -> None:
    entry = TargetEntry(b"d", "pk", "42")
    assert entry.wire() == {"Data": b"d", "PartitionKey": "pk", "ExplicitHashKey": "42"}


# -- PutRecords calls -----------------------------------------------------------------------


def test_a_call_holds_at_most_500_records() -> None:
    small = [TargetEntry(b"x", "k", None)] * (2 * MAX_CALL_RECORDS + 1)
    assert [len(call) for call in chunks(small)] == [500, 500, 1]


def test_a_call_holds_at_most_5_mib() -> None:
    mib = TargetEntry(b"x" * (1024 * 1024 - 1), "k", None)  # data + key = 1 MiB
    assert mib.size * 5 == MAX_CALL_BYTES
    assert [len(call) for call in chunks([mib] * 5)] == [5]  # exactly 5 MiB fits
    one_byte_more = TargetEntry(b"x" * (1024 * 1024), "k", None)
    assert [len(call) for call in chunks([mib] * 4 + [one_byte_more])] == [4, 1]
    assert [len(call) for call in chunks([mib] * 11)] == [5, 5, 1]


def test_calls_keep_the_entries_in_order() -> None:
    numbered = [TargetEntry(str(i).encode(), "k", None) for i in range(1201)]
    assert [entry for call in chunks(numbered) for entry in call] == numbered


def test_no_entries_make_no_calls() -> None:
    assert chunks([]) == []
