"""What chunk checksums cost, and what the write-ahead log policy costs and buys.

1. **Checksums.** Two servers of the same build, one started with
   ``SHARDLINE_BENCH_UNCHECKED=1`` (a switch for this benchmark only: chunks are
   written without checksum or chain link and read without any check). Each round
   puts ``--batches`` PutRecords of 500 × 100 B into a new 4-shard stream on each
   and drains both with GetRecords, every call made on both servers back to back,
   so the load of a shared machine falls on both alike. Printed: median records/s
   of each and the median of the rounds' ratios checked/unchecked (issue 14's
   target: checksums cost at most 5 %, a ratio of at least 0.95), and each server's
   own CPU time per record over all rounds, which the load of the machine moves much
   less. On a shared
   2-core machine single rounds vary by ±20 %, so the same work is also timed in
   process (``micro``): the checksum and chain lookup a PutRecords adds, and the
   checks a 10,000-record GetRecords adds, as a share of each call's time.
2. **WAL policy.** For each ``--wal-autocheckpoint-pages`` / ``--checkpoint-after-
   seconds`` setting, a burst of PutRecords, then an idle tail. A sampler reads the
   wal-index every 10 ms: committed frames not yet copied into the database file
   are what a damaged log can lose. Printed: burst records/s, that exposure
   (median during the burst and maximum, KiB), and the share of the burst and of
   the idle tail during which any committed data existed only in the log.

    python bench/integrity_bench.py                    # ~4 min
    python bench/integrity_bench.py --rounds 3 --skip-wal --json out.json

Every loop is bounded in calls and time. One client thread, 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from workloads import Settings, _put_batches, create_stream, make_batches, make_client

from shardline.storage import chunks
from shardline.storage.checksum import chunk_crc
from shardline.storage.crypto import unsealer
from shardline.storage.integrity import wal
from shardline.storage.schema import SCHEMA
from shardline.storage.stored import ChunkRow, open_chunk
from shardline.testing import RegionProcess

FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")
POLICIES = [(1000, 0.0), (1000, 1.0), (4000, 1.0), (250, 1.0), (100, 1.0)]


class _Paired:
    """One client per server and one new stream on each; every call is made on both
    servers back to back (alternating which goes first) and timed, so the load of a
    shared machine falls on both alike."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.clients = {name: make_client(url) for name, url in urls.items()}
        self.stream = f"bench-{uuid.uuid4().hex[:8]}"
        for client in self.clients.values():
            create_stream(client, self.stream, 4)
        self.seconds = {name: 0.0 for name in urls}
        self.flip = False

    def both(self, call: Any) -> dict[str, Any]:
        """``call(name, client)`` on each server in turn; returns each result."""
        names = list(self.clients)
        self.flip = not self.flip
        results = {}
        for name in reversed(names) if self.flip else names:
            start = time.perf_counter()
            results[name] = call(name, self.clients[name])
            self.seconds[name] += time.perf_counter() - start
        return results


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _paired_round(
    servers: dict[str, RegionProcess], batches: list[list[dict[str, Any]]], calls: int, cap: float
) -> dict[str, Any]:
    """PutRecords ``calls`` times on both, then drain both with paired GetRecords;
    each phase also stops at ``cap`` seconds (then the figures cover what was done).
    Besides records/s, each server's own CPU time per record is taken: it does not
    depend on how busy the client or the rest of the machine was."""
    urls = {name: server.url for name, server in servers.items()}
    cpu = {name: _cpu_seconds(server.pid) for name, server in servers.items()}
    pair = _Paired(urls)
    deadline = time.monotonic() + cap
    put_records = 0
    for number in range(calls):
        if time.monotonic() > deadline:
            break
        batch = batches[number % len(batches)]
        pair.both(lambda _, c, b=batch: c.put_records(StreamName=pair.stream, Records=b))
        put_records += len(batch)
    put_seconds, pair.seconds = pair.seconds, {name: 0.0 for name in urls}
    put_cpu = {name: _cpu_seconds(s.pid) - cpu[name] for name, s in servers.items()}
    cpu = {name: _cpu_seconds(server.pid) for name, server in servers.items()}
    read = {name: 0 for name in urls}
    deadline = time.monotonic() + cap
    for shard in range(4):
        iterators = pair.both(
            lambda _, c, shard_id=f"shardId-{shard:012d}": c.get_shard_iterator(
                StreamName=pair.stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        )
        while time.monotonic() < deadline:
            answers = pair.both(
                lambda name, c, its=iterators: c.get_records(ShardIterator=its[name], Limit=10000)
            )
            for name, answer in answers.items():
                read[name] += len(answer["Records"])
                iterators[name] = answer["NextShardIterator"]
            if not any(answer["Records"] for answer in answers.values()):
                break
    get_cpu = {name: _cpu_seconds(s.pid) - cpu[name] for name, s in servers.items()}
    return {
        name: {
            "put": put_records / put_seconds[name],
            "get": read[name] / pair.seconds[name],
            "put_records": put_records,
            "get_records": read[name],
            "put_cpu_s": put_cpu[name],
            "get_cpu_s": get_cpu[name],
        }
        for name in urls
    }


def checksums(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Rounds alternate between two pairs of servers started in opposite orders: on
    this machine the server started first of a pair drained up to 20 % slower
    whichever build it ran, and the two orders cancel that out."""
    batches = make_batches(min(args.batches, 50), Settings(), random.Random(1))
    pairs = []
    for order in (("checked", "unchecked"), ("unchecked", "checked")):
        pair = {name: RegionProcess(root / f"{name}-{order[0]}-first", *FAST) for name in order}
        pair["unchecked"].env = {"SHARDLINE_BENCH_UNCHECKED": "1"}
        pairs.append(pair)
    rounds = []
    try:
        for pair in pairs:
            for server in pair.values():
                server.start()
        for number in range(args.rounds):
            rounds.append(_paired_round(pairs[number % 2], batches, args.batches, args.time_cap))
            line = "  ".join(
                f"{name} put {r['put']:6.0f} get {r['get']:6.0f}" for name, r in rounds[-1].items()
            )
            print(f"  round {number}: {line} rec/s")
    finally:
        for pair in pairs:
            for server in pair.values():
                server.stop()
    names = ("checked", "unchecked")
    medians = {
        name: {kind: statistics.median(r[name][kind] for r in rounds) for kind in ("put", "get")}
        for name in names
    }
    # CPU time is counted in 10 ms ticks: summed over all rounds, not a median of rounds.
    for name in names:
        for kind in ("put", "get"):
            seconds = sum(r[name][f"{kind}_cpu_s"] for r in rounds)
            records = sum(r[name][f"{kind}_records"] for r in rounds)
            medians[name][f"{kind}_cpu_us"] = 1e6 * seconds / max(records, 1)
    ratio = {
        kind: statistics.median(r["checked"][kind] / r["unchecked"][kind] for r in rounds)
        for kind in ("put", "get")
    }
    return {"rounds": rounds, "medians": medians, "ratio_checked_over_unchecked": ratio}


class _Sampler(threading.Thread):
    """Reads the wal-index every 10 ms: committed frames not yet in the database."""

    def __init__(self, shm: Path, page_size: int) -> None:
        super().__init__(daemon=True)
        self.shm, self.page_size = shm, page_size
        self.samples: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.01) and len(self.samples) < 1_000_000:
            index = wal.read_index(self.shm)
            if index is not None:
                pending = max(0, index.max_frame - index.backfilled)
                self.samples.append(pending * (self.page_size + wal.FRAME_HEADER))


def policies(args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    """Every setting on its own server; rounds visit them in turn, so drift on a
    shared machine hits all settings alike. Medians over ``--wal-repeats`` rounds."""
    servers = {}
    for pages, after in POLICIES:
        servers[(pages, after)] = RegionProcess(
            root / f"wal-{pages}-{after}",
            *FAST,
            "--wal-autocheckpoint-pages",
            str(pages),
            "--checkpoint-after-s",
            str(after),
        ).start()
    runs: dict[tuple[int, float], list[dict[str, Any]]] = {key: [] for key in servers}
    try:
        for number in range(args.wal_repeats):
            for key, server in servers.items():
                runs[key].append(_burst(args, server))
                print(f"  round {number} {key}: {runs[key][-1]['put_rps']:8.0f} rec/s")
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for (pages, after), results in runs.items():
        row: dict[str, Any] = {"autocheckpoint_pages": pages, "checkpoint_after_s": after}
        for field in results[0]:
            row[field] = statistics.median(result[field] for result in results)
        rows.append(row | {"runs": results})
    return rows


def _burst(args: argparse.Namespace, server: RegionProcess) -> dict[str, Any]:
    """One burst of PutRecords into a new stream, then the idle tail, sampled."""
    batches = make_batches(min(args.batches, 50), Settings(), random.Random(2))
    sampler = _Sampler(server.data_dir / "shardline.db-shm", 4096)
    client = make_client(server.url)
    name = f"wal-{uuid.uuid4().hex[:8]}"
    create_stream(client, name, 4)
    sampler.start()
    try:
        put = _put_batches(client, name, batches, args.wal_batches, args.time_cap)
        burst_samples = len(sampler.samples)
        time.sleep(args.idle)  # the idle tail: how long does data stay log-only?
    finally:
        sampler.stop.set()
        sampler.join()
    burst = sampler.samples[:burst_samples] or [0]
    return {
        "put_rps": put["records_ok"] / put["seconds"],
        "exposure_median_kib": statistics.median(burst) / 1024,
        "exposure_max_kib": max(sampler.samples or [0]) / 1024,
        "log_only_share_burst": _share(burst),
        "log_only_share_idle": _share(sampler.samples[burst_samples:]),
    }


def _best_of(fn: Any, number: int) -> float:
    """Seconds per call: the best of 5 timings of ``number`` calls."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def micro(root: Path) -> dict[str, float]:
    """The checking work itself, timed in process (seconds)."""
    rng = random.Random(3)
    keys = list(range(1000, 1500))
    blob = chunks.pack(keys, [rng.randbytes(16).hex().encode()] * 500, [rng.randbytes(100)] * 500)
    row = ChunkRow(1, keys[-1], keys[0], 0, blob, chunk_crc(1, keys[0], keys[-1], 0, 7, blob), 7)
    plain = unsealer(None, {})
    conn = sqlite3.connect(root / "micro.db")
    conn.executescript(SCHEMA)
    conn.executemany(
        "INSERT INTO chunks VALUES (?, ?, ?, 0, x'00', 0, 0)",
        [(uid, key, key) for uid in range(4) for key in range(1, 5001)],
    )
    lookup = "SELECT MAX(last_key) FROM chunks WHERE shard_uid=?"
    quarter = blob[: len(blob) // 4]
    return {
        "crc_125_records": _best_of(lambda: chunk_crc(1, 1, 2, 0, 0, quarter), 2000),
        "chain_lookup": _best_of(lambda: conn.execute(lookup, (2,)).fetchone(), 2000),
        "open_checked_500": _best_of(lambda: open_chunk(row, plain, True), 500),
        "open_unchecked_500": _best_of(lambda: open_chunk(row, plain, False), 500),
    }


def _report_checksums(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    print("1. checksums: same build, checked vs SHARDLINE_BENCH_UNCHECKED=1")
    result = checksums(args, root)
    ratio = result["ratio_checked_over_unchecked"]
    medians = result["medians"]
    for kind in ("put", "get"):
        checked, unchecked = medians["checked"], medians["unchecked"]
        cpu = checked[f"{kind}_cpu_us"] / unchecked[f"{kind}_cpu_us"]
        print(
            f"  {kind}: checked {checked[kind]:.0f} rec/s, unchecked {unchecked[kind]:.0f} "
            f"rec/s, ratio {ratio[kind]:.3f}; server CPU per record "
            f"{checked[f'{kind}_cpu_us']:.2f} vs {unchecked[f'{kind}_cpu_us']:.2f} µs "
            f"(checked costs {100 * (cpu - 1):+.1f} %)"
        )
    timed = result["micro"] = micro(root)
    # A 500-record PutRecords on 4 shards stores 4 chunks of ~125 records; a
    # 10,000-record GetRecords opens 20 chunks of 500.
    put_work = 4 * (timed["crc_125_records"] + timed["chain_lookup"])
    get_work = 20 * (timed["open_checked_500"] - timed["open_unchecked_500"])
    put_call = 500 / medians["unchecked"]["put"]
    get_call = 10_000 / medians["unchecked"]["get"]
    result["work_share"] = {"put": put_work / put_call, "get": get_work / get_call}
    print(
        f"  in process: a PutRecords adds {put_work * 1e6:.1f} µs to a {put_call * 1e3:.1f} ms "
        f"call ({100 * put_work / put_call:.2f} %); a 10,000-record GetRecords adds "
        f"{get_work * 1e6:.1f} µs to a {get_call * 1e3:.1f} ms call "
        f"({100 * get_work / get_call:.2f} %)"
    )
    return result


def _share(samples: list[int]) -> float:
    return sum(1 for s in samples if s) / len(samples) if samples else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="checksum rounds (even)")
    parser.add_argument("--batches", type=int, default=100, help="PutRecords per checksum round")
    parser.add_argument("--wal-batches", type=int, default=200, help="PutRecords per WAL burst")
    parser.add_argument("--wal-repeats", type=int, default=5, help="bursts per WAL setting")
    parser.add_argument("--idle", type=float, default=3.0, help="idle tail after a burst, s")
    parser.add_argument("--time-cap", type=float, default=60.0, help="cap of each loop, s")
    parser.add_argument("--skip-wal", action="store_true", help="only the checksum part")
    parser.add_argument("--skip-checksums", action="store_true", help="only the WAL part")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shardline-integrity-bench-") as tmp:
        root = Path(tmp)
        result: dict[str, Any] = {}
        if not args.skip_checksums:
            result["checksums"] = _report_checksums(args, root)
        if not args.skip_wal:
            print("2. WAL policy: pages, after-s, put rec/s, exposure KiB median/max, log-only")
            result["wal"] = policies(args, root)
            print("  medians:")
            for row in result["wal"]:
                pages, after = row["autocheckpoint_pages"], row["checkpoint_after_s"]
                print(
                    f"  {pages:5d} {after:4.1f}  {row['put_rps']:8.0f}  "
                    f"{row['exposure_median_kib']:7.0f} / {row['exposure_max_kib']:7.0f}  "
                    f"burst {100 * row['log_only_share_burst']:5.1f} %  "
                    f"idle {100 * row['log_only_share_idle']:5.1f} %"
                )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
