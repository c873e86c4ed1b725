"""Damaged chunks in a real region's database: reported by range, never served altered.

Each test fills a stream through a real server, SIGKILLs it with the records in the
database file (``settle``), damages that file, restarts the server and reads.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from damage import (
    FAST,
    PAGE,
    assert_intact_or_reported,
    database,
    fill,
    flip,
    log_pages,
    pages_of,
    read_everything,
    settle,
    shardline,
    stored_payload,
    zero_page,
)
from test_fanout import subscribe_when_free

from shardline.errors import DamagedRecords
from shardline.storage.sequence import parse_sequence
from shardline.testing import RegionProcess, kinesis_client


def _batch(acked: dict[str, tuple[str, bytes]], stream: str, batch: int) -> list[str]:
    marker = f"{stream}-b{batch:03d}-".encode()
    return sorted(seq for seq, (_, data) in acked.items() if data.startswith(marker))


def _offset_outside_log(region: RegionProcess, needle: bytes, occurrence: int = 0) -> int:
    """Where ``needle`` lies in the database file, on a page the log does not shadow."""
    data = database(region.data_dir).read_bytes()
    offset = -1
    for _ in range(occurrence + 1):
        offset = data.find(needle, offset + 1)
    assert offset > 0, f"{needle!r} is not in the database file"
    assert offset // PAGE + 1 not in log_pages(region.data_dir)
    return offset


def test_flipped_payload_byte_is_reported_and_readers_read_past_it(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "plain", batches=20)
    settle(region)
    flip(database(region.data_dir), _offset_outside_log(region, b"plain-b007-r020-") + 3)
    region.start()

    served = read_everything(region.url, "plain")

    lost = assert_intact_or_reported(acked, served)
    assert lost == _batch(acked, "plain", 7)  # exactly the one PutRecords chunk
    assert [d.cause for d in served.damaged] == ["checksum mismatch"]
    assert len(served.records) == 19 * 50
    # An iterator AT a sequence number beyond the damage reads on from there.
    after = _batch(acked, "plain", 8)[0]
    client = kinesis_client(region.url)
    iterator = client.get_shard_iterator(
        StreamName="plain",
        ShardId="shardId-000000000000",
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=after,
    )["ShardIterator"]
    assert client.get_records(ShardIterator=iterator, Limit=1)["Records"][0]["SequenceNumber"] == (
        after
    )
    # Asking again gets the same answer; the server logged the damage once.
    again = read_everything(region.url, "plain").damaged
    assert [d.message for d in again] == [d.message for d in served.damaged]
    assert sum("cannot be served" in line for line in region.output) == 1


def test_flipped_metadata_bytes_are_detected(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "meta", batches=12)
    settle(region)
    db = database(region.data_dir)
    # A partition key (the chunk of batch 3) and a record's sequence key (batch 9).
    flip(db, _offset_outside_log(region, b"k10k11k12", occurrence=3) + 1)
    key, _ = parse_sequence(_batch(acked, "meta", 9)[5])  # type: ignore[misc]
    flip(db, _offset_outside_log(region, struct.pack("<q", key)) + 2)
    region.start()

    served = read_everything(region.url, "meta")

    lost = assert_intact_or_reported(acked, served)
    assert lost == sorted(_batch(acked, "meta", 3) + _batch(acked, "meta", 9))
    assert len(served.damaged) == 2


def test_damaged_encrypted_chunk_leaves_the_rest_of_the_shard_readable(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "secret", batches=60, encrypt=True)
    settle(region)
    ciphertext = stored_payload(region.data_dir, 30)
    flip(database(region.data_dir), _offset_outside_log(region, ciphertext[:64]) + 16, count=40)
    region.start()

    served = read_everything(region.url, "secret")

    lost = assert_intact_or_reported(acked, served)
    assert len(lost) == 50 and len(served.records) == 2950
    # The toolkit's reader (here `shardline tail`) is not blocked by the damage: it
    # logs the range, skips it, and prints every other record.
    tail = shardline(
        "tail", "secret", "--endpoint-url", region.url, "--from", "trim-horizon",
        "-n", "2950", "--json", "--poll-interval", "0.2",
    )  # fmt: skip
    assert tail.returncode == 0, tail.stderr
    printed = [json.loads(line)["sequence_number"] for line in tail.stdout.splitlines()]
    assert sorted(printed) == sorted(served.records)
    assert "are damaged on the region" in tail.stderr and "skipped" in tail.stderr


def test_zeroed_table_page_loses_only_its_chunks_and_names_them(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "rows", batches=30, shards=2)
    settle(region)
    leaves = [
        p
        for p in pages_of(region.data_dir, "chunks", "leaf")
        if p not in log_pages(region.data_dir)
    ]
    zero_page(database(region.data_dir), leaves[len(leaves) // 2])
    region.start()

    served = read_everything(region.url, "rows")

    lost = assert_intact_or_reported(acked, served)
    assert 0 < len(lost) < len(acked) // 4
    assert served.other_errors == []


def test_zeroed_index_page_is_reported_and_recover_restores_every_record(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "indexed", batches=300, per_batch=10, shards=4)
    settle(region)
    index_leaves = pages_of(region.data_dir, "sqlite_autoindex_chunks_1", "leaf")
    page = next(p for p in index_leaves if p not in log_pages(region.data_dir))
    zero_page(database(region.data_dir), page)
    region.start()

    served = read_everything(region.url, "indexed")

    assert_intact_or_reported(acked, served)
    assert served.index_damage  # the shards whose index entries were on the page
    region.stop()
    recovered = tmp_path / "recovered"
    done = shardline("recover", "--data-dir", str(region.data_dir), "--to", str(recovered))
    assert done.returncode == 0, done.stdout + done.stderr  # the table rows were all intact
    region.data_dir = recovered
    region.start()
    served = read_everything(region.url, "indexed")
    assert served.records == acked and served.damaged == []


def test_damaged_records_error_has_the_kinesis_shape(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "shape", batches=3)
    settle(region)
    flip(database(region.data_dir), _offset_outside_log(region, b"shape-b000-r000-") + 1)
    region.start()
    client = kinesis_client(region.url)
    iterator = client.get_shard_iterator(
        StreamName="shape", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    try:
        client.get_records(ShardIterator=iterator)
    except ClientError as exc:
        error = exc.response["Error"]
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert error["Code"] == "InternalFailure"
        first = _batch(acked, "shape", 0)
        assert "shardId-000000000000" in error["Message"] and first[-1] in error["Message"]
    else:
        raise AssertionError("a damaged chunk was served")


def test_subscribe_to_shard_reports_the_damage_and_resubscribing_after_it_reads_on(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "pushed", batches=8)
    client = kinesis_client(region.url)
    arn = client.describe_stream_summary(StreamName="pushed")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    consumer = client.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]
    settle(region)
    flip(database(region.data_dir), _offset_outside_log(region, b"pushed-b003-r010-") + 2)
    region.start()
    client = kinesis_client(region.url)

    received: dict[str, bytes] = {}
    errors: list[str] = []
    position: dict[str, Any] = {"Type": "TRIM_HORIZON"}
    for _ in range(10):  # bounded: one subscription per damaged range, and one to finish
        stream = subscribe_when_free(client, consumer["ConsumerARN"], position)
        try:
            for event in stream:
                body = event["SubscribeToShardEvent"]
                received.update((r["SequenceNumber"], r["Data"]) for r in body["Records"])
                if body["MillisBehindLatest"] == 0 and len(received) + 50 >= len(acked):
                    break
        except ClientError as exc:  # the exception event ends the subscription
            damage = DamagedRecords.parse(exc.response["Error"]["Message"])
            assert damage is not None, exc.response
            errors.append(damage.last_sequence)
            position = {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": damage.last_sequence}
            continue
        finally:
            stream.close()
        break

    assert len(errors) == 1
    assert all(acked[seq][1] == data for seq, data in received.items())
    assert sorted(set(acked) - set(received)) == _batch(acked, "pushed", 3)
