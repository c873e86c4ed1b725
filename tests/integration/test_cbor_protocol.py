"""The CBOR protocol (``application/x-amz-cbor-1.1``) as the AWS Java SDK v2 speaks it.

The SDK's rules (``AwsCborProtocolFactory`` / ``SdkCborGenerator``): same member names
and ``X-Amz-Target`` as JSON; blobs are CBOR byte strings; timestamps are tag 1
wrapping *integer epoch milliseconds* (not RFC 8949's seconds) in both directions,
and the SDK reads them with ``getLongValue()``, so a float would break it. Jackson's
CBOR generator writes maps with indefinite length, so the server must take those.

cbor2 (>= 6) decodes tag 1 natively and never shows it to ``tag_hook``; to see the
raw tag these tests install a semantic decoder for tag 1 that keeps it as
:class:`EpochTag`.
"""

from __future__ import annotations

import http.client
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest

from shardline.testing import RegionProcess, kinesis_client, wait_active

CBOR_TYPE = "application/x-amz-cbor-1.1"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request, "
    "SignedHeaders=host, Signature=abc"
)
SHARD0 = "shardId-000000000000"


@dataclass(frozen=True)
class EpochTag:
    """A CBOR tag 1 exactly as received."""

    value: Any


def _keep_tag_1(value: Any, immutable: bool) -> EpochTag:
    return EpochTag(value)


def loads(raw: bytes) -> Any:
    return cbor2.loads(raw, semantic_decoders={1: _keep_tag_1})


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    raw: bytes

    @property
    def body(self) -> Any:
        return loads(self.raw) if self.raw else None


def post(url: str, operation: str | None, payload: Any) -> Reply:
    """POST ``payload`` (bytes are sent as is, anything else CBOR-encoded)."""
    body = payload if isinstance(payload, bytes) else cbor2.dumps(payload)
    headers = {
        "Content-Type": CBOR_TYPE,
        "Authorization": AUTH,
        "X-Amz-Date": "20260101T000000Z",
        "User-Agent": "aws-sdk-java/2.25.0 ua/2.0 os/Linux lang/java#17 md/internal",
    }
    if operation is not None:
        headers["X-Amz-Target"] = f"Kinesis_20131202.{operation}"
    connection = http.client.HTTPConnection(url.split("//", 1)[1].rstrip("/"), timeout=30)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        reply = Reply(response.status, response.headers, response.read())
    finally:
        connection.close()
    assert reply.status < 500, (reply.status, reply.raw[:300])
    assert reply.headers["Content-Type"] == CBOR_TYPE
    return reply


def ok(url: str, operation: str, payload: Any) -> Any:
    reply = post(url, operation, payload)
    assert reply.status == 200, reply.body
    return reply.body


def now_ms() -> int:
    return int(time.time() * 1000)


def assert_epoch_ms(tag: Any, around_ms: int, slack_ms: int = 60_000) -> int:
    """A tag-1 timestamp as the SDK reads it: an integer count of milliseconds."""
    assert isinstance(tag, EpochTag), tag
    assert type(tag.value) is int, f"tag 1 must wrap an integer, got {tag.value!r}"
    assert abs(tag.value - around_ms) < slack_ms, (tag.value, around_ms)
    return tag.value


@pytest.fixture(scope="module")
def url(region: RegionProcess) -> str:
    return region.url


@pytest.fixture()
def stream(url: str) -> str:
    """A fresh one-shard stream, created over CBOR."""
    name = f"cbor-{uuid.uuid4().hex[:10]}"
    ok(url, "CreateStream", {"StreamName": name, "ShardCount": 1})
    wait_active(kinesis_client(url), name)
    return name


def iterator(url: str, stream: str, kind: str = "TRIM_HORIZON", **position: Any) -> str:
    body = ok(
        url,
        "GetShardIterator",
        {"StreamName": stream, "ShardId": SHARD0, "ShardIteratorType": kind, **position},
    )
    assert isinstance(body["ShardIterator"], str)
    return str(body["ShardIterator"])


def get_records(url: str, shard_iterator: str) -> dict[str, Any]:
    body = ok(url, "GetRecords", {"ShardIterator": shard_iterator})
    assert isinstance(body, dict)
    return body


# -- control plane ---------------------------------------------------------------------------


def test_create_stream_and_describe_it(url: str) -> None:
    name = f"cbor-{uuid.uuid4().hex[:10]}"
    before = now_ms()
    reply = post(url, "CreateStream", {"StreamName": name, "ShardCount": 2})
    assert reply.status == 200
    assert reply.body in (None, {})  # no output shape: empty body or an empty map
    wait_active(kinesis_client(url), name)

    summary = ok(url, "DescribeStreamSummary", {"StreamName": name})["StreamDescriptionSummary"]
    assert summary["StreamName"] == name
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 2
    assert summary["RetentionPeriodHours"] == 24
    assert re.fullmatch(rf"arn:aws:kinesis:us-east-1:\d{{12}}:stream/{name}", summary["StreamARN"])
    assert_epoch_ms(summary["StreamCreationTimestamp"], before)

    shards = ok(url, "ListShards", {"StreamName": name})["Shards"]
    assert [s["ShardId"] for s in shards] == [SHARD0, "shardId-000000000001"]
    assert shards[1]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1)


def test_indefinite_length_maps_as_jackson_writes_them(url: str) -> None:
    """Jackson (SDK v2) opens maps with 0xbf and closes them with 0xff."""
    name = f"cbor-{uuid.uuid4().hex[:10]}"
    body = (
        b"\xbf"
        + cbor2.dumps("StreamName")
        + cbor2.dumps(name)
        + cbor2.dumps("ShardCount")
        + cbor2.dumps(1)
        + b"\xff"
    )
    assert post(url, "CreateStream", body).status == 200
    wait_active(kinesis_client(url), name)
    # An indefinite-length byte string for Data (chunks 0x5f ... 0xff), in an indefinite map.
    put = (
        b"\xbf"
        + cbor2.dumps("StreamName")
        + cbor2.dumps(name)
        + cbor2.dumps("PartitionKey")
        + cbor2.dumps("pk")
        + cbor2.dumps("Data")
        + b"\x5f"
        + cbor2.dumps(b"chunk-1|")
        + cbor2.dumps(b"chunk-2")
        + b"\xff"
        + b"\xff"
    )
    assert post(url, "PutRecord", put).status == 200
    records = get_records(url, iterator(url, name))["Records"]
    assert [r["Data"] for r in records] == [b"chunk-1|chunk-2"]


# -- data plane ------------------------------------------------------------------------------


def test_put_record_with_a_byte_string_and_read_it_back(url: str, stream: str) -> None:
    data = bytes(range(256)) + b"\x00\xff not utf-8 \xc3\x28"
    before = now_ms()
    put = ok(url, "PutRecord", {"StreamName": stream, "Data": data, "PartitionKey": "pk-1"})
    assert put["ShardId"] == SHARD0
    assert re.fullmatch(r"\d{56}", put["SequenceNumber"])

    out = get_records(url, iterator(url, stream))
    (record,) = out["Records"]
    assert type(record["Data"]) is bytes  # a CBOR byte string, not base64 text
    assert record["Data"] == data
    assert record["PartitionKey"] == "pk-1"
    assert record["SequenceNumber"] == put["SequenceNumber"]
    assert_epoch_ms(record["ApproximateArrivalTimestamp"], before)
    assert type(out["MillisBehindLatest"]) is int
    assert isinstance(out["NextShardIterator"], str)


def test_arrival_timestamp_is_tag_1_over_an_integer_on_the_wire(url: str, stream: str) -> None:
    ok(url, "PutRecord", {"StreamName": stream, "Data": b"x", "PartitionKey": "k"})
    reply = post(url, "GetRecords", {"ShardIterator": iterator(url, stream)})
    key = cbor2.dumps("ApproximateArrivalTimestamp")
    at = reply.raw.index(key) + len(key)
    # 0xc1 = tag 1; 0x1b = unsigned integer in 8 bytes (epoch ms are past 2^32).
    assert reply.raw[at : at + 2] == b"\xc1\x1b"
    value = int.from_bytes(reply.raw[at + 2 : at + 10], "big")
    assert abs(value - now_ms()) < 60_000


def test_put_records_and_read_them_in_order(url: str, stream: str) -> None:
    records = [{"Data": f"rec-{i}".encode(), "PartitionKey": "same"} for i in range(5)]
    out = ok(url, "PutRecords", {"StreamName": stream, "Records": records})
    assert out["FailedRecordCount"] == 0
    assert [r["ShardId"] for r in out["Records"]] == [SHARD0] * 5
    sequences = [int(r["SequenceNumber"]) for r in out["Records"]]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5

    got = get_records(url, iterator(url, stream))["Records"]
    assert [r["Data"] for r in got] == [r["Data"] for r in records]
    assert [int(r["SequenceNumber"]) for r in got] == sequences


def test_records_written_over_cbor_read_back_over_json(url: str, stream: str) -> None:
    ok(url, "PutRecord", {"StreamName": stream, "Data": b"\x01\x02\x03", "PartitionKey": "k"})
    client = kinesis_client(url)
    shard_iterator = client.get_shard_iterator(
        StreamName=stream, ShardId=SHARD0, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in client.get_records(ShardIterator=shard_iterator)["Records"]] == [
        b"\x01\x02\x03"
    ]


def test_at_timestamp_iterator_takes_tag_1_milliseconds(url: str, stream: str) -> None:
    ok(url, "PutRecord", {"StreamName": stream, "Data": b"first", "PartitionKey": "k"})
    first = get_records(url, iterator(url, stream))["Records"][0]
    first_ms = first["ApproximateArrivalTimestamp"].value
    time.sleep(0.05)
    ok(url, "PutRecord", {"StreamName": stream, "Data": b"second", "PartitionKey": "k"})

    # One millisecond after the first record: only the second one is at or after it. Read
    # as seconds, the same integer would lie ~55,000 years ahead and be refused.
    at = iterator(url, stream, "AT_TIMESTAMP", Timestamp=cbor2.CBORTag(1, first_ms + 1))
    assert [r["Data"] for r in get_records(url, at)["Records"]] == [b"second"]

    at = iterator(url, stream, "AT_TIMESTAMP", Timestamp=cbor2.CBORTag(1, first_ms))
    assert [r["Data"] for r in get_records(url, at)["Records"]] == [b"first", b"second"]


def test_future_at_timestamp_is_reported_in_milliseconds(url: str, stream: str) -> None:
    future = now_ms() + 3_600_000
    reply = post(
        url,
        "GetShardIterator",
        {
            "StreamName": stream,
            "ShardId": SHARD0,
            "ShardIteratorType": "AT_TIMESTAMP",
            "Timestamp": cbor2.CBORTag(1, future),
        },
    )
    assert reply.status == 400
    assert reply.body["__type"] == "InvalidArgumentException"
    assert re.fullmatch(
        rf"The timestampInMillis parameter cannot be greater than the "
        rf"currentTimestampInMillis\. timestampInMillis: {future}, "
        rf"currentTimestampInMillis: \d{{13}}",
        reply.body["message"],
    )


# -- errors ----------------------------------------------------------------------------------


def test_resource_not_found_is_a_cbor_map(url: str) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    reply = post(url, "DescribeStreamSummary", {"StreamName": name})
    assert reply.status == 400
    assert reply.headers["Content-Type"] == CBOR_TYPE
    assert re.fullmatch(r"[0-9a-f-]{36}", reply.headers["x-amzn-RequestId"])
    body = reply.body
    assert set(body) == {"__type", "message"}
    assert body["__type"] == "ResourceNotFoundException"
    assert re.fullmatch(rf"Stream {name} under account \d{{12}} not found\.", body["message"])


def test_validation_error_over_cbor(url: str, stream: str) -> None:
    reply = post(url, "PutRecord", {"StreamName": stream, "Data": b"x", "PartitionKey": ""})
    assert reply.status == 400
    assert reply.body == {
        "__type": "ValidationException",
        "message": "1 validation error detected: Value '' at 'partitionKey' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1",
    }


def test_invalid_iterator_over_cbor(url: str) -> None:
    reply = post(url, "GetRecords", {"ShardIterator": "garbage"})
    assert reply.status == 400
    assert reply.body == {"__type": "InvalidArgumentException", "message": "Invalid ShardIterator."}


def test_empty_body_and_unknown_operation(url: str) -> None:
    reply = post(url, "ListStreams", b"")
    assert reply.status == 400
    assert reply.body == {"__type": "SerializationException"}
    reply = post(url, "ListStream", b"")
    assert reply.status == 400
    assert reply.body == {"__type": "UnknownOperationException"}
    reply = post(url, None, cbor2.dumps({}))
    assert reply.status == 400
    assert reply.body == {"__type": "UnknownOperationException"}


@pytest.mark.parametrize(
    "body",
    [b"\xff\xff", b"\xbf", b"\xa1", b"\x1c", b"\x7f\x61"],
    ids=["break", "open-map", "short-map", "reserved", "open-text"],
)
def test_malformed_cbor_is_a_serialization_error(url: str, body: bytes) -> None:
    reply = post(url, "ListStreams", body)
    assert reply.status == 400
    assert reply.body["__type"] == "SerializationException"


def test_wrong_types_over_cbor_are_serialization_errors(url: str, stream: str) -> None:
    reply = post(url, "PutRecord", {"StreamName": stream, "Data": 23, "PartitionKey": "k"})
    assert reply.status == 400
    assert reply.body["__type"] == "SerializationException"
    reply = post(url, "CreateStream", {"StreamName": "x", "ShardCount": "1"})
    assert reply.status == 400
    assert reply.body["__type"] == "SerializationException"
