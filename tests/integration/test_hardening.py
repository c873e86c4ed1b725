"""Hostile input against a real region: it is refused fast, alone, and never as a 500.

Each test names the attack from issue 13 it stops: a long field that made the
validator's regular expressions backtrack for most of a minute while every other
caller waited, CBOR that crashed the decoder, a GetRecords naming one stream while
reading another, and data files any local user could read.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cbor2
import pytest
from botocore.exceptions import ClientError

from shardline.server import model
from shardline.testing import RegionProcess, kinesis_client, wait_active, wait_for

JSON_TYPE = "application/x-amz-json-1.1"
CBOR_TYPE = "application/x-amz-cbor-1.1"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request, "
    "SignedHeaders=host, Signature=abc"
)
FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")
KIB = 1024
#: The reproducer of issue 13, grown to 100 KiB: no "/" after "stream", so the
#: pattern's three ".*" backtrack over every split of the string.
HOSTILE_ARN = "arn:aws" + ":kinesis:000000000000:stream" * (100 * KIB // 28)


def post(
    url: str,
    operation: str,
    body: bytes,
    content_type: str = JSON_TYPE,
    sent: threading.Event | None = None,
) -> tuple[int, bytes]:
    """One raw Kinesis call; returns the status and the body (``sent`` is set in between)."""
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    headers = {
        "Content-Type": content_type,
        "X-Amz-Target": f"Kinesis_20131202.{operation}",
        "Authorization": AUTH,
        "X-Amz-Date": "20260101T000000Z",
    }
    try:
        connection.request("POST", "/", body=body, headers=headers)
        if sent is not None:
            sent.set()
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def _long_value(shape: Any) -> Any:
    """A 100 KiB value of the member's own kind (a string, a blob, in a list or a map)."""
    kind = shape.type_name
    if kind == "string":
        return HOSTILE_ARN if "ARN" in shape.name else "a" * (100 * KIB)
    if kind == "blob":
        return base64.b64encode(b"x" * (100 * KIB)).decode()
    if kind == "list" and shape.member.type_name in ("string", "blob"):
        return [_long_value(shape.member)]
    if kind == "map":
        return {"k" * (100 * KIB): "v" * (100 * KIB)}
    return None


def hostile_calls() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every operation with each of its string, blob, list and map members 100 KiB long."""
    for name in sorted(model.operation_names()):
        shape = model.operation(name).input_shape
        if shape is None or name == "SubscribeToShard":
            continue
        for member, member_shape in shape.members.items():
            value = _long_value(member_shape)
            if value is not None:
                yield name, {member: value}


def test_a_100_kib_field_of_any_kind_is_refused_while_others_are_served(
    region: RegionProcess,
) -> None:
    calls = list(hostile_calls())
    assert len(calls) > 50
    normal = kinesis_client(region.url, read_timeout=20, connect_timeout=20)
    reproducer_sent = threading.Event()

    def hostile(call: tuple[str, dict[str, Any]], sent: threading.Event | None = None) -> int:
        operation, body = call
        status, raw = post(region.url, operation, json.dumps(body).encode(), sent=sent)
        assert status < 500, (operation, status, raw[:300])
        return status

    pool = ThreadPoolExecutor(4)
    try:
        reproducer = ("ListTagsForResource", {"ResourceARN": HOSTILE_ARN})
        first = pool.submit(hostile, reproducer, reproducer_sent)
        rest = pool.map(hostile, calls)
        assert reproducer_sent.wait(60)
        # Before the fix the reproducer held the event loop for hours: a normal call
        # made meanwhile timed out.
        for _ in range(5):
            assert "StreamNames" in normal.list_streams()
        assert first.result() == 400
        assert len(list(rest)) == len(calls)  # each answered below 500
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


CBOR_BOMBS = {
    # a tag-1 timestamp far past year 9999
    "huge-timestamp": (
        "GetShardIterator",
        cbor2.dumps(
            {
                "StreamName": "s",
                "ShardId": "shardId-000000000000",
                "ShardIteratorType": "AT_TIMESTAMP",
                "Timestamp": cbor2.CBORTag(1, 10**20),
            }
        ),
    ),
    # a 5,000-digit bignum (tag 2): printing it in a message raised ValueError
    "bignum": ("CreateStream", cbor2.dumps({"StreamName": "s", "ShardCount": 10**5000})),
    # a shared value (tag 28) that contains a reference to itself (tag 29)
    "self-reference": (
        "CreateStream",
        bytes.fromhex("d81ca1") + cbor2.dumps("StreamName") + bytes.fromhex("d81d00"),
    ),
    "self-reference-list": ("ListStreams", bytes.fromhex("d81c81d81d00")),
}


@pytest.mark.parametrize("case", sorted(CBOR_BOMBS))
def test_malformed_cbor_is_a_400_serialization_exception_with_nothing_logged(
    region: RegionProcess, case: str
) -> None:
    operation, body = CBOR_BOMBS[case]
    logged = len(region.output)
    status, raw = post(region.url, operation, body, CBOR_TYPE)
    assert status == 400
    assert cbor2.loads(raw)["__type"] == "SerializationException"
    assert "Traceback" not in "".join(region.output[logged:])


@pytest.fixture()
def two_streams(kinesis: Any) -> tuple[str, str]:
    names = (f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}")
    for name in names:
        kinesis.create_stream(StreamName=name, ShardCount=1)
        wait_active(kinesis, name)
    return names


def _arn(kinesis: Any, name: str) -> str:
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    return str(summary["StreamARN"])


def test_get_records_refuses_a_stream_arn_other_than_the_iterators(
    kinesis: Any, two_streams: tuple[str, str]
) -> None:
    a, b = two_streams
    kinesis.put_record(StreamName=a, Data=b"secret of a", PartitionKey="k")
    iterator = kinesis.get_shard_iterator(
        StreamName=a, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    with pytest.raises(ClientError) as refused:
        kinesis.get_records(ShardIterator=iterator, StreamARN=_arn(kinesis, b))
    assert refused.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    own = kinesis.get_records(ShardIterator=iterator, StreamARN=_arn(kinesis, a))
    assert [r["Data"] for r in own["Records"]] == [b"secret of a"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _data_files(data_dir: Path) -> list[Path]:
    return [data_dir / n for n in ("shardline.db", "shardline.db-wal", "shardline.db-shm")]


def _write_something(url: str) -> None:
    client = kinesis_client(url)
    client.create_stream(StreamName="perm", ShardCount=1)
    wait_active(client, "perm")
    client.put_record(StreamName="perm", Data=b"x", PartitionKey="k")


def test_data_directory_and_its_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    data_dir = tmp_path / "region"
    old = os.umask(0o002)  # more permissive than the usual 022
    try:
        with RegionProcess(data_dir, *FAST) as region:
            _write_something(region.url)
            wait_for(lambda: all(p.exists() for p in _data_files(data_dir)), what="WAL files")
            assert _mode(data_dir) == 0o700
            for path in [*_data_files(data_dir), data_dir / "master.key"]:
                assert _mode(path) == 0o600, path
    finally:
        os.umask(old)


def test_an_existing_open_data_directory_is_made_private_when_the_region_opens_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "region"
    with RegionProcess(data_dir, *FAST) as region:
        _write_something(region.url)
        region.kill()  # SIGKILL: the WAL and SHM files stay behind
        data_dir.chmod(0o755)
        for path in data_dir.iterdir():
            path.chmod(0o644)
        region.start()
        assert _mode(data_dir) == 0o700
        for path in data_dir.iterdir():
            assert _mode(path) == 0o600, path
        assert kinesis_client(region.url).list_streams()["StreamNames"] == ["perm"]


def _start_encryption(url: str) -> None:
    client = kinesis_client(url)
    client.create_stream(StreamName="enc", ShardCount=1)
    wait_active(client, "enc")
    client.start_stream_encryption(
        StreamName="enc", EncryptionType="KMS", KeyId="alias/aws/kinesis"
    )


def test_a_master_key_beside_the_data_it_protects_is_warned_about(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    region = fresh_region(*FAST)
    _start_encryption(region.url)
    wait_for(
        lambda: any("--master-key-file" in line for line in region.output),
        what="the warning about the key's place",
    )


def test_a_master_key_on_separate_storage_is_not_warned_about(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    key = tmp_path / "keys" / "master.key"
    region = fresh_region(*FAST, "--master-key-file", str(key))
    _start_encryption(region.url)
    assert kinesis_client(region.url).describe_stream_summary(StreamName="enc")
    assert not any("--master-key-file" in line for line in region.output)
    assert _mode(key) == 0o600
