"""Cross-region HA in one run: replication throughput and lag, and failover RTO/RPO.

Everything runs on 127.0.0.1: two ``shardline serve`` regions (``east`` primary,
``west`` standby) per workload, the HA components as child processes, one clock.

1. replication: a 4-shard stream, ``shardline replicate`` with fan-out retrieval
   (``retrieval = "auto"``, which picks fan-out on Shardline) and with polling. A
   boto3 load generator puts 100-byte records (each carrying a sequence number and
   its send time) with PutRecords every 20 ms at ``--rates`` records/s for
   ``--seconds`` (bounded by count and by time). Once everything is copied (or after
   ``--drain-cap`` s), both streams are read back and every record matched by its
   sequence number. **Lag** = ApproximateArrivalTimestamp in the standby minus the
   one in the primary (the replicator's own delay: source read + target put; both
   servers stamp with the same clock, 1 ms resolution); **end-to-end** = standby
   arrival minus send time (adds the primary's put latency). **Replicated rec/s** =
   records copied / (last standby arrival - first primary arrival). Target: lag p99
   <= 250 ms at 5k records/s.
2. failover: monitor, replicator, a consumer per region and a producer at ``--rate``
   records/s with record ids (``tests/integration/ha_worker.py``), policy window
   10 s, threshold 1%, checks every 1 s, 3 consecutive, canary every 1 s, state
   polled every 0.5 s, start buffer 2 s; cold and warm standby. After ``--warmup``
   s the primary gets a full outage (every call answered 503). **Detection** =
   fault -> the controller's failover decision (epoch 2); **RTO** = fault -> first
   record *put after the fault* processed in the standby (the put time travels in
   the payload); **standby first** = fault -> the first record the standby
   processed after the decision (cold: its consumers started; warm: they saw new
   data). After the producer finished: **RPO** = acknowledged records missing from
   the union of processed records (target 0), **duplicates** = processed records
   minus distinct ids, split into ids processed twice in one region (re-sends) and
   ids processed in both regions (cold: the start buffer's overlap; warm: every
   record before the fault, by design); idempotent sinks absorb them. Target: RTO
   <= 15 s with the 10 s window.

Each step is repeated ``--repeats`` times; the table shows medians. ``--quick`` is a
smoke run: one repeat, shorter steps.

Usage: ``python bench/ha_bench.py [--repeats 3] [--json bench/results/ha_bench.json]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import random
import statistics
import struct
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fanout_bench import percentile

from shardline.framing import origin
from shardline.stores.control import ControlState
from shardline.stores.factory import control_store_for
from shardline.stores.reports import ProducerReport, Published, R, ReplicatorReport
from shardline.testing import (
    ChildProcess,
    RegionProcess,
    ShardlineProcess,
    kinesis_client,
    read_stream,
    set_fault,
    wait_active,
    wait_for,
    write_topology,
)
from shardline.topology import load_topology

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "integration" / "ha_worker.py"
FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")
#: Sequence number and send time (ns) at the front of every load record; -1: warm-up.
_HEADER = struct.Struct(">qq")
RECORD_BYTES = 100
TICK_S = 0.02
SHARDS = 4
POLICY: dict[str, Any] = {
    "window_s": 10.0,
    "threshold": 0.01,
    "check_interval_s": 1.0,
    "consecutive_checks": 3,
    "canary_interval_s": 1.0,
    "poll_interval_s": 0.5,
    "start_buffer_s": 2.0,
}


def _load_worker_command() -> Any:
    """``command()`` of the HA tests' worker script, which runs this bench's pipeline."""
    spec = importlib.util.spec_from_file_location("ha_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.command


worker_command = _load_worker_command()


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def read_reports(topology_path: Path, kind: type[R]) -> list[Published[R]]:
    async def read() -> list[Published[R]]:
        async with control_store_for(load_topology(topology_path).stores) as store:
            return await store.get_reports(kind)

    return asyncio.run(read())


def read_state(topology_path: Path) -> ControlState | None:
    async def read() -> ControlState | None:
        async with control_store_for(load_topology(topology_path).stores) as store:
            return await store.get_state()

    return asyncio.run(read())


def make_streams(urls: tuple[str, ...], name: str, shards: int) -> None:
    for url in urls:
        client = kinesis_client(url)
        client.create_stream(StreamName=name, ShardCount=shards)
        wait_active(client, name)


# -- 1. replication ------------------------------------------------------------------


def load(url: str, stream: str, rate: int, seconds: float) -> dict[str, Any]:
    """Put ``rate * seconds`` records paced every TICK_S; stops at 1.5 x ``seconds``."""
    client = kinesis_client(url)
    rng = random.Random(7)
    per_tick = max(1, round(rate * TICK_S))
    total = int(rate * seconds)
    pad = b"x" * (RECORD_BYTES - _HEADER.size)
    sent = failed = 0
    start = time.perf_counter()
    tick = 0
    while sent < total and time.perf_counter() - start < seconds * 1.5:
        now_ns = time.time_ns()
        records = [
            {
                "Data": _HEADER.pack(sent + i, now_ns) + pad,
                "PartitionKey": str(rng.getrandbits(64)),
            }
            for i in range(min(per_tick, total - sent))
        ]
        result = client.put_records(StreamName=stream, Records=records)
        failed += result.get("FailedRecordCount", 0)
        sent += len(records)
        tick += 1
        delay = start + tick * TICK_S - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.perf_counter() - start
    return {"sent": sent, "failed": failed, "put_seconds": elapsed, "put_rec_s": sent / elapsed}


def copied(topology_path: Path) -> int:
    return sum(r.body.copied for r in read_reports(topology_path, ReplicatorReport))


def arrivals(url: str, stream: str, marked: bool) -> dict[int, tuple[float, int]]:
    """Load records in ``stream``: sequence -> (first arrival, send time ns)."""
    out: dict[int, tuple[float, int]] = {}
    for record in read_stream(url, stream):
        data = origin.unwrap(record["Data"])[1] if marked else record["Data"]
        seq, sent_ns = _HEADER.unpack_from(data)
        if seq >= 0 and seq not in out:
            out[seq] = (record["ApproximateArrivalTimestamp"].timestamp(), sent_ns)
    return out


def replication_step(
    east: RegionProcess, west: RegionProcess, tmp: Path, retrieval: str, rate: int, args: Any
) -> dict[str, Any]:
    """One load step on a fresh stream, control store and replicator."""
    stream = f"r-{uuid.uuid4().hex[:8]}"
    make_streams((east.url, west.url), stream, SHARDS)
    step_dir = tmp / stream
    step_dir.mkdir()
    topology = write_topology(
        step_dir / "shardline.toml",
        east.url,
        west.url,
        {stream: SHARDS},
        failover={"automatic": False},
        replication={"retrieval": retrieval},
    )
    replicator = ShardlineProcess(
        "replicate", "-t", str(topology), ready="following the control store"
    )
    replicator.start()
    try:
        primary = kinesis_client(east.url)
        primary.put_record(StreamName=stream, Data=_HEADER.pack(-1, 0), PartitionKey="warm")
        wait_for(lambda: copied(topology) >= 1, timeout=60, what="the replicator to copy")
        figures = load(east.url, stream, rate, args.seconds)
        deadline = time.monotonic() + args.drain_cap
        while copied(topology) < figures["sent"] + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        replicator.stop()
    mode = retrieval
    if retrieval == "auto":
        polled = any("no enhanced fan-out" in line for line in replicator.output)
        mode = "auto (polling)" if polled else "auto (fanout)"
    source = arrivals(east.url, stream, marked=False)
    target = arrivals(west.url, stream, marked=True)
    lags = [(target[s][0] - source[s][0]) * 1000 for s in target if s in source]
    e2e = [(arrival - sent_ns / 1e9) * 1000 for arrival, sent_ns in target.values()]
    span = max(a for a, _ in target.values()) - min(a for a, _ in source.values())
    return {
        "retrieval": mode,
        "offered_rec_s": rate,
        **figures,
        "in_primary": len(source),
        "replicated": len(target),
        "missing": len(set(source) - set(target)),
        "replicated_rec_s": len(target) / span if span > 0 else None,
        "lag_p50_ms": percentile(lags, 0.5),
        "lag_p99_ms": percentile(lags, 0.99),
        "lag_max_ms": max(lags, default=float("nan")),
        "e2e_p50_ms": percentile(e2e, 0.5),
        "e2e_p99_ms": percentile(e2e, 0.99),
    }


def run_replication(tmp: Path, args: Any) -> list[dict[str, Any]]:
    rows = []
    with (
        RegionProcess(tmp / "east", *FAST) as east,
        RegionProcess(tmp / "west", *FAST) as west,
    ):
        for retrieval in ("auto", "polling"):
            for rate in args.rates:
                runs = []
                for repeat in range(args.repeats):
                    print(f"replication {retrieval} {rate} rec/s, run {repeat + 1}", flush=True)
                    runs.append(replication_step(east, west, tmp, retrieval, rate, args))
                numbers = [k for k, v in runs[0].items() if isinstance(v, int | float)]
                rows.append(
                    {
                        "retrieval": runs[0]["retrieval"],
                        "offered_rec_s": rate,
                        **{
                            k: median([r[k] for r in runs]) for k in numbers if k != "offered_rec_s"
                        },
                        "runs": runs,
                    }
                )
    return rows


# -- 2. failover ---------------------------------------------------------------------


def processed(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def put_time(line: dict[str, Any]) -> float:
    """The put time ha_worker's producer writes into every payload."""
    return float(line["payload"].rsplit(" ", 1)[1])


def failover_run(tmp: Path, standby: str, args: Any) -> dict[str, Any]:
    """One automatic failover of a running pipeline; every process stopped at the end."""
    run_dir = tmp / f"failover-{standby}-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir()
    east = RegionProcess(run_dir / "east", *FAST).start()
    west = RegionProcess(run_dir / "west", *FAST).start()
    processes: list[ChildProcess] = [east, west]
    outs = {region: run_dir / f"processed-{region}.jsonl" for region in ("east", "west")}
    acked = run_dir / "acked.txt"
    try:
        make_streams((east.url, west.url), "ticker", SHARDS)
        topology = write_topology(
            run_dir / "shardline.toml",
            east.url,
            west.url,
            {"ticker": SHARDS},
            failover={"standby": standby, **POLICY},
        )
        path = str(topology)
        processes.append(
            ShardlineProcess("monitor", "-t", path, ready="monitor .* running").start()
        )
        wait_for(lambda: read_state(topology) is not None, what="the initial control state")
        processes.append(
            ShardlineProcess("replicate", "-t", path, ready="following the control store").start()
        )
        for region, out in outs.items():
            command = worker_command("consume", path, "--region", region, "--out", str(out))
            processes.append(ChildProcess(command, ready="consumer ready").start())
        count = int(args.rate * (args.warmup + args.after))
        producer = ChildProcess(
            worker_command(
                "produce",
                path,
                "--count",
                str(count),
                "--rate",
                str(args.rate),
                "--acked",
                str(acked),
                "--spool",
                str(run_dir / "producer.spool"),
            ),
            ready="producer ready",
        )
        processes.append(producer.start())
        produce_start = time.time()
        wait_for(lambda: processed(outs["east"]), timeout=60, what="records processed in east")
        time.sleep(args.warmup)
        held = sum(r.body.held for r in read_reports(topology, ProducerReport))
        lag = max((r.body.lag_ms for r in read_reports(topology, ReplicatorReport)), default=0)
        fault_at = time.time()
        set_fault(east.url, outage=True)
        state = wait_for(
            lambda: (s := read_state(topology)) and s.epoch > 1 and s,
            timeout=120,
            what="the failover decision",
        )
        assert state  # wait_for returns the truthy value (for the type checker)
        decided_at = state.changed_at

        def first_new() -> float | None:
            times = [x["t"] for x in processed(outs["west"]) if put_time(x) > fault_at]
            return min(times) if times else None

        recovered = wait_for(first_new, timeout=120, what="new records processed in west")
        assert recovered is not None  # wait_for returns the truthy value
        wait_for(
            lambda: any("producer done" in line for line in producer.output),
            timeout=args.after + args.warmup + 120,
            what="the producer to finish",
        )
        acked_ids = set(acked.read_text().split())

        def union() -> set[str]:
            return {x["id"] for out in outs.values() for x in processed(out)}

        with contextlib.suppress(AssertionError):  # what is still missing is the RPO
            wait_for(lambda: not (acked_ids - union()), timeout=60, what="every acked record")
        by_region = {region: [x["id"] for x in processed(out)] for region, out in outs.items()}
        ids = by_region["east"] + by_region["west"]
        after_decision = [x["t"] for x in processed(outs["west"]) if x["t"] >= decided_at]
        return {
            "standby": standby,
            "to_region": state.active_region,
            "reason": state.reason,
            "detection_s": decided_at - fault_at,
            "rto_s": recovered - fault_at,
            "standby_first_s": min(after_decision) - fault_at if after_decision else None,
            "acknowledged": len(acked_ids),
            "produced_rec_s": len(acked_ids) / (time.time() - produce_start),
            "rpo_records": len(acked_ids - set(ids)),
            "processed": len(ids),
            "duplicates": len(ids) - len(set(ids)),
            "duplicates_in_region": sum(len(v) - len(set(v)) for v in by_region.values()),
            "in_both_regions": len(set(by_region["east"]) & set(by_region["west"])),
            "held_at_fault": held,
            "replication_lag_at_fault_ms": lag,
        }
    finally:
        for process in reversed(processes):
            process.stop()


def run_failover(tmp: Path, args: Any) -> list[dict[str, Any]]:
    rows = []
    for standby in ("cold", "warm"):
        runs = []
        for repeat in range(args.repeats):
            print(f"failover, {standby} standby, run {repeat + 1}", flush=True)
            runs.append(failover_run(tmp, standby, args))
        numbers = [k for k, v in runs[0].items() if isinstance(v, int | float)]
        rows.append(
            {"standby": standby, **{k: median([r[k] for r in runs]) for k in numbers}, "runs": runs}
        )
    return rows


# -- output --------------------------------------------------------------------------


def fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def render(results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        f"replication: {SHARDS} shards, {RECORD_BYTES} B records, {settings['seconds']:g} s "
        f"per step, median of {settings['repeats']} (lag = standby arrival - primary arrival)",
        f"  {'retrieval':<15} {'offered':>8} {'put/s':>8} {'repl/s':>8} {'lag p50':>8} "
        f"{'p99':>8} {'max':>8} {'e2e p99':>8} {'missing':>8}",
    ]
    for row in results["replication"]:
        lines.append(
            f"  {row['retrieval']:<15} {row['offered_rec_s']:>8} "
            f"{fmt(row['put_rec_s'], '8.0f')} {fmt(row['replicated_rec_s'], '8.0f')} "
            f"{fmt(row['lag_p50_ms'], '6.0f')}ms {fmt(row['lag_p99_ms'], '6.0f')}ms "
            f"{fmt(row['lag_max_ms'], '6.0f')}ms {fmt(row['e2e_p99_ms'], '6.0f')}ms "
            f"{fmt(row['missing'], '8.0f')}"
        )
    lines += [
        "  target: lag p99 <= 250 ms at 5000 rec/s",
        "",
        f"failover: primary outage, window {POLICY['window_s']:g} s, producer "
        f"{settings['rate']:g} rec/s, median of {settings['repeats']}",
        f"  {'standby':<8} {'detect':>8} {'RTO':>8} {'1st rec':>8} {'RPO':>6} {'dups':>6} "
        f"{'in-reg':>6} {'both':>6} {'acked':>7} {'held@fault':>10}",
    ]
    for row in results["failover"]:
        lines.append(
            f"  {row['standby']:<8} {fmt(row['detection_s'], '7.1f')}s "
            f"{fmt(row['rto_s'], '7.1f')}s "
            f"{fmt(row['standby_first_s'], '7.1f')}s {fmt(row['rpo_records'], '6.0f')} "
            f"{fmt(row['duplicates'], '6.0f')} {fmt(row['duplicates_in_region'], '6.0f')} "
            f"{fmt(row['in_both_regions'], '6.0f')} {fmt(row['acknowledged'], '7.0f')} "
            f"{fmt(row['held_at_fault'], '10.0f')}"
        )
    lines += [
        "  targets: RTO <= 15 s, RPO 0",
        "  dups = processed - distinct ids; in-reg: processed twice in one region (re-sends);",
        "  both: processed in both regions (cold: the start buffer's overlap; warm: by design)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1000,5000", help="replication load steps, rec/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of a load step")
    parser.add_argument("--drain-cap", type=float, default=60.0, help="max wait for copies")
    parser.add_argument("--rate", type=float, default=500.0, help="failover producer rec/s")
    parser.add_argument("--warmup", type=float, default=10.0, help="traffic before the fault")
    parser.add_argument("--after", type=float, default=30.0, help="traffic after the fault")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("replication", "failover"), help="run one part")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, short steps")
    parser.add_argument(
        "--json", type=Path, help="default: bench/results/ha_bench.json (_quick with --quick)"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.seconds, args.warmup, args.after = 1, 5.0, 5.0, 20.0
    args.rates = [int(r) for r in args.rates.split(",")]
    if args.json is None:
        name = "ha_bench_quick.json" if args.quick else "ha_bench.json"
        args.json = ROOT / "bench" / "results" / name
    results: dict[str, Any] = {
        "settings": {
            **{k: v for k, v in vars(args).items() if k != "json"},
            "policy": POLICY,
            "host": {"python": platform.python_version(), "cpus": os.cpu_count()},
        },
        "replication": [],
        "failover": [],
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.only in (None, "replication"):
            results["replication"] = run_replication(tmp, args)
        if args.only in (None, "failover"):
            results["failover"] = run_failover(tmp, args)
    print(render(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
