"""Multi-client load: N producer processes (Shardline's own ``Producer``) on one server.

For each of aggregation off and on, on a new 4-shard stream:

1. **saturation**: every worker puts as fast as its producer admits records (no rate
   limit, no spool, default batching) for ``seconds``; the server's throughput is the
   user records acknowledged between ``warmup`` and the end, summed over workers.
2. **load at 50 % and 90 %** of that throughput: every worker puts at its share of the
   rate (chunks of 100 records on a fixed schedule) and reports the latency of each
   PutRecords call (``Attempt.duration_s``, the producer's own measurement).

Every worker is a separate process, started before the clock and released at one
instant; each round is bounded by its duration plus a flush cap, and a worker that
does not report in time is killed. ``region_bench.py --clients N`` runs this per target.

    python bench/multiclient.py worker --endpoint URL --stream S --seconds 10 ...
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workloads import Log, ServerCpu, create_stream, make_client, percentile

if TYPE_CHECKING:  # imported where used: the parent process never loads the producer
    from shardline.producer import Producer


CHUNK = 100  # records per put_many call
SAMPLE_S = 0.5  # how often a worker notes how many records are acknowledged
FLUSH_CAP_S = 60.0  # longest a worker waits for its last outcomes
LEVELS = (0.5, 0.9)


@dataclass(frozen=True)
class Round:
    """What all workers of one round reported, summed."""

    acked_rps: float  # user records acknowledged per second in the measured window
    call_p50_ms: float | None
    call_p99_ms: float | None
    calls: int
    failed: int
    server_cpu_us: float | None  # server CPU per user record acknowledged


# -- the worker process ---------------------------------------------------------------------


async def _sample(
    producer: Producer, submitted: list[int], t0: float, seconds: float, out: list[int]
) -> None:
    """Note records acknowledged (submitted − pending) at t0 + k × SAMPLE_S."""
    for k in range(int(seconds / SAMPLE_S) + 1):
        await asyncio.sleep(max(0.0, t0 + k * SAMPLE_S - time.monotonic()))
        out.append(submitted[0] - producer.pending)


async def _work(args: argparse.Namespace) -> dict[str, Any]:
    from shardline.producer import Destination, Producer, ProducerConfig, Record

    rng = random.Random(args.seed)
    pool = [Record(rng.randbytes(args.size), f"{rng.getrandbits(128):032x}") for _ in range(5000)]
    config = ProducerConfig(
        aggregation=args.aggregate,
        spool_path=None,
        rate_limit_percent=None,
        record_ttl_s=None,
        client_options={"aws_access_key_id": "bench", "aws_secret_access_key": "bench"},
        name=f"bench-worker-{args.seed}",
    )
    kept = []  # the futures of every 10th chunk, for call latencies
    submitted: list[int] = [0]
    samples: list[int] = []
    async with Producer(Destination(args.stream, args.endpoint), config) as producer:
        if args.gc_freeze:
            # What a long-running producer application should do once it has started
            # (docs/performance.md): botocore's models are ~200k objects that every
            # full collection would walk again, stalling the event loop ~100 ms.
            gc.freeze()
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        t0 = float(line.split()[1])
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        sampler = asyncio.create_task(_sample(producer, submitted, t0, args.seconds, samples))
        deadline = t0 + args.seconds
        for i in range(10_000_000):
            if args.rate:
                await asyncio.sleep(max(0.0, t0 + i * CHUNK / args.rate - time.monotonic()))
            if time.monotonic() >= deadline:
                break
            start = (i * CHUNK) % len(pool)
            futures = await producer.put_many(pool[start : start + CHUNK])
            submitted[0] += len(futures)
            if i % 10 == 0:
                kept.append(futures)
        await sampler
        await producer.flush(FLUSH_CAP_S)
    calls = set()
    failed = 0
    for futures in kept:
        for future in futures:
            if future.exception() is not None:
                failed += 1
                continue
            attempt = future.result().attempts[-1]
            calls.add((attempt.started, attempt.duration_s))
    return {
        "submitted": submitted[0],
        "samples": samples,
        "call_ms": [d * 1000 for _, d in calls],
        "failed_sampled": failed,
    }


def worker_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="multiclient.py worker")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--stream", required=True)
    ap.add_argument("--aggregate", action="store_true")
    ap.add_argument(
        "--rate", type=float, default=0.0, help="user records/s; 0: as fast as admitted"
    )
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after start-up")
    result = asyncio.run(_work(ap.parse_args(argv)))
    print("result " + json.dumps(result), flush=True)
    return 0


# -- the parent: one round, then the whole mode ---------------------------------------------


@dataclass(frozen=True)
class Workers:
    """How the worker processes run."""

    count: int
    aggregate: bool
    gc_freeze: bool


def _spawn(
    endpoint: str, stream: str, workers: Workers, rate: float, seconds: float, seed: int
) -> subprocess.Popen[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "worker", "--endpoint", endpoint]
    argv += ["--stream", stream, "--rate", str(rate), "--seconds", str(seconds)]
    argv += ["--seed", str(seed)] + (["--aggregate"] if workers.aggregate else [])
    argv += ["--gc-freeze"] if workers.gc_freeze else []
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def _read_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The worker's next line starting with ``prefix``; kills it past ``timeout``."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    proc.kill()
    raise RuntimeError(f"worker gave no {prefix.strip()!r} line (exit {proc.poll()})")


def run_round(
    endpoint: str,
    stream: str,
    workers: Workers,
    rate: float,
    seconds: float,
    warmup: float,
    server_cpu: Callable[[], float],
) -> Round:
    procs = [
        _spawn(endpoint, stream, workers, rate / workers.count, seconds, seed)
        for seed in range(workers.count)
    ]
    try:
        for proc in procs:
            _read_line(proc, "ready", 60)
        t0 = time.monotonic() + 0.3
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"go {t0}\n")
            proc.stdin.flush()
        cpu0 = server_cpu()
        results = [json.loads(_read_line(p, "result ", seconds + FLUSH_CAP_S + 30)) for p in procs]
        cpu = server_cpu() - cpu0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    first = int(warmup / SAMPLE_S)
    acked = sum(r["samples"][-1] - r["samples"][first] for r in results)
    window = (len(results[0]["samples"]) - 1 - first) * SAMPLE_S
    calls = [ms for r in results for ms in r["call_ms"]]
    total = sum(r["submitted"] for r in results)
    return Round(
        acked_rps=acked / window if window > 0 else 0.0,
        call_p50_ms=percentile(calls, 0.5),
        call_p99_ms=percentile(calls, 0.99),
        calls=len(calls),
        failed=sum(r["failed_sampled"] for r in results),
        server_cpu_us=cpu / total * 1e6 if total else None,
    )


def _ms(result: Round) -> str:
    if result.call_p50_ms is None or result.call_p99_ms is None:
        return "no latency sample"
    return f"p50 {result.call_p50_ms:.1f} ms p99 {result.call_p99_ms:.1f} ms ({result.calls})"


def run_multi(
    endpoint: str,
    clients: int,
    seconds: float,
    server_cpu: ServerCpu,
    log: Log,
    gc_freeze: bool = True,
) -> dict[str, Any]:
    """Saturation and latency at 50 % / 90 % of it, aggregation off and on."""
    client = make_client(endpoint)
    metrics: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    warmup = min(2.0, seconds / 4)
    for aggregate in (False, True):
        mode = "agg" if aggregate else "plain"
        stream = f"bench-multi-{mode}-{uuid.uuid4().hex[:6]}"
        create_stream(client, stream, 4)
        workers = Workers(clients, aggregate, gc_freeze)
        sat = run_round(endpoint, stream, workers, 0.0, seconds, warmup, server_cpu)
        log(
            f"    {mode:5} saturation {sat.acked_rps:9,.0f} rec/s, calls {_ms(sat)},"
            f" server CPU {sat.server_cpu_us or 0:.2f} us/rec"
        )
        runs[f"{mode}_saturation"] = sat.__dict__
        metrics[f"multi_{mode}_sat_rps"] = sat.acked_rps
        metrics[f"multi_{mode}_cpu_us"] = sat.server_cpu_us
        for level in LEVELS:
            rate = level * sat.acked_rps
            load = run_round(endpoint, stream, workers, rate, seconds, 0.5, server_cpu)
            pct = int(level * 100)
            log(
                f"    {mode:5} at {pct}% ({level * sat.acked_rps:,.0f} rec/s offered):"
                f" {load.acked_rps:9,.0f} rec/s, calls {_ms(load)}"
            )
            runs[f"{mode}_{pct}"] = load.__dict__
            metrics[f"multi_{mode}_p99_{pct}_ms"] = load.call_p99_ms
            metrics[f"multi_{mode}_p50_{pct}_ms"] = load.call_p50_ms
    return {"metrics": metrics, "runs": runs}


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        sys.exit(worker_main(sys.argv[2:]))
    sys.exit("usage: multiclient.py worker ... (region_bench.py --clients N runs the mode)")
