"""The cost of SigV4 verification (and policy evaluation) on PutRecords throughput.

Three `shardline serve` processes on 127.0.0.1, each with its own data directory:

- ``off``: no credentials (the local default: signatures are not checked);
- ``sigv4``: ``--credentials``, a key without a policy (every request verified);
- ``policy``: the same server, a key whose identity policy allows ``kinesis:Put*``
  and ``kinesis:Describe*`` on ``stream/bench-*``, on a stream with a resource policy
  (both evaluated on every call).

One boto3 client, one thread, PutRecords of 500 × 100 B on a 4-shard stream, bounded
by ``--calls`` and ``--time-cap``. The targets are measured in alternation,
``--repeats`` rounds, and the medians are compared in one run: records/s and the
server's CPU time per 1,000 records (from /proc: it shows the verifier's own cost
even when the single client, not the server, limits records/s). Last, the verifier
alone: the time ``SigV4Verifier.verify`` takes for one botocore-signed PutRecords
request of the same size, as a share of the ``off`` server's CPU time per call (a
figure other load on the machine hardly moves).

    python bench/auth_bench.py                  # ~1 min: 5 rounds of 200 calls
    python bench/auth_bench.py --repeats 9 --json bench/results/auth.json
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from multidict import CIMultiDict, CIMultiDictProxy  # noqa: E402
from peers import proc_cpu_seconds  # noqa: E402
from workloads import Settings, _put_batches, create_stream, make_batches, make_client  # noqa: E402

from shardline.server.auth.keys import KeyStore, append_key, new_key  # noqa: E402
from shardline.server.auth.sigv4 import SigV4Verifier  # noqa: E402
from shardline.server.request import HttpRequest  # noqa: E402
from shardline.testing import RegionProcess  # noqa: E402

ACCOUNT = "111122223333"
IDENTITY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["kinesis:Put*", "kinesis:Describe*", "kinesis:CreateStream"],
            "Resource": f"arn:aws:kinesis:*:{ACCOUNT}:stream/bench-*",
        }
    ],
}
RESOURCE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": {"AWS": "444455556666"},
            "Action": "kinesis:*",
            "Resource": "*",
        }
    ],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="PutRecords calls per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="alternated rounds (medians)")
    parser.add_argument("--time-cap", type=float, default=30.0, help="seconds per measurement")
    parser.add_argument(
        "--durability",
        default="process",
        choices=["process", "fsync"],
        help="the servers' --durability; 'process' leaves out the disk, which makes the "
        "verifier's share of each call larger (the stricter measure)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args()


class Target:
    """A named server and a client signing with one key."""

    def __init__(self, name: str, server: RegionProcess, key: Any = None) -> None:
        self.name = name
        self.server = server
        self.client = make_client(server.url, key)
        self.stream = f"bench-{name}"

    def measure(
        self, batches: list[list[dict[str, Any]]], args: argparse.Namespace
    ) -> dict[str, Any]:
        cpu_before = proc_cpu_seconds(self.server.pid)
        run = _put_batches(self.client, self.stream, batches, args.calls, args.time_cap)
        cpu = proc_cpu_seconds(self.server.pid) - cpu_before
        records = run["records_ok"]
        return {
            "rps": records / run["seconds"],
            "server_cpu_ms_per_1k": 1000 * cpu / records * 1000 if records else None,
            "failed": run["records_failed"],
            "capped": run["capped"],
        }


def start(tmp: Path, args: argparse.Namespace) -> tuple[list[Target], list[RegionProcess]]:
    credentials = tmp / "credentials.toml"
    plain, limited = new_key(ACCOUNT, user="bench"), new_key(ACCOUNT, user="bench-limited")
    append_key(credentials, plain)
    append_key(credentials, limited, json.dumps(IDENTITY_POLICY))
    common = ("--create-delay-ms", "0", "--durability", args.durability)
    off = RegionProcess(tmp / "off", *common).start()
    on = RegionProcess(tmp / "on", *common, "--credentials", str(credentials)).start()
    targets = [
        Target("off", off),
        Target("sigv4", on, (plain.access_key_id, plain.secret_access_key)),
        Target("policy", on, (limited.access_key_id, limited.secret_access_key)),
    ]
    for target in targets:
        create_stream(target.client, target.stream, 4)
    policy_target = targets[2]
    arn = policy_target.client.describe_stream_summary(StreamName=policy_target.stream)[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    targets[1].client.put_resource_policy(ResourceARN=arn, Policy=json.dumps(RESOURCE_POLICY))
    return targets, [off, on]


def verify_cost_us(batch: list[dict[str, Any]], calls: int = 2000) -> float:
    """Microseconds ``SigV4Verifier.verify`` takes for one signed PutRecords of ``batch``."""
    key = new_key(ACCOUNT)
    records = [
        {"Data": base64.b64encode(r["Data"]).decode(), "PartitionKey": r["PartitionKey"]}
        for r in batch
    ]
    body = json.dumps({"StreamName": "bench-sigv4", "Records": records}).encode()
    request = AWSRequest(
        "POST",
        "http://127.0.0.1:4567/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Kinesis_20131202.PutRecords",
        },
    )
    signer = Credentials(key.access_key_id, key.secret_access_key)
    SigV4Auth(signer, "kinesis", "us-east-1").add_auth(request)
    headers = CIMultiDict(request.headers.items())
    headers["Host"] = "127.0.0.1:4567"
    verifier = SigV4Verifier(KeyStore({key.access_key_id: key}), "us-east-1")
    started = time.perf_counter()
    for _ in range(calls):
        verifier.verify(HttpRequest("POST", "/", CIMultiDictProxy(headers), body))
    return (time.perf_counter() - started) / calls * 1e6


def report(
    results: dict[str, list[dict[str, Any]]], verify_us: float, batch_size: int
) -> dict[str, Any]:
    medians = {
        name: {
            "rps": statistics.median(r["rps"] for r in runs),
            "server_cpu_ms_per_1k": statistics.median(r["server_cpu_ms_per_1k"] for r in runs),
        }
        for name, runs in results.items()
    }
    base = medians["off"]
    print(f"\n{'target':8} {'rec/s':>9} {'vs off':>7} {'server CPU ms/1k rec':>21} {'vs off':>7}")
    for name, m in medians.items():
        print(
            f"{name:8} {m['rps']:9,.0f} {m['rps'] / base['rps']:7.3f} "
            f"{m['server_cpu_ms_per_1k']:21.1f} "
            f"{m['server_cpu_ms_per_1k'] / base['server_cpu_ms_per_1k']:7.3f}"
        )
    loss = 1 - medians["sigv4"]["rps"] / base["rps"]
    per_call_us = base["server_cpu_ms_per_1k"] * batch_size  # ms per 1k records -> us per call
    share = verify_us / per_call_us
    print(f"\nSigV4 verification: {loss:+.1%} throughput loss (target: at most 10 %)")
    print(
        f"verify() alone: {verify_us:.0f} us per {batch_size}-record PutRecords call = "
        f"{share:.1%} of the off server's CPU per call ({per_call_us:,.0f} us)"
    )
    return {"medians": medians, "sigv4_loss": loss, "verify_us": verify_us, "verify_share": share}


def main() -> None:
    args = parse_args()
    settings = Settings()
    batches = make_batches(20, settings, random.Random(1234))
    servers: list[RegionProcess] = []
    with tempfile.TemporaryDirectory(prefix="auth-bench-") as tmp:
        try:
            targets, servers = start(Path(tmp), args)
            results: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
            for round_ in range(args.repeats):
                for target in targets if round_ % 2 == 0 else reversed(targets):
                    run = target.measure(batches, args)
                    results[target.name].append(run)
                    print(
                        f"round {round_}: {target.name:7} {run['rps']:9,.0f} rec/s, server "
                        f"{run['server_cpu_ms_per_1k']:.1f} ms CPU per 1k records"
                        + (" (time cap)" if run["capped"] else ""),
                        flush=True,
                    )
            summary = report(results, verify_cost_us(batches[0]), settings.batch_size)
        finally:
            for server in servers:
                server.stop()
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json)}, "runs": results, **summary},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
