"""Long chaos drills, several seeds, both standby modes: RPO, RTO spread, false failovers.

Runs ``shardline drill --chaos-s SECONDS --seed S --standby MODE --json`` once per
seed and mode, one after another (each drill is a whole pipeline of seven
processes, so two at once would only measure the machine), and reports per run and
over every failover of every run:

- **RPO**: acknowledged records missing from the sink (target 0);
- **RTO** p50 / p99 / max: fault → first record produced after it processed in the
  standby, per failover (target: max ≤ 10 s with the 10 s window);
- **detection** p50 / max: fault → failover decision;
- **visible duplicates** (target 0), items at their newest tick;
- **false failovers**: failovers with no fault that could have caused them;
- failbacks completed and interrupted.

Usage::

    python bench/chaos_bench.py                  # 5 seeds x cold, warm x 600 s (~2 h)
    python bench/chaos_bench.py --seconds 120 --seeds 1,2 --modes cold
    python bench/chaos_bench.py --json bench/results/chaos.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shardline.pipeline.chaos_plan import spread

#: A drill may overrun its chaos time by setup, restore and verification.
OVERRUN_S = 900


def run_drill(seconds: float, seed: int, mode: str, window: float) -> dict[str, Any]:
    """One chaos drill as a process; its JSON report (or why there is none)."""
    argv = [
        sys.executable,
        "-m",
        "shardline",
        "drill",
        "--chaos-s",
        str(seconds),
        "--seed",
        str(seed),
        "--standby",
        mode,
        "--window-s",
        str(window),
        "--json",
    ]
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + OVERRUN_S)
    elapsed = time.monotonic() - began
    try:
        (report,) = json.loads(done.stdout)
    except (json.JSONDecodeError, ValueError):
        return {"seed": seed, "standby": mode, "error": done.stderr[-2000:], "elapsed_s": elapsed}
    return {**report, "elapsed_s": round(elapsed, 1)}


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over every run, and the RTO/detection spread over every failover."""
    failovers = [f for run in runs for f in run.get("failovers", [])]
    answered = [f for f in failovers if f["fault"] is not None]
    return {
        "runs": len(runs),
        "passed": sum(bool(run.get("passed")) for run in runs),
        "rpo_records": sum(run.get("rpo_records", 0) for run in runs),
        "acknowledged": sum(run.get("acknowledged", 0) for run in runs),
        "visible_duplicates": sum(max(run.get("visible_duplicates", 0), 0) for run in runs),
        "items_wrong": sum(not run.get("items_correct", False) for run in runs),
        "failovers": len(failovers),
        "false_failovers": len(failovers) - len(answered),
        "rto_s": spread([f["rto_s"] for f in answered if f["rto_s"] is not None]),
        "detection_s": spread([f["detection_s"] for f in answered if f["detection_s"] is not None]),
        "failbacks_completed": sum(run.get("failbacks_completed", 0) for run in runs),
        "failbacks_interrupted": sum(run.get("failbacks_interrupted", 0) for run in runs),
    }


def render(runs: list[dict[str, Any]], total: dict[str, Any]) -> str:
    def figures(values: dict[str, float | None]) -> str:
        return " / ".join("-" if v is None else f"{v:.1f}" for v in values.values())

    lines = [
        "| standby | seed | acked | RPO | failovers (false) | RTO p50/p99/max s | "
        "visible dups | failbacks ok/interrupted | passed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        if "error" in run and "failovers" not in run:
            lines.append(f"| {run['standby']} | {run['seed']} | error: {run['error'][:80]} |")
            continue
        lines.append(
            f"| {run['standby']} | {run['seed']} | {run['acknowledged']} | {run['rpo_records']} "
            f"| {len(run['failovers'])} ({run['false_failovers']}) | {figures(run['rto_s'])} "
            f"| {run['visible_duplicates']} | {run['failbacks_completed']}/"
            f"{run['failbacks_interrupted']} | {'yes' if run['passed'] else 'NO'} |"
        )
    lines += [
        "",
        f"over {total['runs']} runs ({total['passed']} passed): RPO {total['rpo_records']} of "
        f"{total['acknowledged']} acknowledged; {total['failovers']} failovers "
        f"({total['false_failovers']} false); RTO p50/p99/max {figures(total['rto_s'])} s; "
        f"detection p50/p99/max {figures(total['detection_s'])} s; visible duplicates "
        f"{total['visible_duplicates']}; failbacks {total['failbacks_completed']} completed, "
        f"{total['failbacks_interrupted']} interrupted",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="chaos time per drill")
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds")
    parser.add_argument("--modes", default="cold,warm", help="standby modes to drill")
    parser.add_argument("--window", type=float, default=10.0, help="failover window, seconds")
    parser.add_argument("--json", type=Path, help="also write every report here")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    runs = []
    for mode in modes:
        for seed in seeds:
            print(f"chaos drill: {mode} standby, seed {seed}, {args.seconds:g} s", flush=True)
            runs.append(run_drill(args.seconds, seed, mode, args.window))
            print(render(runs[-1:], aggregate(runs[-1:])).splitlines()[2], flush=True)
    total = aggregate(runs)
    print()
    print(render(runs, total))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "settings": vars(args) | {"json": str(args.json)},
            "host": {"machine": platform.machine(), "python": platform.python_version()},
            "runs": runs,
            "total": total,
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
