"""The producer against real ``shardline serve`` processes: outcomes, aggregation
readers, resharding, destination switching, giving up, backpressure, the CLI."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from live_files import read_jsonl
from producer_helpers import config, new_stream, put_all, raw_records, user_payloads

from shardline.framing import aggregation, envelope
from shardline.producer import (
    Destination,
    InvalidRecordError,
    Producer,
    ProducerClosedError,
    Record,
    RecordExpiredError,
    RecordFailedError,
    SyncProducer,
    dead_letters,
)
from shardline.testing import kinesis_client


def _records(count: int, prefix: str = "r", keys: int = 16) -> list[Record]:
    return [Record(f"{prefix}-{i}".encode(), f"k{i % keys}") for i in range(count)]


@pytest.mark.parametrize("aggregate", [False, True])
def test_outcomes_name_the_shard_and_sequence_the_stream_holds(region, aggregate):
    stream = new_stream(region.url, shards=3)
    outcomes = asyncio.run(
        put_all(Destination(stream, region.url), config(aggregation=aggregate), _records(600))
    )
    assert all(o.succeeded and o.error is None for o in outcomes)
    stored = {(s["ShardId"], r["SequenceNumber"]) for s, r in raw_records(region.url, stream)}
    assert {(o.shard_id, o.sequence_number) for o in outcomes} == stored
    assert all(len(o.attempts) == 1 and o.attempts[0].succeeded for o in outcomes)
    assert sorted(user_payloads(region.url, stream)) == sorted(r.data for r in _records(600))
    if aggregate:
        assert len(stored) < 600 / 10  # packed: a few aggregates per shard
        assert {o.sub_sequence_number for o in outcomes} > {0, 1}
    else:
        assert {o.sub_sequence_number for o in outcomes} == {None}


def test_aggregates_are_read_by_aws_kinesis_agg_and_our_consumer(region, tmp_path):
    stream = new_stream(region.url, shards=3)
    rng = random.Random(5)
    records = [Record(f"u-{i}".encode(), f"key-{rng.randrange(500)}") for i in range(3000)]
    outcomes = asyncio.run(
        put_all(Destination(stream, region.url), config(aggregation=True), records)
    )
    by_data = {r.data: o for r, o in zip(records, outcomes, strict=True)}
    raw = raw_records(region.url, stream)
    assert len(raw) < 100

    # aws-kinesis-agg, as a Lambda or boto3 reader would use it
    theirs = [
        t["kinesis"] for t in iter_deaggregate_records([r for _, r in raw], data_format="Boto3")
    ]
    assert sorted(base64.b64decode(t["data"]) for t in theirs) == sorted(by_data)
    for item in theirs:
        outcome = by_data[base64.b64decode(item["data"])]
        assert (item["sequenceNumber"], item["subSequenceNumber"]) == (
            outcome.sequence_number,
            outcome.sub_sequence_number,
        )

    # our KCL-equivalent consumer, in its own process
    worker_script = Path(__file__).with_name("consumer_worker.py")
    out = tmp_path / "consumed.jsonl"
    worker = subprocess.Popen(
        [
            sys.executable,
            str(worker_script),
            "--endpoint",
            region.url,
            "--stream",
            stream,
            "--app",
            f"app-{uuid.uuid4().hex[:6]}",
            "--leases",
            str(tmp_path / "leases.db"),
            "--out",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        lines: list[dict[str, object]] = []
        while len(lines) < len(records) and time.monotonic() < deadline:
            time.sleep(0.2)
            lines = read_jsonl(out)
    finally:
        worker.terminate()
        worker.wait(30)
    assert sorted(line["data"].encode() for line in lines) == sorted(by_data)  # type: ignore[union-attr]
    for line in lines:
        outcome = by_data[str(line["data"]).encode()]
        assert (line["seq"], line["sub"]) == (outcome.sequence_number, outcome.sub_sequence_number)


def test_resharding_mid_stream_loses_no_aggregated_record(region):
    stream = new_stream(region.url, shards=2)
    kinesis = kinesis_client(region.url)

    async def scenario() -> tuple[list[bool], int]:
        settings = config(aggregation=True)
        async with Producer(Destination(stream, region.url), settings) as producer:
            futures = await producer.put_many(_records(1000, "before", keys=300))
            await producer.flush()
            await asyncio.to_thread(
                kinesis.update_shard_count,
                StreamName=stream,
                TargetShardCount=4,
                ScalingType="UNIFORM_SCALING",
            )
            for i in range(10):
                futures += await producer.put_many(_records(100, f"after{i}", keys=300))
                await asyncio.sleep(0.05)
            await producer.flush()
            return [f.result().succeeded for f in futures], len(producer.shard_map)

    succeeded, open_shards = asyncio.run(scenario())
    assert all(succeeded) and open_shards == 4  # the map followed the reshard
    expected = [r.data for r in _records(1000, "before", keys=300)]
    expected += [r.data for i in range(10) for r in _records(100, f"after{i}", keys=300)]
    # read as the KCL does: an aggregate on the wrong shard is dropped, its re-send counts
    assert sorted(user_payloads(region.url, stream)) == sorted(expected)


def test_switching_destination_sends_each_record_to_exactly_one_region(region, fresh_region):
    other = fresh_region("--create-delay-ms", "0")
    stream = new_stream(region.url)
    new_stream(other.url, name=stream)
    first, second = Destination(stream, region.url), Destination(stream, other.url)

    async def scenario() -> tuple[list[str], list[str]]:
        async with Producer(first, config(record_ids=True)) as producer:
            before, after = [], []
            for i in range(20):
                before += await producer.put_many(_records(50, f"b{i}"))
                if i == 10:  # switch while calls to the first region are in flight
                    switch = asyncio.create_task(producer.switch_destination(second))
                await asyncio.sleep(0.005)
            await switch
            for i in range(5):
                after += await producer.put_many(_records(50, f"a{i}"))
            await producer.flush()
            assert all(f.result().destination == second for f in after)
            outcomes = [f.result() for f in before + after]
            assert all(o.succeeded for o in outcomes)
            where = [str(o.destination) for o in outcomes]
            return where, [o.record_id for o in outcomes]

    where, ids = asyncio.run(scenario())
    in_first = user_payloads(region.url, stream)
    in_second = user_payloads(other.url, stream)
    expected = [r.data for i in range(20) for r in _records(50, f"b{i}")]
    expected += [r.data for i in range(5) for r in _records(50, f"a{i}")]
    assert sorted(in_first + in_second) == sorted(expected)  # none lost, none twice
    assert not set(in_first) & set(in_second)
    assert where.count(str(first)) == len(in_first) and len(in_second) > 250
    assert len(set(ids)) == len(ids)


def test_switching_away_from_a_dead_region_delivers_everything(fresh_region, tmp_path):
    dead = fresh_region("--create-delay-ms", "0")
    alive = fresh_region("--create-delay-ms", "0")
    stream = new_stream(dead.url)
    new_stream(alive.url, name=stream)

    async def scenario() -> list[object]:
        settings = config(spool_path=tmp_path / "spool.sqlite", request_timeout_s=2.0)
        async with Producer(Destination(stream, dead.url), settings) as producer:
            futures = await producer.put_many(_records(200, "early"))
            await producer.flush()
            dead.kill()
            futures += await producer.put_many(_records(300, "late"))
            deadline = time.monotonic() + 30
            while producer.metrics.window(60).failed_calls == 0:  # calls to the dead region fail
                assert time.monotonic() < deadline, "no call to the dead region failed"
                await asyncio.sleep(0.05)
            await producer.switch_destination(Destination(stream, alive.url))
            await producer.flush(timeout=30)
            return [f.result() for f in futures]

    outcomes = asyncio.run(scenario())
    assert all(o.succeeded for o in outcomes)  # type: ignore[attr-defined]
    late = [o for o in outcomes[200:]]
    assert all(o.destination.endpoint_url == alive.url for o in late)  # type: ignore[attr-defined]
    assert any(not a.succeeded for o in late for a in o.attempts)  # type: ignore[attr-defined]
    assert sorted(user_payloads(alive.url, stream)) == sorted(r.data for r in _records(300, "late"))


def test_a_record_not_stored_within_its_ttl_fails_as_expired():
    # nothing listens on this port: every call is refused before it is sent
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"

    async def scenario() -> object:
        # a TTL that allows several retries even when a loaded CI machine takes a
        # second to build the first client (a 1 s TTL once saw only one attempt)
        settings = config(record_ttl_s=4.0, backoff_initial_s=0.05, backoff_max_s=0.2)
        async with Producer(Destination("nowhere", url), settings) as producer:
            future = await producer.put(b"x", "k")
            return await asyncio.wait_for(future, 10)

    outcome = asyncio.run(scenario())
    assert not outcome.succeeded and isinstance(outcome.error, RecordExpiredError)  # type: ignore[attr-defined]
    attempts = outcome.attempts  # type: ignore[attr-defined]
    assert len(attempts) >= 2
    assert {a.error_code for a in attempts} == {"EndpointConnectionError"}
    assert not any(a.ambiguous for a in attempts)


def test_a_missing_stream_fails_the_record_and_keeps_it_as_a_dead_letter(region, tmp_path):
    spool = tmp_path / "spool.sqlite"
    outcomes = asyncio.run(
        put_all(Destination("no-such-stream", region.url), config(spool_path=spool), _records(3))
    )
    assert all(isinstance(o.error, RecordFailedError) for o in outcomes)
    assert outcomes[0].attempts[0].error_code == "ResourceNotFoundException"
    contents = dead_letters.inspect(spool)
    assert (contents.waiting, contents.dead) == (0, 3)
    assert all("ResourceNotFoundException" in d.reason for d in contents.dead_letters)


def test_put_refuses_records_kinesis_would_refuse(region):
    async def scenario() -> None:
        async with Producer(Destination("s", region.url), config()) as producer:
            for bad in [
                Record(b"x", ""),
                Record(b"x", "k" * 257),
                Record(b"x" * (1024 * 1024), "k"),
                Record(b"x", "k", "-1"),
                Record(b"x", "k", str(2**128)),
            ]:
                with pytest.raises(InvalidRecordError):
                    await producer.put_many([bad])
        with pytest.raises(ProducerClosedError):
            await producer.put(b"x", "k")

    asyncio.run(scenario())


def test_put_waits_while_the_outstanding_bound_is_reached():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"

    async def scenario() -> list[object]:
        settings = config(max_outstanding_records=5, record_ttl_s=None)
        producer = await Producer(Destination("s", url), settings).start()
        futures = [await producer.put(b"x", "k") for _ in range(5)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(producer.put(b"x", "k"), 0.3)
        await producer.close(timeout=0.2)
        return [f.result() for f in futures]

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o.error, ProducerClosedError) for o in outcomes)  # type: ignore[attr-defined]


def test_the_sync_facade_puts_and_flushes(region, tmp_path):
    stream = new_stream(region.url)
    settings = config(spool_path=tmp_path / "s.sqlite", record_ids=True)
    with SyncProducer(Destination(stream, region.url), settings) as producer:
        futures = [producer.put(f"s{i}".encode(), f"k{i}") for i in range(20)]
        producer.flush(timeout=30)
        outcomes = [f.result(timeout=1) for f in futures]
        assert producer.metrics.window(60).entries >= 1
    assert all(o.succeeded for o in outcomes)
    payloads = user_payloads(region.url, stream)
    assert sorted(payloads) == sorted(f"s{i}".encode() for i in range(20))
    ids = {envelope.decode(r["Data"]).record_id for _, r in raw_records(region.url, stream)}
    assert ids == {o.record_id for o in outcomes}


def _cli(
    command: str, *args: str, stdin: str = "", timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    code = (
        f"from shardline.cli.{command} import {command}; {command}(prog_name='shardline {command}')"
    )
    env = {**__import__("os").environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_cli_put_from_stdin_and_tail_from_a_position(region, tmp_path):
    stream = new_stream(region.url)
    lines = [f"line {i} ü" for i in range(300)]
    put = _cli(
        "put",
        stream,
        "--endpoint-url",
        region.url,
        "--spool",
        str(tmp_path / "cli.sqlite"),
        "--aggregate",
        "--record-ids",
        "--json",
        stdin="\n".join(lines) + "\n",
    )
    assert put.returncode == 0, put.stderr
    summary = json.loads(put.stdout)
    assert (summary["read"], summary["stored"], summary["failed"]) == (300, 300, 0)

    tail = _cli(
        "tail",
        stream,
        "--endpoint-url",
        region.url,
        "--from",
        "trim-horizon",
        "-n",
        "300",
        "--json",
    )
    assert tail.returncode == 0, tail.stderr
    printed = [json.loads(line) for line in tail.stdout.splitlines()]
    assert sorted(p["data"] for p in printed) == sorted(lines)
    assert all(p["record_id"] and len(p["record_id"]) == 32 for p in printed)
    since = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)).isoformat()
    args = ["--from", "at-timestamp", "--timestamp", since, "-n", "300"]
    by_time = _cli("tail", stream, "--endpoint-url", region.url, *args)
    assert by_time.returncode == 0, by_time.stderr
    assert sorted(line.split("] ", 1)[1] for line in by_time.stdout.splitlines()) == sorted(lines)

    # from LATEST: only records put after tail started
    follower = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from shardline.cli.tail import tail; tail(prog_name='shardline tail')",
            stream,
            "--endpoint-url",
            region.url,
            "-n",
            "2",
            "--poll-interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"},
    )
    # When the follower has its LATEST iterators is not visible from outside, so
    # new records keep coming until it has printed two (bounded in count and time).
    kinesis = kinesis_client(region.url)
    deadline = time.monotonic() + 30
    new = 0
    while follower.poll() is None and new < 100 and time.monotonic() < deadline:
        kinesis.put_record(StreamName=stream, Data=f"new {new}".encode(), PartitionKey="k")
        new += 1
        time.sleep(0.3)
    out, _ = follower.communicate(timeout=20)
    # Two consecutive new records, in order: none of the 300 older ones.
    first = int(out.splitlines()[0].removeprefix("new "))
    assert out.splitlines() == [f"new {first}", f"new {first + 1}"]


def test_aggregation_module_reads_what_the_cli_put(region):
    stream = new_stream(region.url, shards=1)
    _cli(
        "put",
        stream,
        "--endpoint-url",
        region.url,
        "--no-spool",
        "--aggregate",
        "-q",
        stdin="a\nb\nc\n",
    )
    ((_, record),) = raw_records(region.url, stream)
    assert aggregation.is_aggregated(record["Data"])
    assert [u.data for u in aggregation.deaggregate(record["Data"], "a")] == [b"a", b"b", b"c"]
