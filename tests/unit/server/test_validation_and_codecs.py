"""Model-driven validation messages and the JSON/CBOR codecs."""

from __future__ import annotations

import base64

import cbor2
import pytest

from shardline.errors import SerializationException, ValidationException
from shardline.server import model, protocol
from shardline.storage.entries import PutEntries


def test_validation_lists_every_violation_in_aws_format() -> None:
    with pytest.raises(ValidationException) as exc:
        model.parse_input("CreateStream", {"StreamName": "bad name!", "ShardCount": 0}, "json")
    assert str(exc.value) == (
        "2 validation errors detected: "
        "Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value '0' at 'shardCount' failed to satisfy constraint: Member must have value "
        "greater than or equal to 1"
    )


def test_validation_caps_the_list_at_ten() -> None:
    records = [{"Data": "", "PartitionKey": ""} for _ in range(20)]
    with pytest.raises(ValidationException) as exc:
        model.parse_input("PutRecords", {"StreamName": "s", "Records": records}, "json")
    assert str(exc.value).startswith("10 validation errors detected: ")
    assert "records.1.member.partitionKey" in str(exc.value)


def test_wrong_wire_types_are_serialization_errors() -> None:
    with pytest.raises(SerializationException) as exc:
        model.parse_input("CreateStream", {"StreamName": "s", "ShardCount": "1"}, "json")
    assert str(exc.value) == "class java.lang.String can not be converted to an Integer"
    with pytest.raises(SerializationException):
        model.parse_input(
            "PutRecord", {"StreamName": "s", "Data": "!!", "PartitionKey": "k"}, "json"
        )


def test_put_records_entries_are_the_same_on_every_path() -> None:
    records = [{"Data": base64.b64encode(b"abc").decode(), "PartitionKey": "k"}]
    params = model.parse_input("PutRecords", {"StreamName": "s", "Records": records}, "json")
    assert params["Records"] == PutEntries([b"abc"], ["k"])
    with_hash = [dict(records[0], ExplicitHashKey="12"), records[0]]
    params = model.parse_input("PutRecords", {"StreamName": "s", "Records": with_hash}, "json")
    assert params["Records"] == PutEntries([b"abc", b"abc"], ["k", "k"], ["12", None])
    cbor_records = [{"Data": b"abc", "PartitionKey": "k"}]
    params = model.parse_input("PutRecords", {"StreamName": "s", "Records": cbor_records}, "cbor")
    assert params["Records"] == PutEntries([b"abc"], ["k"])


@pytest.mark.parametrize("text", ["QR==", "QUJ=", "QUJDRB==", "QUJDREF="])
def test_padding_that_hides_set_bits_is_refused_as_aws_does(text: str) -> None:
    body = {"StreamName": "s", "Records": [{"Data": text, "PartitionKey": "k"}]}
    with pytest.raises(SerializationException, match="Invalid last non-pad Base64 character"):
        model.parse_input("PutRecords", body, "json")


@pytest.mark.parametrize("data", [b"", b"A", b"AB", b"ABC", bytes(range(256))])
def test_canonical_base64_of_any_length_is_accepted(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    body = {"StreamName": "s", "Records": [{"Data": text, "PartitionKey": "k"}]}
    assert model.parse_input("PutRecords", body, "json")["Records"] == PutEntries([data], ["k"])


def test_cbor_timestamps_are_tag_1_epoch_milliseconds_both_ways() -> None:
    body = protocol.encode("cbor", {"T": protocol.Timestamp(1700000000.123)})
    assert cbor2.loads(body, semantic_decoders={1: lambda v, _: ("tag1", v)}) == {
        "T": ("tag1", 1700000000123)
    }
    decoded = protocol.decode("cbor", cbor2.dumps({"Timestamp": cbor2.CBORTag(1, 1700000000123)}))
    params = model.parse_input(
        "GetShardIterator",
        {**decoded, "ShardId": "0", "ShardIteratorType": "AT_TIMESTAMP"},
        "cbor",
    )
    assert params["Timestamp"] == pytest.approx(1700000000.123)
