"""A spool's records go only where they were put; given-up records stay as dead letters.

Every command runs as a process with no AWS credentials in its environment.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path

from producer_helpers import config, new_stream, user_payloads

from shardline.producer import Destination, Producer, Record, dead_letters
from shardline.testing import RegionProcess, run_shardline


async def _leave_unsent(destination: Destination, spool: Path, payloads: list[bytes]) -> None:
    """A producer that accepted records and was stopped before any was stored."""
    settings = config(spool_path=spool, max_buffered_time_s=60.0)
    producer = await Producer(destination, settings).start()
    await producer.put_many([Record(p, p.decode()) for p in payloads])
    await producer.close(timeout=0)


def test_put_refuses_records_left_for_another_stream_and_resend_delivers_them(
    region: RegionProcess, fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    other = fresh_region("--create-delay-ms", "0")
    w1 = new_stream(other.url, shards=1)
    other.kill()  # `put w1` to an endpoint with nothing listening, then interrupted
    spool = tmp_path / "spool.sqlite"
    asyncio.run(_leave_unsent(Destination(w1, other.url), spool, [b"left-1", b"left-2"]))
    ticks = new_stream(region.url)

    put = run_shardline(
        "put", ticks, "--endpoint-url", region.url, "--spool", str(spool), stdin="new\n"
    )
    assert put.returncode == 1
    (line,) = put.stderr.splitlines()  # one line, no traceback
    assert f"2 records for {w1}@{other.url}" in line and "shardline spool resend" in line
    assert user_payloads(region.url, ticks) == []  # nothing went to the wrong stream

    other.start()  # same port: the records' own destination is back
    resent = run_shardline("spool", "resend", "--spool", str(spool))
    assert resent.returncode == 0, resent.stdout + resent.stderr
    assert sorted(user_payloads(other.url, w1)) == [b"left-1", b"left-2"]
    listed = json.loads(run_shardline("spool", "--spool", str(spool), "--json").stdout)
    assert (listed["waiting"], listed["dead"]) == (0, 0)


def test_put_announces_the_records_it_sends_again(region: RegionProcess, tmp_path: Path) -> None:
    stream = new_stream(region.url)
    spool = tmp_path / "spool.sqlite"
    asyncio.run(_leave_unsent(Destination(stream, region.url), spool, [b"old"]))

    put = run_shardline(
        "put", stream, "--endpoint-url", region.url, "--spool", str(spool), stdin="new\n"
    )
    assert put.returncode == 0, put.stderr
    assert f"re-sending 1 records left in {spool} by an earlier run" in put.stderr
    assert sorted(user_payloads(region.url, stream)) == [b"new", b"old"]


def test_given_up_records_stay_as_dead_letters_until_resent(
    region: RegionProcess, tmp_path: Path
) -> None:
    spool = tmp_path / "spool.sqlite"
    later = f"later-{uuid.uuid4().hex[:8]}"
    destination = Destination(later, region.url)

    async def put_to_a_missing_stream() -> list[bool]:
        async with Producer(destination, config(spool_path=spool)) as producer:
            futures = await producer.put_many([Record(b"a", "a"), Record(b"b", "b")])
            return [(await f).succeeded for f in futures]

    assert asyncio.run(put_to_a_missing_stream()) == [False, False]
    listed = run_shardline("spool", "--spool", str(spool), "--json")
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert (document["waiting"], document["dead"]) == (0, 2)
    assert all(
        "ResourceNotFoundException" in letter["reason"] for letter in document["dead_letters"]
    )

    new_stream(region.url, name=later)
    resent = run_shardline("spool", "resend", "--spool", str(spool))
    assert resent.returncode == 0, resent.stdout + resent.stderr
    assert "2 sent, 2 stored" in resent.stdout
    assert sorted(user_payloads(region.url, later)) == [b"a", b"b"]
    assert dead_letters.inspect(spool).dead == 0
