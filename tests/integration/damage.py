"""Damaging a real region's files, and reading back what it then serves.

A test writes records through a real ``shardline serve``, SIGKILLs it once the
evidence says its state is where the test wants it (``settle``), changes bytes in its
files, and checks what the server, ``verify`` or ``recover`` does with them. The
rule every test asserts (``assert_intact_or_reported``): no record is served with
altered bytes, and every acknowledged record is served intact or lies in a range
the server reported damaged.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from shardline.errors import DamagedRecords
from shardline.storage.integrity import wal
from shardline.testing import RegionProcess, kinesis_client, wait_active, wait_for

FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")
#: Keeps every commit in the write-ahead log (no checkpoint), for tests that damage it.
NO_CHECKPOINT = ("--wal-autocheckpoint-pages", "0", "--checkpoint-after-s", "0")
PAGE = 4096

#: Sequence number → (shard id, data) of every acknowledged record.
Acked = dict[str, tuple[str, bytes]]


def fill(
    url: str,
    stream: str,
    batches: int,
    per_batch: int = 50,
    shards: int = 1,
    encrypt: bool = False,
) -> Acked:
    """Create ``stream`` and put ``batches`` PutRecords of ``per_batch`` records into it."""
    client = kinesis_client(url)
    client.create_stream(StreamName=stream, ShardCount=shards)
    wait_active(client, stream)
    if encrypt:
        client.start_stream_encryption(
            StreamName=stream, EncryptionType="KMS", KeyId="alias/aws/kinesis"
        )
        wait_active(client, stream)
    acked: Acked = {}
    for batch in range(batches):
        records: list[dict[str, Any]] = [
            {"Data": f"{stream}-b{batch:03d}-r{i:03d}-".encode() * 4, "PartitionKey": f"k{i}"}
            for i in range(per_batch)
        ]
        out = client.put_records(StreamName=stream, Records=records)
        assert out["FailedRecordCount"] == 0
        for record, result in zip(records, out["Records"], strict=True):
            acked[result["SequenceNumber"]] = (result["ShardId"], record["Data"])
    return acked


def database(data_dir: Path) -> Path:
    return data_dir / "shardline.db"


def wal_file(data_dir: Path) -> Path:
    return data_dir / "shardline.db-wal"


def checkpointed(data_dir: Path) -> bool:
    """Every commit the wal-index knows of has been copied into the database file."""
    index = wal.read_index(data_dir / "shardline.db-shm")
    return index is not None and index.backfilled == index.max_frame


def settle(region: RegionProcess) -> None:
    """SIGKILL ``region`` once its records are in the database file and its log holds
    none of their pages.

    Waits for the checkpoint, then makes a metadata-only write (a new stream), which
    starts a new log generation, waits for that to be copied too, and kills. A
    damaged database page is then not shadowed by an intact copy in the log.
    """
    wait_for(lambda: checkpointed(region.data_dir), 60, "the checkpoint")
    client = kinesis_client(region.url)
    client.create_stream(StreamName=f"flush-{uuid.uuid4().hex[:6]}", ShardCount=1)
    wait_for(lambda: checkpointed(region.data_dir), 60, "the checkpoint after the flush")
    region.kill()


def log_pages(data_dir: Path) -> frozenset[int]:
    """Pages the write-ahead log will replay over the database file."""
    scan = wal.scan(wal_file(data_dir), PAGE)
    return scan.pages if scan is not None else frozenset()


def flip(path: Path, offset: int, count: int = 1) -> None:
    """Invert ``count`` bytes of ``path`` from ``offset`` on."""
    with path.open("r+b") as handle:
        handle.seek(offset)
        data = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in data))


def zero_page(path: Path, page: int) -> None:
    with path.open("r+b") as handle:
        handle.seek((page - 1) * PAGE)
        handle.write(bytes(PAGE))


def pages_of(data_dir: Path, name: str, kind: str) -> list[int]:
    """Page numbers of one b-tree (``chunks``, ``sqlite_autoindex_chunks_1``) by kind
    (``leaf``, ``internal``, ``overflow``), read from the file alone."""
    with _immutable(data_dir) as conn:
        rows = conn.execute(
            "SELECT pageno FROM dbstat WHERE name=? AND pagetype=? ORDER BY pageno", (name, kind)
        ).fetchall()
    return [page for (page,) in rows]


def stored_payload(data_dir: Path, nth: int) -> bytes:
    """The stored bytes of the ``nth`` chunk written (ciphertext for encrypted ones)."""
    with _immutable(data_dir) as conn:
        (payload,) = conn.execute(
            "SELECT payload FROM chunks ORDER BY rowid LIMIT 1 OFFSET ?", (nth,)
        ).fetchone()
    return bytes(payload)


class _immutable:
    def __init__(self, data_dir: Path) -> None:
        uri = f"{database(data_dir).resolve().as_uri()}?immutable=1"
        self.conn = sqlite3.connect(uri, uri=True)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *_: object) -> None:
        self.conn.close()


_INDEX_DAMAGE = re.compile(r"chunk index of (shardId-\d+) .* from sequence number (\d+) on")


@dataclass
class Served:
    """What a reader got: records by sequence number, and the damage it was told of."""

    records: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    damaged: list[DamagedRecords] = field(default_factory=list)
    #: Shards whose chunk index is damaged: from which sequence number on.
    index_damage: dict[str, str] = field(default_factory=dict)
    other_errors: list[str] = field(default_factory=list)


def read_everything(url: str, stream: str) -> Served:
    """Read every shard from TRIM_HORIZON; on reported damage, read on after it."""
    client = kinesis_client(url)
    served = Served()
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        shard_id = shard["ShardId"]
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for _ in range(10_000):
            try:
                out = client.get_records(ShardIterator=iterator)
            except ClientError as exc:
                message = exc.response["Error"].get("Message", "")
                damage = DamagedRecords.parse(message)
                index = _INDEX_DAMAGE.search(message)
                if index is not None:
                    served.index_damage[index[1]] = index[2]
                if damage is None:
                    served.other_errors.append(message)
                    break
                served.damaged.append(damage)
                iterator = client.get_shard_iterator(
                    StreamName=stream,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    StartingSequenceNumber=damage.last_sequence,
                )["ShardIterator"]
                continue
            for record in out["Records"]:
                served.records[record["SequenceNumber"]] = (shard_id, record["Data"])
            iterator = out.get("NextShardIterator")
            if iterator is None or (not out["Records"] and out["MillisBehindLatest"] == 0):
                break
    return served


def reported(served: Served, shard_id: str, sequence: str) -> bool:
    """Whether the reader was told ``sequence`` of ``shard_id`` cannot be served."""
    from_on = served.index_damage.get(shard_id)
    return (from_on is not None and int(sequence) >= int(from_on)) or any(
        d.shard_id == shard_id and int(d.first_sequence) <= int(sequence) <= int(d.last_sequence)
        for d in served.damaged
    )


def assert_intact_or_reported(acked: Acked, served: Served) -> list[str]:
    """No record served altered; every acknowledged record served or reported lost.

    Returns the sequence numbers reported lost (sorted).
    """
    altered = [seq for seq, record in served.records.items() if acked.get(seq) != record]
    assert altered == [], f"served records that were never acknowledged as such: {altered[:3]}"
    missing = sorted(seq for seq in acked if seq not in served.records)
    unreported = [seq for seq in missing if not reported(served, acked[seq][0], seq)]
    assert unreported == [], f"{len(unreported)} acknowledged records silently missing"
    return missing


def serve_refusal(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``shardline serve`` on ``data_dir`` expecting it to refuse to start."""
    command = [sys.executable, "-m", "shardline", "serve", "--port", "0", "--data-dir"]
    try:
        return subprocess.run(
            [*command, str(data_dir), *extra], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the server started instead of refusing: {exc.stdout!r}") from None


def shardline(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a ``shardline`` command to completion (verify, recover)."""
    return subprocess.run(
        [sys.executable, "-m", "shardline", *args], capture_output=True, text=True, timeout=300
    )


def verify_json(data_dir: Path) -> tuple[int, dict[str, Any]]:
    done = shardline("verify", "--data-dir", str(data_dir), "--json")
    return done.returncode, json.loads(done.stdout)


def digest(directory: Path) -> dict[str, str]:
    """A hash of every file under ``directory``: to prove a tool changed nothing."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }
