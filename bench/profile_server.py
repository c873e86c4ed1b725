#!/usr/bin/env python3
"""Where a region server spends its CPU: py-spy profiles of PutRecords, GetRecords
and SubscribeToShard (and, on request, single PutRecord calls), each on a fresh
``shardline serve``.

For each operation the harness starts a server (127.0.0.1, port 0, a temporary data
directory), prepares a 4-shard stream (stored records for the reads), attaches
``py-spy record --pid`` and drives that one operation with boto3 for ``--seconds``
(bounded by a call count too), then stops the profiler and prints:

- the share of samples per thread (event loop, writer, readers);
- the top functions by *self* time (the frame on top of the stack; C code such as
  orjson or sqlite3 is charged to the Python function that called it);
- the top functions by *inclusive* time (on the stack at all), below the event loop.

    python bench/profile_server.py                          # put, get, subscribe, ~1.5 min
    python bench/profile_server.py --ops put --seconds 20 --top 30
    python bench/profile_server.py --out bench/results/profiles   # keep the raw stacks

py-spy is a bench tool: it is taken from PATH or installed into
``bench/.peers/pyspy-venv`` on first use, never as a project dependency.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
from workloads import (  # noqa: E402
    Settings,
    create_stream,
    make_batches,
    make_client,
    subscribe_drain,
)

from shardline.testing import RegionProcess  # noqa: E402

OPS = ("put", "get", "subscribe", "single")
DEFAULT_OPS = ("put", "get", "subscribe")
#: Where a unit of work starts: an event-loop callback or a thread's target. The
#: inclusive table counts only the frames below the last of these in a stack.
_ENTRY_FRAMES = ("Handle._run", "Thread.run")


@dataclass(frozen=True)
class Profile:
    """Collapsed stacks of one py-spy run: ``(thread, frames root→leaf) → samples``."""

    stacks: Counter[tuple[str, tuple[str, ...]]]

    @classmethod
    def read(cls, path: Path) -> Profile:
        stacks: Counter[tuple[str, tuple[str, ...]]] = Counter()
        for line in path.read_text().splitlines():
            head, _, count = line.rpartition(" ")
            if not head or not count.isdigit():
                continue
            thread, *frames = head.split(";")
            stacks[(_thread_name(thread), tuple(_function(f) for f in frames))] += int(count)
        return cls(stacks)

    @property
    def total(self) -> int:
        return sum(self.stacks.values())

    def by_thread(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (thread, _), n in self.stacks.items():
            out[thread] += n
        return out

    def self_time(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, frames), n in self.stacks.items():
            if frames:
                out[frames[-1]] += n
        return out

    def inclusive(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, frames), n in self.stacks.items():
            below = frames[-1:]  # no entry frame: the loop itself (polling), count the leaf
            for i, frame in enumerate(frames):
                if frame.split(" (", 1)[0] in _ENTRY_FRAMES:
                    below = frames[i + 1 :]
            for frame in set(below):
                out[frame] += n
        return out


def _thread_name(text: str) -> str:
    """``thread (1234): shardline-reader_0`` → ``shardline-reader``."""
    name = text.split(":", 1)[-1].strip() or text
    return name.rstrip("_0123456789") or name


def _function(frame: str) -> str:
    """``put (shardline/storage/records.py:150)`` → ``put (storage/records.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0].removeprefix("shardline/")
    return f"{name} ({where})" if where else name


def report(op: str, profile: Profile, top: int, note: str) -> str:
    total = profile.total or 1
    lines = [f"## {op}: {profile.total} samples; {note}", "", "threads:"]
    for thread, n in profile.by_thread().most_common():
        lines.append(f"  {100 * n / total:5.1f}%  {thread}")
    for title, counts in (("self", profile.self_time()), ("inclusive", profile.inclusive())):
        lines += ["", f"top {top} by {title} time:"]
        for frame, n in counts.most_common(top):
            lines.append(f"  {100 * n / total:5.1f}%  {frame}")
    return "\n".join(lines) + "\n"


# -- the workloads, each bounded by --seconds and a call count ------------------------------


def _fill(client: Any, stream: str, records: int, rng: random.Random) -> Counter[str]:
    """Store ``records`` records; returns how many went to each shard."""
    batches = make_batches(20, Settings(), rng)
    per_shard: Counter[str] = Counter()
    for i in range(records // 500):
        out = client.put_records(StreamName=stream, Records=batches[i % len(batches)])
        per_shard.update(r["ShardId"] for r in out["Records"])
    return per_shard


def drive_put(
    client: Any, stream: str, seconds: float, rng: random.Random, stored: Counter[str]
) -> int:
    batches = make_batches(20, Settings(), rng)
    deadline, done = time.monotonic() + seconds, 0
    for i in range(100_000):
        if time.monotonic() > deadline:
            break
        client.put_records(StreamName=stream, Records=batches[i % len(batches)])
        done += 500
    return done


def drive_get(
    client: Any, stream: str, seconds: float, rng: random.Random, stored: Counter[str]
) -> int:
    deadline, done = time.monotonic() + seconds, 0
    shards = sorted(stored)
    for i in range(100_000):
        if time.monotonic() > deadline:
            break
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shards[i % len(shards)], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator and time.monotonic() < deadline:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            done += len(page["Records"])
            iterator = page.get("NextShardIterator")
            if not page["Records"]:
                break
    return done


def drive_subscribe(
    client: Any, stream: str, seconds: float, rng: random.Random, stored: Counter[str]
) -> int:
    """Rounds of one SubscribeToShard per shard from TRIM_HORIZON, all shards at once."""
    consumer = _PREPARED["consumer"]
    deadline = time.monotonic() + seconds
    done: Counter[str] = Counter()
    for _ in range(1000):
        if time.monotonic() > deadline:
            break
        threads = [
            threading.Thread(target=_subscribe, args=(client, consumer, s, n, deadline, done))
            for s, n in stored.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 30)
    return sum(done.values())


def _subscribe(
    client: Any, consumer: str, shard: str, expected: int, deadline: float, done: Counter[str]
) -> None:
    done[shard] += subscribe_drain(client, consumer, shard, expected, deadline)


def _register_consumer(client: Any, stream: str) -> str:
    arn = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    consumer: str = client.register_stream_consumer(StreamARN=arn, ConsumerName="profile")[
        "Consumer"
    ]["ConsumerARN"]
    for _ in range(600):
        description = client.describe_stream_consumer(ConsumerARN=consumer)
        if description["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE":
            return consumer
        time.sleep(0.1)
    raise TimeoutError("the profile's consumer never became ACTIVE")


#: Set up before the profiler attaches (only what a driver needs beyond the stream).
_PREPARED: dict[str, str] = {}


def drive_single(
    client: Any, stream: str, seconds: float, rng: random.Random, stored: Counter[str]
) -> int:
    payloads = [(rng.randbytes(100), f"{rng.getrandbits(128):032x}") for _ in range(256)]
    deadline, done = time.monotonic() + seconds, 0
    for i in range(1_000_000):
        if time.monotonic() > deadline:
            break
        data, key = payloads[i % len(payloads)]
        client.put_record(StreamName=stream, Data=data, PartitionKey=key)
        done += 1
    return done


DRIVERS: dict[str, Callable[..., int]] = {
    "single": drive_single,
    "put": drive_put,
    "get": drive_get,
    "subscribe": drive_subscribe,
}


def profile_op(op: str, args: argparse.Namespace, pyspy: str, out_dir: Path) -> str:
    rng = random.Random(op)
    with (
        tempfile.TemporaryDirectory() as tmp,
        RegionProcess(Path(tmp) / "data", "--create-delay-ms", "0", *args.serve_args) as region,
    ):
        client = make_client(region.url)
        create_stream(client, "profiled", 4)
        stored = _fill(client, "profiled", args.stored, rng) if op != "put" else Counter()
        if op == "subscribe":
            _PREPARED["consumer"] = _register_consumer(client, "profiled")
        raw = out_dir / f"{op}.txt"
        spy = subprocess.Popen(
            [pyspy, "record", "--pid", str(region.pid), "--format", "raw", "--output", str(raw)]
            + ["--rate", str(args.rate), "--function", "--threads"]
            # native stacks need the process paused while they are read
            + (["--native"] if args.native else ["--nonblocking"])
            + (["--gil"] if args.gil else []),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # py-spy attaches
        cpu0, t0 = peers.proc_cpu_seconds(region.pid), time.monotonic()
        records = DRIVERS[op](client, "profiled", args.seconds, rng, stored)
        elapsed = time.monotonic() - t0
        cpu = peers.proc_cpu_seconds(region.pid) - cpu0
        spy.send_signal(signal.SIGINT)
        try:
            _, err = spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, err = spy.communicate()
        if not raw.exists():
            raise SystemExit(f"py-spy wrote no profile for {op}: {err.strip()[-500:]}")
    note = (
        f"{records:,} records in {elapsed:.1f} s = {records / elapsed:,.0f} rec/s,"
        f" server CPU {cpu / max(records, 1) * 1e6:.2f} us/record (py-spy attached)"
    )
    return report(op, Profile.read(raw), args.top, note)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--ops",
        default=",".join(DEFAULT_OPS),
        help="comma list from put, get, subscribe, single (PutRecord) [put,get,subscribe]",
    )
    ap.add_argument("--seconds", type=float, default=15.0, help="profiled seconds per op [15]")
    ap.add_argument("--stored", type=int, default=200_000, help="records stored for reads")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second [250]")
    ap.add_argument("--top", type=int, default=25, help="rows per table [25]")
    ap.add_argument("--native", action="store_true", help="include C frames (py-spy --native)")
    ap.add_argument(
        "--gil", action="store_true", help="only samples holding the GIL (Python CPU, no waits)"
    )
    ap.add_argument("--serve-args", default="", help="extra `shardline serve` arguments")
    ap.add_argument("--out", type=Path, default=None, help="keep raw stacks and report here")
    args = ap.parse_args(argv)
    args.serve_args = args.serve_args.split()
    ops = [op.strip() for op in args.ops.split(",") if op.strip()]
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        ap.error(f"unknown op(s) {', '.join(unknown)}; known: {', '.join(OPS)}")
    pyspy = peers.ensure_pyspy()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.out or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        text = "".join(profile_op(op, args, pyspy, out_dir) + "\n" for op in ops)
        print(text)
        if args.out:
            (out_dir / "report.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
