"""KPL aggregation: byte compatibility with aws-kinesis-agg, sizes, the KCL's filters."""

from __future__ import annotations

import base64
import hashlib
import random

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import iter_deaggregate_records

from shardline.framing.aggregation import (
    DIGEST_SIZE,
    MAGIC,
    AggregateSizer,
    MalformedAggregateError,
    UserRecord,
    aggregate,
    deaggregate,
    hash_key_of,
    is_aggregated,
)


def _records(count: int, seed: int = 7, explicit: bool = True) -> list[UserRecord]:
    rng = random.Random(seed)
    keys = ["alpha", "beta", "ключ", "鍵", "k" * 256]
    return [
        UserRecord(
            rng.choice(keys),
            rng.randbytes(rng.choice([0, 1, 127, 128, 300, 20_000])),
            str(rng.randrange(2**128)) if explicit and rng.random() < 0.5 else None,
        )
        for _ in range(count)
    ]


def _boto3_shape(data: bytes) -> dict[str, object]:
    return {
        "SequenceNumber": "1",
        "PartitionKey": "a",
        "ApproximateArrivalTimestamp": 0,
        "Data": data,
    }


def test_round_trip_keeps_keys_hash_keys_data_and_numbers_sub_sequences() -> None:
    records = _records(200)
    users = deaggregate(aggregate(records), "a")
    assert [(u.partition_key, u.explicit_hash_key, u.data) for u in users] == [
        (r.partition_key, r.explicit_hash_key, r.data) for r in records
    ]
    assert [u.sub_sequence_number for u in users] == list(range(200))


def test_encoding_is_byte_identical_to_aws_kinesis_agg() -> None:
    records = _records(60)
    theirs = RecordAggregator()
    for record in records:
        theirs.add_user_record(record.partition_key, record.data, record.explicit_hash_key)
    _, _, data = theirs.clear_and_get().get_contents()
    assert data == aggregate(records)


def test_aws_kinesis_agg_deaggregates_ours() -> None:
    # aws-kinesis-agg mislabels records without a hash key when the table is non-empty,
    # so this comparison uses records that all lack an explicit hash key.
    records = _records(80, explicit=False)
    theirs = list(iter_deaggregate_records([_boto3_shape(aggregate(records))], "Boto3"))
    assert [base64.b64decode(t["kinesis"]["data"]) for t in theirs] == [r.data for r in records]
    assert [t["kinesis"]["partitionKey"] for t in theirs] == [r.partition_key for r in records]
    assert [t["kinesis"]["subSequenceNumber"] for t in theirs] == list(range(80))


def test_layout_is_magic_protobuf_md5() -> None:
    data = aggregate(_records(3))
    body = data[len(MAGIC) : -DIGEST_SIZE]
    assert data.startswith(MAGIC) and data[-DIGEST_SIZE:] == hashlib.md5(body).digest()
    # the reference library parses the protobuf body into the three user records
    assert len(list(iter_deaggregate_records([_boto3_shape(data)], "Boto3"))) == 3


@pytest.mark.parametrize(
    "data",
    [b"", MAGIC, MAGIC + bytes(16), b"plain payload", b"\xf3\x89\x9a\xc3" + bytes(40)],
)
def test_not_aggregates_pass_through_as_one_record(data: bytes) -> None:
    assert not is_aggregated(data)
    assert deaggregate(data, "pk", "42") == [UserRecord("pk", data, "42", 0)]


def test_a_bad_digest_means_not_an_aggregate() -> None:
    data = bytearray(aggregate(_records(3)))
    data[-1] ^= 0xFF
    assert not is_aggregated(bytes(data))
    assert len(deaggregate(bytes(data), "a")) == 1


def test_magic_and_digest_over_garbage_is_delivered_as_is() -> None:
    body = b"\xff\xff\xff"  # not a protobuf message
    data = MAGIC + body + hashlib.md5(body).digest()
    assert deaggregate(data, "pk") == [UserRecord("pk", data, None, 0)]


def test_an_index_past_the_table_raises() -> None:
    # AggregatedRecord{partition_key_table: ["only"], records: [{partition_key_index: 3,
    # data: "x"}]} in protobuf's wire format: (field << 3 | wire type), then the value
    entry = b"\x08\x03" + b"\x1a\x01x"
    body = b"\x0a\x04only" + b"\x1a" + bytes([len(entry)]) + entry
    with pytest.raises(MalformedAggregateError):
        deaggregate(MAGIC + body + hashlib.md5(body).digest(), "a")


def test_hash_range_filter_drops_the_whole_aggregate_like_the_kcl() -> None:
    inside = [UserRecord("a", b"1", "10"), UserRecord("b", b"2", "20")]
    assert len(deaggregate(aggregate(inside), "a", hash_range=(10, 20))) == 2
    assert deaggregate(aggregate(inside), "a", hash_range=(11, 20)) == []
    by_key = [UserRecord("key", b"x")]
    low = hash_key_of("key")
    assert len(deaggregate(aggregate(by_key * 2), "a", hash_range=(low, low))) == 2


def test_hash_key_is_md5_of_the_partition_key_unless_explicit() -> None:
    assert hash_key_of("abc") == int(hashlib.md5(b"abc").hexdigest(), 16)
    assert hash_key_of("abc", "5") == 5


def test_sizer_predicts_the_exact_encoded_size() -> None:
    records = _records(400, seed=3)
    # many distinct keys make multi-byte table indexes
    records += [UserRecord(f"key-{i}", b"v" * i, str(i) if i % 3 else None) for i in range(300)]
    sizer = AggregateSizer()
    for record in records:
        grow = sizer.added_size(record.partition_key, record.explicit_hash_key, len(record.data))
        sizer.add(record.partition_key, record.explicit_hash_key, grow)
        assert sizer.size == len(aggregate(records[: sizer.count]))


def test_empty_aggregate_is_refused() -> None:
    with pytest.raises(ValueError):
        aggregate([])
