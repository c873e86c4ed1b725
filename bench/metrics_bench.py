#!/usr/bin/env python3
"""What region metrics cost: PutRecords throughput with metrics on and off, one run.

Starts two ``shardline serve`` processes on free 127.0.0.1 ports, identical but for
``--no-metrics`` on one, each with a 4-shard stream with every shard-level metric
enabled (the most counting there is). Then alternates rounds between them (on, off,
on, off, ...) of the same PutRecords workload (500 x 100 B per call, one boto3
client), while a scraper reads ``/metrics`` of the metrics-on server every second
(Prometheus usually scrapes every 15 s: this is the pessimistic case). Reports the
medians of the rounds and the ratios on/off of:

- client-observed throughput (records/s), and
- server CPU time per record (from /proc), which isolates the server's own cost
  from the client's, whose CPU dominates on a 2-core machine.

    python bench/metrics_bench.py                  # 7 rounds each, fsync durability
    python bench/metrics_bench.py --rounds 5 --durability process --json out.json

Every loop is bounded by a call count and a time cap.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from workloads import Settings, _put_batches, create_stream, make_batches, make_client  # noqa: E402

from shardline.testing import RegionProcess  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def scraper(url: str, stop: threading.Event, counts: list[int]) -> None:
    while not stop.wait(1.0):
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            response.read()
        counts[0] += 1


def one_round(
    region: RegionProcess, stream: str, batches: list[Any], calls: int, cap: float
) -> dict[str, Any]:
    client = make_client(region.url)
    before = cpu_seconds(region.pid)
    result = _put_batches(client, stream, batches, calls, cap)
    used = cpu_seconds(region.pid) - before
    records = result["records_ok"]
    return {
        "records_per_s": records / result["seconds"],
        "server_cpu_us_per_record": used / records * 1e6 if records else None,
        "capped": result["capped"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per server")
    parser.add_argument("--calls", type=int, default=300, help="PutRecords calls per round")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds, at most, per round")
    parser.add_argument("--durability", choices=["fsync", "process"], default="fsync")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    settings = Settings()
    batches = make_batches(20, settings, random.Random(settings.seed))
    common = ("--create-delay-ms", "0", "--durability", args.durability)
    with tempfile.TemporaryDirectory(prefix="metrics-bench-") as root:
        on = RegionProcess(Path(root) / "on", *common).start()
        off = RegionProcess(Path(root) / "off", *common, "--no-metrics").start()
        stop, scrapes = threading.Event(), [0]
        try:
            for region in (on, off):
                client = make_client(region.url)
                create_stream(client, "bench", settings.shards)
                client.enable_enhanced_monitoring(StreamName="bench", ShardLevelMetrics=["ALL"])
            threading.Thread(target=scraper, args=(on.url, stop, scrapes), daemon=True).start()
            runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
            for number in range(args.rounds):
                for label, region in (("on", on), ("off", off)):
                    result = one_round(region, "bench", batches, args.calls, args.cap)
                    runs[label].append(result)
                    print(
                        f"round {number + 1} metrics {label:3}: "
                        f"{result['records_per_s']:9,.0f} rec/s, "
                        f"server {result['server_cpu_us_per_record']:.2f} us CPU/record",
                        flush=True,
                    )
        finally:
            stop.set()
            on.stop()
            off.stop()
    report(runs, scrapes[0], args)


def report(runs: dict[str, list[dict[str, Any]]], scrapes: int, args: argparse.Namespace) -> None:
    def median(label: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[label] if r[key] is not None))

    summary = {
        "durability": args.durability,
        "rounds": args.rounds,
        "calls_per_round": args.calls,
        "scrapes_during_run": scrapes,
        "records_per_s": {label: median(label, "records_per_s") for label in runs},
        "server_cpu_us_per_record": {
            label: median(label, "server_cpu_us_per_record") for label in runs
        },
    }
    summary["throughput_ratio_on_off"] = (
        summary["records_per_s"]["on"] / summary["records_per_s"]["off"]
    )
    summary["server_cpu_ratio_on_off"] = (
        summary["server_cpu_us_per_record"]["on"] / summary["server_cpu_us_per_record"]["off"]
    )
    print()
    print(f"medians of {args.rounds} rounds, durability {args.durability}, {scrapes} scrapes")
    print(
        f"  PutRecords rec/s        on {summary['records_per_s']['on']:9,.0f}   "
        f"off {summary['records_per_s']['off']:9,.0f}   "
        f"ratio {summary['throughput_ratio_on_off']:.3f}"
    )
    print(
        f"  server CPU us/record    on {summary['server_cpu_us_per_record']['on']:9.2f}   "
        f"off {summary['server_cpu_us_per_record']['off']:9.2f}   "
        f"ratio {summary['server_cpu_ratio_on_off']:.3f}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
