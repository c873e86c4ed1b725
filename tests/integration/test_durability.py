"""Nothing acknowledged is lost: SIGKILL the server under load, restart, compare."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shardline.testing import RegionProcess, kinesis_client, read_shard, wait_active

FAST = ("--create-delay-ms", "0", "--update-delay-ms", "0")


def _producer(
    url: str, stream: str, writer: int, acked: list[tuple[str, str, bytes]], stop: threading.Event
) -> None:
    client = kinesis_client(url, connect_timeout=5, read_timeout=20)
    batch = 0
    while not stop.is_set() and batch < 10_000:
        records: list[dict[str, Any]] = [
            {"Data": f"w{writer}-b{batch}-r{i}".encode(), "PartitionKey": f"{writer}-{i}"}
            for i in range(50)
        ]
        try:
            out = client.put_records(StreamName=stream, Records=records)
        except (BotoCoreError, ClientError):
            return  # the server died mid-request: this batch was never acknowledged
        for record, result in zip(records, out["Records"], strict=True):
            if "SequenceNumber" in result:
                acked.append((result["ShardId"], result["SequenceNumber"], record["Data"]))
        batch += 1


def test_sigkill_under_load_loses_no_acknowledged_record(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    server = fresh_region(*FAST)
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="durable", ShardCount=3)
    wait_active(kinesis, "durable")
    acked: list[tuple[str, str, bytes]] = []
    stop = threading.Event()
    writers = [
        threading.Thread(target=_producer, args=(server.url, "durable", w, acked, stop))
        for w in range(3)
    ]
    for thread in writers:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acked) < 3000 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL in the middle of the load
    stop.set()
    for thread in writers:
        thread.join(30)
    assert len(acked) >= 3000

    server.start()
    kinesis = kinesis_client(server.url)
    stored: dict[str, dict[str, bytes]] = {}
    for shard in kinesis.list_shards(StreamName="durable")["Shards"]:
        records = read_shard(kinesis, "durable", shard["ShardId"])
        stored[shard["ShardId"]] = {r["SequenceNumber"]: r["Data"] for r in records}
    missing = [a for a in acked if stored.get(a[0], {}).get(a[1]) != a[2]]
    assert missing == []
    # New writes after the restart continue above every sequence number issued before.
    newest = max(int(seq) for _, seq, _ in acked)
    after = kinesis.put_record(StreamName="durable", Data=b"after", PartitionKey="0-0")
    assert int(after["SequenceNumber"]) > newest


def test_metadata_survives_sigkill(fresh_region: Callable[..., RegionProcess]) -> None:
    server = fresh_region(*FAST)
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="meta", ShardCount=2, Tags={"team": "x"})
    wait_active(kinesis, "meta")
    kinesis.increase_stream_retention_period(StreamName="meta", RetentionPeriodHours=72)
    kinesis.split_shard(
        StreamName="meta", ShardToSplit="shardId-000000000001", NewStartingHashKey=str(2**127 + 5)
    )
    kinesis.start_stream_encryption(
        StreamName="meta", EncryptionType="KMS", KeyId="alias/aws/kinesis"
    )
    put = kinesis.put_record(StreamName="meta", Data=b"secret", PartitionKey="p")
    shards_before = kinesis.list_shards(StreamName="meta")["Shards"]
    iterator = kinesis.get_shard_iterator(
        StreamName="meta", ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]

    server.kill()
    server.start()
    kinesis = kinesis_client(server.url)
    summary = kinesis.describe_stream_summary(StreamName="meta")["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 72
    assert summary["EncryptionType"] == "KMS"
    assert summary["KeyId"] == "alias/aws/kinesis"
    assert kinesis.list_tags_for_stream(StreamName="meta")["Tags"] == [
        {"Key": "team", "Value": "x"}
    ]
    assert kinesis.list_shards(StreamName="meta")["Shards"] == shards_before
    # Iterators are signed with a persisted secret, so they stay valid across restarts.
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [(r["SequenceNumber"], r["Data"]) for r in records] == [
        (put["SequenceNumber"], b"secret")
    ]
    assert records[0]["EncryptionType"] == "KMS"


def test_encrypted_records_are_not_stored_in_plaintext(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "enc"
    server = fresh_region(*FAST, data_dir=data_dir)
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="enc", ShardCount=1)
    wait_active(kinesis, "enc")
    kinesis.put_record(StreamName="enc", Data=b"PLAINTEXT-MARKER-1", PartitionKey="k")
    kinesis.start_stream_encryption(StreamName="enc", EncryptionType="KMS", KeyId="alias/mine")
    put = kinesis.put_records(
        StreamName="enc", Records=[{"Data": b"SECRET-MARKER-2", "PartitionKey": "k"}]
    )
    assert put["EncryptionType"] == "KMS"
    kinesis.stop_stream_encryption(StreamName="enc", EncryptionType="KMS", KeyId="alias/mine")
    kinesis.put_record(StreamName="enc", Data=b"PLAINTEXT-MARKER-3", PartitionKey="k")
    records = read_shard(kinesis, "enc", "shardId-000000000000")
    assert [(r["Data"], r.get("EncryptionType")) for r in records] == [
        (b"PLAINTEXT-MARKER-1", None),
        (b"SECRET-MARKER-2", "KMS"),
        (b"PLAINTEXT-MARKER-3", None),
    ]
    server.stop()
    on_disk = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.is_file())
    assert b"PLAINTEXT-MARKER-1" in on_disk
    assert b"SECRET-MARKER-2" not in on_disk


def test_bad_kms_key_id_is_refused(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream()
    try:
        kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="not a key")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "KMSNotFoundException"
    else:
        raise AssertionError("a malformed KeyId was accepted")
