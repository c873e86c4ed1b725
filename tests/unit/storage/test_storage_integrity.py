"""The integrity pieces on their own: WAL and header readers, chunk checks, the chain."""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from shardline.errors import DamagedRecords
from shardline.storage import chunks
from shardline.storage.checksum import chunk_crc
from shardline.storage.crypto import RecordCipher, unsealer
from shardline.storage.exceptions import ChunkFault
from shardline.storage.integrity import btree, dbfile, wal
from shardline.storage.integrity.salvage import Shard
from shardline.storage.scan import ShardReader
from shardline.storage.stored import ChunkRow, open_chunk

PAGE = 4096
FRAME = 24 + PAGE


@pytest.fixture()
def live_log(tmp_path: Path) -> Iterator[Path]:
    """A database whose 20 commits are all still in its write-ahead log (the
    connection stays open and never checkpoints); yields the database path."""
    path = tmp_path / "live.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    for i in range(20):
        conn.execute("INSERT INTO t VALUES (?, ?)", (i, os.urandom(3000)))
    yield path
    conn.close()


def _snapshot(live: Path, target: Path) -> Path:
    """Copies of the database, its log and its wal-index, as a crash leaves them."""
    target.mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{live}{suffix}", target / f"copy.db{suffix}")
    return target / "copy.db"


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x20]))


def test_an_intact_log_replays_in_full(live_log: Path) -> None:
    scan = wal.scan(Path(f"{live_log}-wal"), PAGE)
    assert scan is not None
    assert scan.valid == scan.frames and scan.stranded == () and not scan.loses_commits
    assert scan.index is not None and scan.index.max_frame == scan.valid


def test_a_damaged_frame_strands_the_commits_after_it(live_log: Path, tmp_path: Path) -> None:
    copy = _snapshot(live_log, tmp_path / "crash")
    _flip(Path(f"{copy}-wal"), 32 + 3 * FRAME + 24 + 100)
    scan = wal.scan(Path(f"{copy}-wal"), PAGE)
    assert scan is not None and scan.loses_commits
    assert scan.break_at == 4 and scan.stranded_commits >= 2
    assert "after a checksum break at frame 4" in scan.describe()
    # Re-chained, SQLite replays every commit again (the damaged frame aside).
    fixed = _snapshot(live_log, tmp_path / "fixed")
    os.remove(f"{fixed}-shm")
    wal.rechain(Path(f"{copy}-wal"), Path(f"{fixed}-wal"), scan)
    assert _rows(fixed) >= 19


def test_a_torn_last_transaction_is_no_loss(live_log: Path, tmp_path: Path) -> None:
    copy = _snapshot(live_log, tmp_path / "crash")
    log = Path(f"{copy}-wal")
    salts = log.read_bytes()[16:24]
    with log.open("ab") as handle:  # a frame with a bad checksum, then half a frame
        handle.write(struct.pack(">II", 2, 0) + salts + bytes(8) + os.urandom(PAGE))
        handle.write(struct.pack(">II", 3, 9) + salts + os.urandom(2000))
    scan = wal.scan(log, PAGE)
    assert scan is not None and not scan.loses_commits
    assert scan.valid == scan.frames - 1


def test_a_truncated_log_is_caught_by_its_wal_index(live_log: Path, tmp_path: Path) -> None:
    copy = _snapshot(live_log, tmp_path / "crash")
    log = Path(f"{copy}-wal")
    os.truncate(log, log.stat().st_size // 2)
    scan = wal.scan(log, PAGE)
    assert scan is not None and scan.stranded == () and scan.loses_commits
    assert "committed frames are missing" in scan.describe()
    os.remove(f"{copy}-shm")  # without the wal-index the loss cannot be seen
    scan = wal.scan(log, PAGE)
    assert scan is not None and not scan.loses_commits


def _problem(path: Path) -> str | None:
    """What ``dbfile.inspect`` finds wrong with the database at ``path`` (None: nothing)."""
    inspected = dbfile.inspect(path, None)
    assert inspected is not None, f"{path} was not inspected"
    return inspected.problem


def test_database_header_and_length_are_checked(live_log: Path, tmp_path: Path) -> None:
    with sqlite3.connect(live_log) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = tmp_path / "copy.db"
    shutil.copyfile(live_log, copy)
    assert _problem(copy) is None
    pages = copy.stat().st_size // PAGE
    os.truncate(copy, (pages - 3) * PAGE)
    problem = _problem(copy)
    assert problem == (
        f"it is truncated: it holds {pages - 3} of its {pages} pages of 4096 bytes (3 missing)"
    )
    dbfile.repair_copy(copy, PAGE, 0)
    assert _problem(copy) is None
    with copy.open("r+b") as handle:
        handle.write(b"garbage")
    assert "header is damaged" in (_problem(copy) or "")


def _row(keys: list[int], prev: int = 0, key_ref: int = 0, blob: bytes | None = None) -> ChunkRow:
    blob = blob or chunks.pack(keys, [b"p"] * len(keys), [b"data"] * len(keys))
    crc = chunk_crc(7, keys[0], keys[-1], key_ref, prev, blob)
    return ChunkRow(7, keys[-1], keys[0], key_ref, blob, crc, prev)


def test_open_chunk_refuses_any_altered_byte() -> None:
    row = _row([10, 11, 12])
    assert list(open_chunk(row, unsealer(None, {})).keys) == [10, 11, 12]
    for at in range(len(row.payload)):
        damaged = bytearray(row.payload)
        damaged[at] ^= 1
        with pytest.raises(ChunkFault, match="checksum mismatch"):
            open_chunk(ChunkRow(7, 12, 10, 0, bytes(damaged), row.crc, 0), unsealer(None, {}))
    with pytest.raises(ChunkFault, match="checksum mismatch"):  # metadata: the chain link
        open_chunk(ChunkRow(7, 12, 10, 0, row.payload, row.crc, 9), unsealer(None, {}))


def test_encrypted_chunk_needs_its_key() -> None:
    cipher = RecordCipher(b"k" * 32)
    sealed = cipher.seal("alias/a", chunks.pack([5], [b"p"], [b"secret"]))
    row = _row([5], key_ref=1, blob=sealed)
    assert open_chunk(row, unsealer(cipher, {1: "alias/a"})).payloads == [b"secret"]
    with pytest.raises(ChunkFault, match="failed authentication"):
        open_chunk(row, unsealer(RecordCipher(b"x" * 32), {1: "alias/a"}))
    with pytest.raises(ChunkFault, match="unknown key reference"):
        open_chunk(row, unsealer(cipher, {}))


@pytest.mark.parametrize(
    "blob",
    [
        b"\x01",
        struct.pack("<I", 1000) + bytes(20),
        chunks.pack([1, 2], [b"a", b"b"], [b"x", b"y"]) + b"extra",
        chunks.pack([2, 1], [b"a", b"b"], [b"x", b"y"]),
        chunks.pack([1], [b"\xff"], [b"x"]),
    ],
    ids=["short", "count", "lengths", "order", "utf8"],
)
def test_unchecksummed_chunks_must_have_a_consistent_layout(blob: bytes) -> None:
    with pytest.raises(ChunkFault, match="malformed chunk"):
        chunks.unpack_checked(blob)


def test_reader_chain_rules() -> None:
    reader = ShardReader(1, unsealer(None, {}), lambda: 100)
    row = _row([300, 310], prev=250)
    assert reader.follows(row, None, start=260)  # the chunk before lies below the start
    assert not reader.follows(row, None, start=200)  # a chunk at 250 was not read
    assert reader.follows(_row([300], prev=50), None, start=0)  # trimmed away
    assert reader.follows(row, 250, start=0) and not reader.follows(row, 240, start=0)


def test_the_chain_names_lost_ranges_exactly() -> None:
    shard = Shard(uid=7, trimmed_key=100)
    shard.links = [
        (110, 101, 90, 5),  # first chunk, its predecessor was trimmed
        (130, 121, 120, 5),  # the chunk 111..120 is gone
        (140, 131, 130, 5),
    ]
    shard.damaged = {120: "checksum mismatch", 160: "an unreadable database page"}
    assert [(lost.first_key, lost.last_key, lost.cause) for lost in shard.lost()] == [
        (111, 120, "checksum mismatch"),
        (141, 160, "an unreadable database page"),
    ]


def test_damage_message_reads_back() -> None:
    sent = DamagedRecords(
        "orders", "shardId-000000000002", "4900001", "4900009", "checksum mismatch"
    )
    back = DamagedRecords.parse(sent.message)
    assert back is not None
    assert (back.stream, back.shard_id, back.first_sequence, back.last_sequence, back.cause) == (
        "orders",
        "shardId-000000000002",
        "4900001",
        "4900009",
        "checksum mismatch",
    )
    assert DamagedRecords.parse("Internal service failure.") is None


def test_btree_pages_name_chunks_and_streams(tmp_path: Path) -> None:
    path = tmp_path / "pages.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE chunks (shard_uid INTEGER, last_key INTEGER, first_key INTEGER, "
            "key_ref INTEGER, payload BLOB, crc INTEGER, prev_key INTEGER)"
        )
        conn.execute("CREATE TABLE streams (name TEXT, doc BLOB)")
        conn.execute("INSERT INTO chunks VALUES (3, 99, 90, 0, x'00', 1, 0)")
        conn.execute("INSERT INTO streams VALUES ('s', ?)", (b"{" + b" " * 9000 + b"}",))
    image = path.read_bytes()
    pages = {n + 1: image[n * PAGE : (n + 1) * PAGE] for n in range(len(image) // PAGE)}
    found = [key for number, page in pages.items() for key in btree.chunk_keys(page, number)]
    assert found == [(3, 99)]
    rows = [
        row
        for number, page in pages.items()
        for row in btree.text_blob_rows(page, number, pages.get)
    ]
    assert rows == [("s", b"{" + b" " * 9000 + b"}")]


def test_tampered_ciphertext_is_refused() -> None:
    cipher = RecordCipher(b"k" * 32)
    sealed = bytearray(cipher.seal("alias/a", b"payload"))
    assert cipher.open("alias/a", bytes(sealed)) == b"payload"
    sealed[-1] ^= 1
    with pytest.raises(ChunkFault):
        cipher.open("alias/a", bytes(sealed))
    with pytest.raises(ChunkFault):
        cipher.open("alias/other", cipher.seal("alias/a", b"payload"))
