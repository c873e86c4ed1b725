"""The benchmark workloads: one boto3 client, one thread, bounded loops.

Every loop is bounded by a call count and by a wall-clock cap, and reports
how far it got when the cap stops it.

Each workload also reads the server process's CPU time (``server_cpu``, utime +
stime from ``/proc/PID/stat``) just before and after its timed part, and reports
the server's CPU microseconds per record beside throughput and latency.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from shardline.sessions import parse_timestamp


@dataclass
class Settings:
    batches: int = 100  # (a) PutRecords calls per repeat
    repeats: int = 3  # (a)(b)(c) repeats; medians are reported
    batch_size: int = 500  # records per PutRecords call
    record_size: int = 100  # bytes of data per record
    shards: int = 4
    single_calls: int = 1000  # (c) PutRecord calls per repeat
    latency_calls: int = 100  # (d) PutRecords calls per latency sample
    fill: int = 1_000_000  # (d) records to store before the 2nd sample
    time_cap: float = 60.0  # seconds, each timed loop
    fill_cap: float = 120.0  # seconds, the (d) fill phase
    seed: int = 1234
    stores_data: bool = True  # False for the stub: drains are expected to be empty


#: Reads the server process's CPU seconds so far (utime + stime).
ServerCpu = Callable[[], float]

#: Progress output, called like print().
Log = Callable[..., None]


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_us_per_record(runs: list[dict[str, Any]]) -> float | None:
    """Server CPU microseconds per record over all ``runs`` (each with ``server_cpu_s``
    and ``records``): summed, because one run is only a few clock ticks of CPU."""
    records: int = sum(r["records"] for r in runs)
    if not records:
        return None
    cpu_s: float = sum(r["server_cpu_s"] for r in runs)
    return cpu_s / records * 1e6


def make_client(endpoint: str, key: tuple[str, str] | None = None) -> Any:
    """One boto3 client; ``key`` (id, secret) for a server started with --credentials.

    Epoch timestamps are parsed straight to UTC datetimes (shardline.sessions):
    botocore's own parser builds a tzlocal per record, two thirds of its cost of a
    GetRecords page, which would cap every server's drain at the client's speed.
    """
    key_id, secret = key or ("AKIDSHARDLINEBENCH", "shardline-bench-secret")
    session = botocore.session.get_session()
    factory = session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=parse_timestamp)
    return boto3.Session(botocore_session=session).client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        # parameter_validation off: trims ~25% of boto3's own per-call CPU so
        # server differences show more; the requests are valid anyway.
        config=Config(
            retries={"mode": "standard", "max_attempts": 1},
            connect_timeout=5,
            read_timeout=120,
            max_pool_connections=2,
            parameter_validation=False,
        ),
    )


def make_batches(count: int, settings: Settings, rng: random.Random) -> list[list[dict[str, Any]]]:
    out = []
    for _ in range(count):
        out.append(
            [
                {
                    "Data": rng.randbytes(settings.record_size),
                    "PartitionKey": f"{rng.getrandbits(128):032x}",
                }
                for _ in range(settings.batch_size)
            ]
        )
    return out


def create_stream(client: Any, name: str, shards: int, timeout: float = 60.0) -> float:
    """Create a stream and poll DescribeStreamSummary until ACTIVE; returns seconds waited."""
    t0 = time.monotonic()
    client.create_stream(StreamName=name, ShardCount=shards)
    delay = 0.05
    while True:
        try:
            status = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            if status == "ACTIVE":
                return time.monotonic() - t0
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"stream {name} not ACTIVE after {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _stream_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _put_batches(
    client: Any,
    stream: str,
    batches: list[list[dict[str, Any]]],
    calls: int,
    cap: float,
    latencies: list[float] | None = None,
    per_shard: Counter[str] | None = None,
) -> dict[str, Any]:
    ok = failed = done = 0
    t0 = time.monotonic()
    deadline = t0 + cap
    for i in range(calls):
        if time.monotonic() > deadline:
            break
        batch = batches[i % len(batches)]
        c0 = time.perf_counter()
        resp = client.put_records(StreamName=stream, Records=batch)
        if latencies is not None:
            latencies.append(time.perf_counter() - c0)
        f = resp.get("FailedRecordCount", 0) or 0
        if per_shard is not None:
            per_shard.update(r["ShardId"] for r in resp["Records"] if "ShardId" in r)
        failed += f
        ok += len(batch) - f
        done += 1
    elapsed = time.monotonic() - t0
    return {
        "calls": done,
        "records_ok": ok,
        "records_failed": failed,
        "seconds": elapsed,
        "capped": done < calls,
    }


def drain(client: Any, stream: str, cap: float, limit: int = 10000) -> dict[str, Any]:
    """Read every shard from TRIM_HORIZON until caught up; returns counts, time and
    the latency of every GetRecords call that returned records."""
    t0 = time.monotonic()
    deadline = t0 + cap
    shards: list[dict[str, Any]] = []
    kwargs = {"StreamName": stream}
    while True:
        resp = client.list_shards(**kwargs)
        shards.extend(s["ShardId"] for s in resp.get("Shards", []))
        token = resp.get("NextToken")
        if not token:
            break
        kwargs = {"NextToken": token}
    records = calls = 0
    capped = False
    latencies: list[float] = []
    for shard in shards:
        it = client.get_shard_iterator(
            StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        empties = 0
        while it:
            if time.monotonic() > deadline:
                capped = True
                break
            c0 = time.perf_counter()
            resp = client.get_records(ShardIterator=it, Limit=limit)
            elapsed = time.perf_counter() - c0
            calls += 1
            n = len(resp.get("Records", []))
            if n:
                latencies.append(elapsed)
            records += n
            it = resp.get("NextShardIterator")
            if n == 0:
                empties += 1
                # caught up: an empty page at the tip, or a few empty pages in a row
                if (resp.get("MillisBehindLatest") or 0) == 0 or empties >= 5:
                    break
            else:
                empties = 0
        if capped:
            break
    return {
        "records": records,
        "calls": calls,
        "shards": len(shards),
        "seconds": time.monotonic() - t0,
        "capped": capped,
        "latencies_ms": [x * 1000 for x in latencies],
    }


def _median(xs: list[float | None]) -> float | None:
    present = [x for x in xs if x is not None]
    return statistics.median(present) if present else None


def run_put_and_drain(
    client: Any, settings: Settings, rng: random.Random, log: Log, server_cpu: ServerCpu
) -> dict[str, Any]:
    """(a) batched put, then (b) drain of the same stream; ``repeats`` streams."""
    batches = make_batches(min(settings.batches, 200), settings, rng)
    puts, drains, errors = [], [], []
    put_lat: list[float] = []
    for r in range(settings.repeats):
        name = _stream_name(f"bench-put-{r}")
        try:
            create_stream(client, name, settings.shards)
            cpu0 = server_cpu()
            res = _put_batches(client, name, batches, settings.batches, settings.time_cap, put_lat)
            res["server_cpu_s"] = server_cpu() - cpu0
            res["records"] = res["records_ok"]
            res["rps"] = res["records_ok"] / res["seconds"] if res["seconds"] > 0 else None
            puts.append(res)
            cap = " (time cap)" if res["capped"] else ""
            log(
                f"    a[{r}] put   {res['records_ok']:7d} rec in {res['seconds']:6.2f}s"
                f" = {res['rps'] or 0:9.0f} rec/s{cap}"
            )
        except Exception as exc:  # keep going with the other repeats
            errors.append(f"put: {_short(exc)}")
            continue
        try:
            cpu0 = server_cpu()
            d = drain(client, name, settings.time_cap)
            d["server_cpu_s"] = server_cpu() - cpu0
            d["expected"] = res["records_ok"]
            d["rps"] = (
                d["records"] / d["seconds"] if settings.stores_data and d["seconds"] > 0 else None
            )
            drains.append(d)
            cap = " (time cap)" if d["capped"] else ""
            log(
                f"    b[{r}] drain {d['records']:7d} rec in {d['seconds']:6.2f}s"
                f" = {d['rps'] or 0:9.0f} rec/s ({d['calls']} GetRecords){cap}"
            )
        except Exception as exc:
            errors.append(f"drain: {_short(exc)}")
    notes = _put_drain_notes(puts, drains, settings)
    get_lat = [x for d in drains for x in d["latencies_ms"]]
    put_cpu = cpu_us_per_record(puts)
    get_cpu = cpu_us_per_record(drains) if settings.stores_data else None
    return {
        "metrics": {
            "put_batched_rps": _median([p["rps"] for p in puts]),
            "put_batched_p50_ms": _ms(percentile(put_lat, 0.5)),
            "put_batched_p99_ms": _ms(percentile(put_lat, 0.99)),
            "get_drain_rps": _median([d["rps"] for d in drains]),
            "get_page_p50_ms": percentile(get_lat, 0.5),
            "cpu_put_us": put_cpu,
            "cpu_get_us": get_cpu,
            "cpu_put_get_us": put_cpu + get_cpu if put_cpu and get_cpu else None,
        },
        "runs": {"put": puts, "drain": drains, "put_latencies_ms": [x * 1000 for x in put_lat]},
        "errors": errors,
        "notes": notes,
    }


def _put_drain_notes(
    puts: list[dict[str, Any]], drains: list[dict[str, Any]], settings: Settings
) -> list[str]:
    notes = []
    mism = [d for d in drains if d["records"] != d["expected"]] if settings.stores_data else []
    if mism:
        notes.append(
            "drain read {} of {} records".format(
                "/".join(str(d["records"]) for d in mism),
                "/".join(str(d["expected"]) for d in mism),
            )
        )
    if any(p["records_failed"] for p in puts):
        failed = sum(p["records_failed"] for p in puts)
        notes.append(f"PutRecords partial failures: {failed} records")
    return notes


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def run_single_puts(
    client: Any, settings: Settings, rng: random.Random, log: Log, server_cpu: ServerCpu
) -> dict[str, Any]:
    """(c) single PutRecord calls, ``single_calls`` per repeat."""
    name = _stream_name("bench-single")
    create_stream(client, name, settings.shards)
    payloads = [
        (rng.randbytes(settings.record_size), f"{rng.getrandbits(128):032x}") for _ in range(256)
    ]
    runs, errors = [], []
    for r in range(settings.repeats):
        lat = []
        t0 = time.monotonic()
        cpu0 = server_cpu()
        deadline = t0 + settings.time_cap
        try:
            for i in range(settings.single_calls):
                if time.monotonic() > deadline:
                    break
                data, key = payloads[i % len(payloads)]
                c0 = time.perf_counter()
                client.put_record(StreamName=name, Data=data, PartitionKey=key)
                lat.append(time.perf_counter() - c0)
        except Exception as exc:
            errors.append(f"put_record: {_short(exc)}")
        elapsed = time.monotonic() - t0
        if lat:
            run = {
                "calls": len(lat),
                "records": len(lat),
                "server_cpu_s": server_cpu() - cpu0,
                "seconds": elapsed,
                "rps": len(lat) / elapsed,
                "p50_ms": statistics.median(lat) * 1000,
                "capped": len(lat) < settings.single_calls,
            }
            runs.append(run)
            cap = " (time cap)" if run["capped"] else ""
            log(
                f"    c[{r}] {run['calls']:5d} PutRecord in {elapsed:6.2f}s"
                f" = {run['rps']:7.0f} rec/s, p50 {run['p50_ms']:.2f} ms{cap}"
            )
    return {
        "metrics": {
            "put_single_rps": _median([r["rps"] for r in runs]),
            "put_single_p50_ms": _median([r["p50_ms"] for r in runs]),
            "cpu_single_us": cpu_us_per_record(runs),
        },
        "runs": {"single": runs},
        "errors": errors,
        "notes": [],
    }


def run_latency_vs_size(
    client: Any, settings: Settings, rng: random.Random, log: Log, server_cpu: ServerCpu
) -> dict[str, Any]:
    """(d) PutRecords latency on an empty stream vs. after filling it."""
    name = _stream_name("bench-fill")
    create_stream(client, name, settings.shards)
    batches = make_batches(16, settings, rng)
    notes, errors = [], []
    stored = 0

    lat0: list[float] = []
    res = _put_batches(client, name, batches, settings.latency_calls, settings.time_cap, lat0)
    stored += res["records_ok"]
    lat_start = statistics.median(lat0) * 1000 if lat0 else None
    log(f"    d  {len(lat0)} PutRecords on empty stream: p50 {lat_start or 0:.2f} ms")

    # fill phase: batched puts until `fill` records are stored or fill_cap expires
    t0 = time.monotonic()
    deadline = t0 + settings.fill_cap
    fill_calls = 0
    fill_capped = False
    fill_error = None
    last_report = t0
    fill_cpu0 = server_cpu()
    try:
        while stored < settings.fill:
            if time.monotonic() > deadline:
                fill_capped = True
                break
            batch = batches[fill_calls % len(batches)]
            need = settings.fill - stored
            if need < len(batch):
                batch = batch[:need]
            resp = client.put_records(StreamName=name, Records=batch)
            stored += len(batch) - (resp.get("FailedRecordCount", 0) or 0)
            fill_calls += 1
            now = time.monotonic()
            if now - last_report > 15:
                log(f"       ... filled {stored} records in {now - t0:.0f}s")
                last_report = now
    except Exception as exc:
        fill_error = _short(exc)
        errors.append(f"fill: {fill_error}")
    fill_s = time.monotonic() - t0
    fill_cpu_s = server_cpu() - fill_cpu0
    fill_rps = (stored - res["records_ok"]) / fill_s if fill_s > 0 and fill_calls else None
    if fill_capped:
        notes.append(
            f"fill stopped by {settings.fill_cap:.0f}s cap at {stored} of {settings.fill} records"
        )
    elif fill_error:
        notes.append(f"fill failed at {stored} of {settings.fill} records")
    how = " (time cap)" if fill_capped else (" (error)" if fill_error else "")
    log(f"    d  fill: {stored} records stored in {fill_s:.1f}s{how}")

    lat1: list[float] = []
    lat_end = None
    stored_at_end = stored
    try:
        res1 = _put_batches(client, name, batches, settings.latency_calls, settings.time_cap, lat1)
        stored += res1["records_ok"]
        lat_end = statistics.median(lat1) * 1000 if lat1 else None
        log(f"    d  {len(lat1)} PutRecords at {stored_at_end} stored: p50 {lat_end or 0:.2f} ms")
    except Exception as exc:
        errors.append(f"latency after fill: {_short(exc)}")
    growth = lat_end / lat_start if lat_start and lat_end else None
    return {
        "metrics": {
            "lat_start_ms": lat_start,
            "lat_end_ms": lat_end,
            "lat_growth": growth,
            "fill_stored": stored_at_end,
            "fill_rps": fill_rps,
            "cpu_fill_us": (
                fill_cpu_s / (stored_at_end - res["records_ok"]) * 1e6
                if stored_at_end > res["records_ok"]
                else None
            ),
        },
        "runs": {
            "fill": {
                "target": settings.fill,
                "stored_at_second_sample": stored_at_end,
                "seconds": fill_s,
                "calls": fill_calls,
                "capped": fill_capped,
                "error": fill_error,
                "lat_start_ms_all": [x * 1000 for x in lat0],
                "lat_end_ms_all": [x * 1000 for x in lat1],
            }
        },
        "errors": errors,
        "notes": notes,
    }


def _wait_consumer_active(client: Any, arn: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = client.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"][
            "ConsumerStatus"
        ]
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"consumer {arn} not ACTIVE after {timeout:.0f}s")
        time.sleep(0.1)


def subscribe_drain(client: Any, consumer: str, shard: str, expected: int, deadline: float) -> int:
    """SubscribeToShard from TRIM_HORIZON until ``expected`` records arrived (or the
    deadline passed); returns how many did."""
    got = 0
    position = {"Type": "TRIM_HORIZON"}
    # a subscription ends after 5 minutes (AWS) or earlier on some servers: go on from
    # the continuation sequence number, as a real consumer would
    while got < expected and time.monotonic() < deadline:
        events = client.subscribe_to_shard(
            ConsumerARN=consumer, ShardId=shard, StartingPosition=position
        )["EventStream"]
        try:
            for event in events:
                body = event.get("SubscribeToShardEvent")
                if body is None:
                    continue
                got += len(body["Records"])
                if body.get("ContinuationSequenceNumber"):
                    position = {
                        "Type": "AFTER_SEQUENCE_NUMBER",
                        "SequenceNumber": body["ContinuationSequenceNumber"],
                    }
                if got >= expected or time.monotonic() > deadline:
                    break
        finally:
            events.close()
    return got


def _fanout_reader(
    client: Any,
    consumer: str,
    shard: str,
    expected: int,
    deadline: float,
    counts: Counter[str],
    errors: list[str],
) -> None:
    try:
        counts[shard] = subscribe_drain(client, consumer, shard, expected, deadline)
    except Exception as exc:
        errors.append(f"fanout {shard}: {_short(exc)}")


def _fanout_round(
    client: Any,
    consumer: str,
    per_shard: Counter[str],
    settings: Settings,
    server_cpu: ServerCpu,
    errors: list[str],
) -> dict[str, Any]:
    """One SubscribeToShard per shard, all at once, until each has its records."""
    counts: dict[str, int] = {}
    deadline = time.monotonic() + settings.time_cap
    threads = [
        threading.Thread(
            target=_fanout_reader,
            args=(client, consumer, shard, expected, deadline, counts, errors),
        )
        for shard, expected in per_shard.items()
    ]
    cpu0, t0 = server_cpu(), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(settings.time_cap + 30)
    elapsed = time.monotonic() - t0
    got = sum(counts.values())
    return {
        "records": got,
        "expected": sum(per_shard.values()),
        "seconds": elapsed,
        "server_cpu_s": server_cpu() - cpu0,
        "rps": got / elapsed if elapsed > 0 else None,
    }


def _register(client: Any, arn: str, name: str) -> str | None:
    """A new ACTIVE consumer's ARN; None when the server has no enhanced fan-out."""
    try:
        consumer = client.register_stream_consumer(StreamARN=arn, ConsumerName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "UnknownOperationException":
            raise
        return None
    arn = consumer["Consumer"]["ConsumerARN"]
    _wait_consumer_active(client, arn)
    return arn


def run_fanout(
    client: Any, settings: Settings, rng: random.Random, log: Log, server_cpu: ServerCpu
) -> dict[str, Any]:
    """(e) enhanced fan-out: one stream of ``batches`` PutRecords calls, read back
    ``repeats`` times by SubscribeToShard on every shard at once (a thread each)."""
    if not settings.stores_data:
        return {"metrics": {}, "runs": {}, "errors": [], "notes": []}
    name = _stream_name("bench-fanout")
    create_stream(client, name, settings.shards)
    batches = make_batches(min(settings.batches, 200), settings, rng)
    per_shard: Counter[str] = Counter()
    _put_batches(client, name, batches, settings.batches, settings.time_cap, None, per_shard)
    arn = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    for r in range(settings.repeats):
        consumer = _register(client, arn, f"bench-{r}")
        if consumer is None:
            note = "no enhanced fan-out (RegisterStreamConsumer is an unknown operation)"
            return {"metrics": {}, "runs": {}, "errors": [], "notes": [note]}
        run = _fanout_round(client, consumer, per_shard, settings, server_cpu, errors)
        runs.append(run)
        log(
            f"    e[{r}] fan-out {run['records']:7d} rec in {run['seconds']:6.2f}s"
            f" = {run['rps'] or 0:9.0f} rec/s ({len(per_shard)} subscriptions)"
        )
        if errors:
            break
    return {
        "metrics": {
            "fanout_rps": _median([r["rps"] for r in runs if r["records"]]),
            "cpu_fanout_us": cpu_us_per_record(runs),
        },
        "runs": {"fanout": runs},
        "errors": errors,
        "notes": [
            f"fan-out read {r['records']} of {r['expected']} records"
            for r in runs
            if r["records"] != r["expected"]
        ],
    }


def _short(exc: BaseException, n: int = 200) -> str:
    s = f"{type(exc).__name__}: {exc}"
    return s if len(s) <= n else s[: n - 3] + "..."


WORKLOADS = [
    ("put+drain", run_put_and_drain),
    ("fanout", run_fanout),
    ("single", run_single_puts),
    ("fill", run_latency_vs_size),
]
