"""Damaged files at start-up: refuse in one line with a distinct status, or start
silently when nothing acknowledged is at stake; ``recover`` salvages the rest."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from damage import (
    FAST,
    NO_CHECKPOINT,
    PAGE,
    Acked,
    assert_intact_or_reported,
    database,
    digest,
    fill,
    read_everything,
    serve_refusal,
    settle,
    shardline,
    verify_json,
    wal_file,
)

from shardline.storage.integrity import wal
from shardline.testing import RegionProcess, kinesis_client

FRAME = 24 + PAGE


def _fill_two_streams(region: RegionProcess) -> Acked:
    acked = fill(region.url, "orders", batches=16, shards=2)
    acked.update(fill(region.url, "logs", batches=8))
    return acked


def _one_line_refusal(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "serving Kinesis API" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return str(lines[0])


def _recover(source: Path, target: Path) -> tuple[int, dict[str, Any]]:
    done = shardline("recover", "--data-dir", str(source), "--to", str(target), "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def _served(url: str, streams: tuple[str, ...] = ("orders", "logs")) -> dict[str, Any]:
    """Every record the region serves from the streams it has, checked it reported no
    damage (a recovered region is clean)."""
    have = {s["StreamName"] for s in kinesis_client(url).list_streams()["StreamSummaries"]}
    served = {}
    for stream in have & set(streams):
        result = read_everything(url, stream)
        assert result.damaged == [] and result.other_errors == []
        served.update(result.records)
    return served


def _assert_recovered(acked: Acked, url: str, report: dict[str, Any]) -> int:
    """Every acknowledged record is served intact by the recovered region or lies in
    a range ``recover`` reported lost; returns how many were lost. A stream whose
    creation was itself in a lost part of the log is covered by the report's
    missing-frames finding, as a whole."""
    served = _served(url)
    altered = [seq for seq, record in served.items() if acked.get(seq) != record]
    assert altered == []
    streams = {s["StreamName"] for s in kinesis_client(url).list_streams()["StreamSummaries"]}
    log_lost = any(f["kind"] == "files" for f in report["lost"])

    def named(seq: str) -> bool:
        shard, data = acked[seq]
        if log_lost and data.split(b"-")[0].decode() not in streams:
            return True
        return any(
            lost["stream"] == data.split(b"-")[0].decode()
            and lost["shard"] == shard
            and int(lost["first_sequence"]) <= int(seq)
            and (lost["last_sequence"] is None or int(seq) <= int(lost["last_sequence"]))
            for lost in report["lost"]
            if lost["first_sequence"]
        )

    missing = [seq for seq in acked if seq not in served]
    assert [seq for seq in missing if not named(seq)] == []
    return len(missing)


def test_flipped_wal_byte_refuses_start_until_recovered(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, *NO_CHECKPOINT, data_dir=tmp_path / "region")
    acked = _fill_two_streams(region)
    region.kill()
    log = wal_file(region.data_dir)
    frames = (log.stat().st_size - 32) // FRAME
    with log.open("r+b") as handle:
        handle.seek(32 + (frames // 4) * FRAME + 24 + 1000)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x04]))

    line = _one_line_refusal(serve_refusal(region.data_dir), 65)
    assert "committed frames" in line and "checksum break" in line
    assert "stream orders: shardId-000000000000, shardId-000000000001" in line
    assert f"shardline recover --data-dir {region.data_dir}" in line
    (aside,) = (region.data_dir / "damaged").iterdir()
    assert (aside / log.name).read_bytes() == log.read_bytes()
    # The refusal stands at every restart, whatever SQLite has done to the wal-index.
    assert _one_line_refusal(serve_refusal(region.data_dir), 65) == line

    before = digest(region.data_dir)
    status, report = verify_json(region.data_dir)
    assert status == 1 and report["findings"][0]["kind"] == "files"
    status, recovered = _recover(region.data_dir, tmp_path / "recovered")
    assert digest(region.data_dir) == before  # verify and recover changed nothing
    assert any("stranded" in note for note in recovered["notes"])
    region.data_dir = tmp_path / "recovered"
    region.start()
    lost = _assert_recovered(acked, region.url, recovered)
    assert lost <= 50  # at most the one chunk whose page was in the damaged frame


def test_truncated_wal_refuses_start_and_recover_names_what_may_be_lost(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, *NO_CHECKPOINT, data_dir=tmp_path / "region")
    acked = _fill_two_streams(region)
    region.kill()
    log = wal_file(region.data_dir)
    os.truncate(log, log.stat().st_size // 2)

    line = _one_line_refusal(serve_refusal(region.data_dir), 65)
    assert "committed frames are missing" in line

    status, recovered = _recover(region.data_dir, tmp_path / "recovered")
    assert status == 1 and recovered["lost"][0]["kind"] == "files"
    region.data_dir = tmp_path / "recovered"
    region.start()
    assert 0 < _assert_recovered(acked, region.url, recovered) < len(acked)


def test_torn_tail_of_the_wal_is_accepted_silently(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, *NO_CHECKPOINT, data_dir=tmp_path / "region")
    acked = _fill_two_streams(region)
    region.kill()
    log = wal_file(region.data_dir)
    head = log.read_bytes()[:32]
    salts = head[16:24]
    # What a crash (even a power loss) mid-transaction leaves: a frame whose checksum
    # fails, then a commit frame that chains from it, then half a frame.
    torn = struct.pack(">II", 3, 0) + salts + b"\x00" * 8 + os.urandom(PAGE)
    s0, s1 = struct.unpack(">II", torn[16:24])
    s0, s1 = wal.checksum(struct.pack(">II", 4, 99), s0, s1, head[3] == 0x83)
    page = os.urandom(PAGE)
    s0, s1 = wal.checksum(page, s0, s1, head[3] == 0x83)
    commit = struct.pack(">II", 4, 99) + salts + struct.pack(">II", s0, s1) + page
    with log.open("ab") as handle:
        handle.write(torn + commit + (struct.pack(">II", 5, 0) + salts)[:16] + page[:2000])

    region.start()

    assert not (region.data_dir / "damaged").exists()
    assert _served(region.url) == acked


def test_damaged_database_header_refuses_start_and_recover_repairs_it(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = _fill_two_streams(region)
    settle(region)
    with database(region.data_dir).open("r+b") as handle:
        handle.write(b"not a database!!")

    line = _one_line_refusal(serve_refusal(region.data_dir), 65)
    assert str(database(region.data_dir)) in line and "header is damaged" in line
    assert "shardline recover" in line
    assert _one_line_refusal(serve_refusal(region.data_dir), 65) == line

    status, recovered = _recover(region.data_dir, tmp_path / "recovered")
    assert status == 0, recovered
    region.data_dir = tmp_path / "recovered"
    region.start()
    assert _assert_recovered(acked, region.url, recovered) == 0


def test_truncated_database_refuses_start_and_recover_names_the_loss(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = _fill_two_streams(region)
    settle(region)
    db = database(region.data_dir)
    pages = db.stat().st_size // PAGE
    os.truncate(db, (pages * 3 // 4) * PAGE)

    line = _one_line_refusal(serve_refusal(region.data_dir), 65)
    assert "is truncated" in line and f"of its {pages} pages" in line

    status, recovered = _recover(region.data_dir, tmp_path / "recovered")
    assert status == 1
    region.data_dir = tmp_path / "recovered"
    region.start()
    assert 0 < _assert_recovered(acked, region.url, recovered) < len(acked)


def test_wrong_or_missing_master_key_refuses_start(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "orders", batches=4, encrypt=True)
    region.kill()
    key_file = region.data_dir / "master.key"
    original = key_file.read_bytes()

    key_file.write_bytes(os.urandom(32))
    line = _one_line_refusal(serve_refusal(region.data_dir), 78)
    assert str(key_file) in line and "not the master key" in line
    key_file.unlink()
    line = _one_line_refusal(serve_refusal(region.data_dir), 78)
    assert "missing" in line and not key_file.exists()  # no new key was made up

    key_file.write_bytes(original)
    region.start()
    assert read_everything(region.url, "orders").records == acked


def test_locked_or_unusable_data_dir_refuses_start(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    line = _one_line_refusal(serve_refusal(region.data_dir), 75)
    assert f"pid {region.pid}" in line
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    line = _one_line_refusal(serve_refusal(not_a_dir), 73)
    assert str(not_a_dir) in line


def test_database_from_before_checksums_is_upgraded_on_open(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "orders", batches=6)
    acked.update(fill(region.url, "logs", batches=3, encrypt=True))
    region.stop()
    conn = sqlite3.connect(database(region.data_dir))
    conn.execute("ALTER TABLE chunks DROP COLUMN crc")
    conn.execute("ALTER TABLE chunks DROP COLUMN prev_key")
    conn.execute("DELETE FROM meta WHERE key='key_check'")
    # One old chunk whose layout is broken (its record count no longer fits).
    (rowid,) = conn.execute("SELECT rowid FROM chunks WHERE key_ref=0 LIMIT 1 OFFSET 2").fetchone()
    conn.execute(
        "UPDATE chunks SET payload=CAST(X'FFFF0000' || substr(payload, 5) AS BLOB) WHERE rowid=?",
        (rowid,),
    )
    conn.commit()
    conn.close()

    region.start()

    assert any("upgraded" in line and "1 failed their checks" in line for line in region.output)
    served = read_everything(region.url, "orders")
    served.records.update(read_everything(region.url, "logs").records)
    assert len(assert_intact_or_reported(acked, served)) == 50
    region.stop()
    status, report = verify_json(region.data_dir)
    assert status == 1 and [f["kind"] for f in report["findings"]] == ["records"]
