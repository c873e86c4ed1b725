#!/usr/bin/env python3
"""Shardline vs. other local Kinesis servers, same workload, one run.

Starts each target in turn on a free 127.0.0.1 port (one server at a time, so
they do not compete for the CPU), runs the workloads with one boto3 client in
one thread, stops it, and prints medians plus Shardline/peer ratios.

    python bench/region_bench.py                       # all targets, defaults
    python bench/region_bench.py --fill 100000 --json /tmp/bench.json
    python bench/region_bench.py --targets kinesalite,moto,stub --fill 50000

Targets that cannot be installed or started are reported as
"unavailable: <reason>" and skipped.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
from multiclient import run_multi  # noqa: E402
from peers import ALL_TARGETS, Unavailable  # noqa: E402
from workloads import WORKLOADS, Log, Settings, make_client  # noqa: E402

# (key, label, format, direction) ; direction: +1 higher is better, -1 lower is better, 0 info only
METRICS = [
    ("put_batched_rps", "a. PutRecords 500x100B  rec/s", "int", +1),
    ("put_batched_p50_ms", "a. PutRecords p50 per call ms", "ms", -1),
    ("put_batched_p99_ms", "a. PutRecords p99 per call ms", "ms", -1),
    ("cpu_put_us", "a. server CPU per record  us", "us", -1),
    ("get_drain_rps", "b. GetRecords drain     rec/s", "int", +1),
    ("get_page_p50_ms", "b. GetRecords p50 per page ms", "ms", 0),
    ("cpu_get_us", "b. server CPU per record  us", "us", -1),
    ("cpu_put_get_us", "a+b. server CPU put+get   us", "us", -1),
    ("fanout_rps", "e. SubscribeToShard x4   rec/s", "int", +1),
    ("cpu_fanout_us", "e. server CPU per record  us", "us", -1),
    ("put_single_rps", "c. PutRecord single    rec/s", "int", +1),
    ("put_single_p50_ms", "c. PutRecord p50          ms", "ms", -1),
    ("cpu_single_us", "c. server CPU per record  us", "us", -1),
    ("lat_start_ms", "d. PutRecords p50 empty   ms", "ms", -1),
    ("lat_end_ms", "d. PutRecords p50 filled  ms", "ms", -1),
    ("lat_growth", "d. latency growth filled/empty", "x", -1),
    ("fill_stored", "d. records stored when measured", "int", 0),
    ("fill_rps", "d. fill rate             rec/s", "int", +1),
    ("cpu_fill_us", "d. server CPU per record  us", "us", -1),
]

#: ``--clients N``: N producer processes (see multiclient.py), aggregation off and on.
MULTI_METRICS = [
    (f"multi_{mode}_{key}", f"{label} {title}", kind, direction)
    for mode, label in (("plain", "plain     "), ("agg", "aggregated"))
    for key, title, kind, direction in (
        ("sat_rps", "saturation  rec/s", "int", +1),
        ("cpu_us", "server CPU/rec us", "us", -1),
        ("p50_50_ms", "p50 @50%       ms", "ms", -1),
        ("p99_50_ms", "p99 @50%       ms", "ms", -1),
        ("p50_90_ms", "p50 @90%       ms", "ms", -1),
        ("p99_90_ms", "p99 @90%       ms", "ms", -1),
    )
]


OTHER_LOAD_WARN = 0.25  # cores used by unrelated processes while a target ran


def fmt(value: object, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "int":
        return f"{value:,.0f}"
    if kind in ("ms", "us"):
        return f"{value:.2f}"
    if kind == "x":
        return f"{value:.2f}x"
    return str(value)


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i])
            for i, c in enumerate(cells)
        )

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def new_result(name: str) -> dict[str, Any]:
    return {
        "target": name,
        "status": "unavailable",
        "metrics": {},
        "runs": {},
        "errors": [],
        "notes": [],
    }


def run_target(
    name: str,
    settings: Settings,
    args: argparse.Namespace,
    base_tmp: Path,
    log: Log,
    result: dict[str, Any],
) -> dict[str, Any]:
    """Start ``name``, run the workloads, stop it; fills ``result`` in place (so an
    interrupted run still reports what was measured)."""
    try:
        target = peers.prepare(
            name,
            base_tmp,
            Path(args.peers_dir),
            args.shardline_cmd,
            log=log,
            shardline_args=args.shardline_args,
        )
    except Unavailable as exc:
        result["reason"] = str(exc)
        log(f"  unavailable: {exc}")
        return result
    result.update(
        version=target.version,
        endpoint=target.endpoint,
        command=target.argv,
        notes=list(target.notes),
    )
    try:
        try:
            target.start(args.startup_timeout)
        except Unavailable as exc:
            result["reason"] = str(exc)
            log(f"  unavailable: {exc}")
            return result
        result["status"] = "ok"
        assert target.startup_s is not None  # start() sets it before it returns
        result["startup_s"] = round(target.startup_s, 3)
        log(f"  {name} {target.version} up on {target.endpoint} after {target.startup_s:.2f}s")
        client = make_client(target.endpoint)
        # CPU accounting, to flag runs disturbed by other work on the machine
        t_wall, t_busy = time.monotonic(), peers.machine_busy_seconds()
        # this process and the children it waited for (multi-client workers)
        t_self, t_srv = sum(os.times()[:4]), target.cpu_seconds()
        if name == "stub":
            settings = dataclasses.replace(settings, stores_data=False)
        if args.clients:
            _run_multi_client(target, args, log, result)
        else:
            _run_workloads(target, client, settings, args, log, result)
        wall = time.monotonic() - t_wall
        srv = target.cpu_seconds() - t_srv
        me = sum(os.times()[:4]) - t_self
        other = peers.machine_busy_seconds() - t_busy - srv - me
        if wall > 0:
            result["cpu"] = {
                "wall_s": round(wall, 1),
                "server_cores": round(srv / wall, 2),
                "client_cores": round(me / wall, 2),
                "other_cores": round(max(other, 0) / wall, 2),
            }
            log(
                f"  cpu: server {srv / wall:.2f} cores, client {me / wall:.2f},"
                f" other processes {max(other, 0) / wall:.2f} (over {wall:.0f}s)"
            )
            if other / wall > OTHER_LOAD_WARN:
                result["notes"].append(
                    f"WARNING other processes used {other / wall:.2f} cores during the run:"
                    " figures are disturbed"
                )
        if result["errors"] and target.alive() is False:
            result["status"] = "crashed"
    finally:
        target.stop()
        if args.keep_logs:
            dest = Path(args.keep_logs)
            dest.mkdir(parents=True, exist_ok=True)
            if target.log_path.exists():
                shutil.copy(target.log_path, dest / target.log_path.name)
    return result


def _run_multi_client(
    target: peers.Target, args: argparse.Namespace, log: Log, result: dict[str, Any]
) -> None:
    """``--clients N``: the multi-client rounds (multiclient.py) against ``target``."""
    try:
        part = run_multi(
            target.endpoint,
            args.clients,
            args.multi_seconds,
            target.cpu_seconds,
            log,
            gc_freeze=args.worker_gc == "freeze",
        )
        result["metrics"].update(part["metrics"])
        result["runs"].update(part["runs"])
    except Exception as exc:
        result["errors"].append(f"multi-client: {type(exc).__name__}: {str(exc)[:200]}")
        log(f"    error in multi-client: {exc}")


def _run_workloads(
    target: peers.Target,
    client: Any,
    settings: Settings,
    args: argparse.Namespace,
    log: Log,
    result: dict[str, Any],
) -> None:
    """The single-client workloads in turn; a workload's failure is recorded, not fatal."""
    rng = random.Random(settings.seed)
    for wl_name, fn in WORKLOADS:
        if wl_name in args.skip:
            continue
        try:
            part = fn(client, settings, rng, log, target.cpu_seconds)
            result["metrics"].update(part["metrics"])
            result["runs"].update(part["runs"])
            result["errors"] += part["errors"]
            result["notes"] += part["notes"]
        except Exception as exc:
            msg = f"{wl_name}: {type(exc).__name__}: {str(exc)[:200]}"
            result["errors"].append(msg)
            log(f"    error in {msg}")
        if not target.alive():
            result["errors"].append(
                f"server process exited (code {target.proc and target.proc.returncode}): "
                f"{target.log_tail(400)}"
            )
            log("    server exited; skipping its remaining workloads")
            break


def print_report(
    results: list[dict[str, Any]], settings: Settings, args: argparse.Namespace
) -> None:
    ok = [r for r in results if r["status"] != "unavailable"]
    metrics = MULTI_METRICS if args.clients else METRICS
    print()
    if args.clients:
        print(
            f"== Shardline region bench, multi-client: {args.clients} producer processes"
            f" (gc {args.worker_gc}), {args.multi_seconds:.0f} s per round, 4 shards,"
            f" {settings.record_size}B records =="
        )
    else:
        print(
            f"== Shardline region bench: medians of {settings.repeats} repeats;"
            f" {settings.batches} x PutRecords({settings.batch_size} x {settings.record_size}B);"
            f" fill {settings.fill:,} =="
        )
    for r in results:
        if r["status"] == "unavailable":
            print(f"  {r['target']:<14} unavailable: {r.get('reason', '?')[:300]}")
        else:
            notes = ("; " + "; ".join(r["notes"])) if r["notes"] else ""
            print(
                f"  {r['target']:<14} {r.get('version', '?')},"
                f" started in {r.get('startup_s', 0):.2f}s{notes}"
            )
            for e in r["errors"]:
                print(f"  {'':<14} ERROR {e[:300]}")
    if not ok:
        return
    print()
    headers = ["metric"] + [r["target"] for r in ok]
    rows = []
    for key, label, kind, _ in metrics:
        vals = [r["metrics"].get(key) for r in ok]
        if all(v is None for v in vals):
            continue
        rows.append([label] + [fmt(v, kind) for v in vals])
    print(render_table(headers, rows))

    sl = next((r for r in ok if r["target"] == "shardline"), None)
    peers_ok = [r for r in ok if r["target"] != "shardline"]
    print()
    if sl is None or not peers_ok:
        print(
            "ratios shardline/peer: n/a (%s)"
            % ("shardline unavailable" if sl is None else "no peers")
        )
        return
    headers = ["shardline / peer"] + [
        "/" + r["target"] + (" (ceiling)" if r["target"] == "stub" else "") for r in peers_ok
    ]
    rows = []
    for key, label, _kind, direction in metrics:
        if direction == 0:
            continue
        s = sl["metrics"].get(key)
        cells = []
        for r in peers_ok:
            p = r["metrics"].get(key)
            cells.append(fmt_ratio(s / p) if s is not None and p else "-")
        if all(c == "-" for c in cells):
            continue
        rows.append([label + ("  (>1 better)" if direction > 0 else "  (<1 better)")] + cells)
    print(render_table(headers, rows))


def ratios(results: list[dict[str, Any]], metrics: list[Any]) -> dict[str, Any]:
    sl = next(
        (r for r in results if r["target"] == "shardline" and r["status"] != "unavailable"), None
    )
    out: dict[str, Any] = {}
    if not sl:
        return out
    for r in results:
        if r["target"] == "shardline" or r["status"] == "unavailable":
            continue
        d = {}
        for key, _, _, direction in metrics:
            s, p = sl["metrics"].get(key), r["metrics"].get(key)
            if direction and s is not None and p:
                d[key] = s / p
        out["shardline/{}".format(r["target"])] = d
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--targets",
        default=",".join(ALL_TARGETS),
        help="comma list from: {} (default: all, in that order)".format(",".join(ALL_TARGETS)),
    )
    ap.add_argument(
        "--batches",
        type=int,
        default=100,
        help="PutRecords calls per repeat in (a), and stored for (e) [100]",
    )
    ap.add_argument(
        "--repeats", type=int, default=3, help="repeats of (a)(b)(c); medians reported [3]"
    )
    ap.add_argument(
        "--fill", type=int, default=1_000_000, help="records stored before (d)'s 2nd sample [1e6]"
    )
    ap.add_argument(
        "--single-calls", type=int, default=1000, help="PutRecord calls per repeat in (c) [1000]"
    )
    ap.add_argument(
        "--latency-calls", type=int, default=100, help="PutRecords calls per (d) sample [100]"
    )
    ap.add_argument(
        "--time-cap", type=float, default=60.0, help="seconds cap of each timed loop [60]"
    )
    ap.add_argument(
        "--fill-cap", type=float, default=120.0, help="seconds cap of the (d) fill phase [120]"
    )
    ap.add_argument("--skip-fill", action="store_true", help="skip workload (d)")
    ap.add_argument("--skip-fanout", action="store_true", help="skip workload (e)")
    ap.add_argument(
        "--clients",
        type=int,
        default=0,
        help="multi-client mode: N producer processes instead of the workloads [off]",
    )
    ap.add_argument(
        "--multi-seconds", type=float, default=10.0, help="seconds per multi-client round [10]"
    )
    ap.add_argument(
        "--worker-gc",
        choices=["freeze", "default"],
        default="freeze",
        help="multi-client workers: gc.freeze() after start-up, as docs/performance.md"
        " advises for producer applications, or Python's defaults [freeze]",
    )
    ap.add_argument(
        "--startup-timeout", type=float, default=90.0, help="seconds to wait for a server [90]"
    )
    ap.add_argument(
        "--shardline-cmd",
        default=None,
        help="command prefix for Shardline, e.g. 'python -m shardline' (env SHARDLINE_CMD)",
    )
    ap.add_argument(
        "--shardline-args",
        default="",
        help="extra args for `shardline serve`, e.g. '--durability process'",
    )
    ap.add_argument(
        "--peers-dir", default=str(peers.DEFAULT_PEERS_DIR), help="where peers are installed"
    )
    ap.add_argument("--keep-logs", default=None, metavar="DIR", help="copy server logs into DIR")
    ap.add_argument("--json", default=None, metavar="PATH", help="also write results as JSON")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args(argv)
    args.target_list = [t.strip() for t in args.targets.split(",") if t.strip()]
    args.skip = {"fill"} if args.skip_fill else set()
    if args.skip_fanout:
        args.skip.add("fanout")
    bad = [t for t in args.target_list if t not in ALL_TARGETS]
    if bad:
        ap.error("unknown target(s) {}; known: {}".format(", ".join(bad), ", ".join(ALL_TARGETS)))
    for flag in ("batches", "repeats", "single_calls", "latency_calls"):
        if getattr(args, flag) < 1:
            ap.error("--{} must be >= 1".format(flag.replace("_", "-")))
    return args


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(
        batches=args.batches,
        repeats=args.repeats,
        fill=args.fill,
        single_calls=args.single_calls,
        latency_calls=args.latency_calls,
        time_cap=args.time_cap,
        fill_cap=args.fill_cap,
        seed=args.seed,
    )
    # explicit, so Ctrl-C works even when started from a shell that ignores SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)

    def log(msg: str) -> None:
        print(msg, flush=True)

    base_tmp = Path(tempfile.mkdtemp(prefix="shardline-bench-"))
    results: list[dict[str, Any]] = []
    started = time.time()
    rc = 0
    try:
        for name in args.target_list:
            log(f"[{name}]")
            results.append(new_result(name))
            run_target(name, settings, args, base_tmp, log, results[-1])
    except KeyboardInterrupt:
        log("interrupted; reporting what was measured")
        if results:
            results[-1]["notes"].append("INTERRUPTED")
        rc = 130
    finally:
        peers.stop_all()
        shutil.rmtree(base_tmp, ignore_errors=True)

    print_report(results, settings, args)
    if args.json:
        import boto3

        doc = {
            "settings": settings.__dict__,
            "clients": args.clients,
            "multi_seconds": args.multi_seconds if args.clients else None,
            "worker_gc": args.worker_gc if args.clients else None,
            "load_average": os.getloadavg(),
            "started": started,
            "duration_s": round(time.time() - started, 1),
            "host": {
                "python": platform.python_version(),
                "boto3": boto3.__version__,
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
            },
            "results": results,
            "ratios": ratios(results, MULTI_METRICS if args.clients else METRICS),
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str))
        print(f"\nwrote {args.json}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
