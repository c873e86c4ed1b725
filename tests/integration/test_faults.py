"""The fault-injection admin endpoint makes a real server misbehave on request."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from shardline.testing import (
    RegionProcess,
    fault_in_force,
    kinesis_client,
    set_fault,
    wait_active,
    wait_for,
)

FAST = ("--create-delay-ms", "0")


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_outage_refuses_every_call_until_cleared(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    server = fresh_region(*FAST)
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="f", ShardCount=1)
    wait_active(kinesis, "f")
    assert set_fault(server.url, outage=True)["outage"] is True
    with pytest.raises(ClientError) as exc:
        kinesis.put_record(StreamName="f", Data=b"x", PartitionKey="k")
    assert code(exc) == ("ServiceUnavailable", 503)
    with pytest.raises(ClientError) as exc:
        kinesis.list_streams()
    assert code(exc) == ("ServiceUnavailable", 503)
    assert set_fault(server.url) == {
        "outage": False,
        "error_rate": 0.0,
        "status": 503,
        "latency_ms": 0,
        "operations": [],
        "delayed_calls": 0,
    }
    kinesis.put_record(StreamName="f", Data=b"x", PartitionKey="k")


def test_error_rate_fails_about_that_fraction_of_the_named_operations(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    server = fresh_region(*FAST)
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="f", ShardCount=1)
    wait_active(kinesis, "f")
    set_fault(server.url, error_rate=0.3, status=500, operations=["PutRecord"])
    failures = 0
    for _ in range(200):
        try:
            kinesis.put_record(StreamName="f", Data=b"x", PartitionKey="k")
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "InternalFailure"
            failures += 1
    assert 30 <= failures <= 90  # 30 % of 200, with a wide margin
    for _ in range(20):  # other operations are untouched
        kinesis.describe_stream_summary(StreamName="f")


def test_latency_is_added_and_bad_faults_are_refused(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    server = fresh_region(*FAST)
    kinesis = kinesis_client(server.url)
    set_fault(server.url, latency_ms=300)
    started = time.perf_counter()
    kinesis.list_streams()
    assert time.perf_counter() - started >= 0.3
    request = urllib.request.Request(
        f"{server.url}/_shardline/faults",
        data=json.dumps({"error_rate": 2}).encode(),
        method="PUT",
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=10)
    assert exc.value.code == 400
    assert "error_rate" in json.loads(exc.value.read())["error"]


def test_changing_a_fault_releases_the_calls_it_delays(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    """A call held by a long latency is visible as delayed, and goes on once cleared."""
    server = fresh_region(*FAST)
    kinesis = kinesis_client(server.url, read_timeout=120)
    kinesis.create_stream(StreamName="f", ShardCount=1)
    wait_active(kinesis, "f")
    set_fault(server.url, latency_ms=600_000, operations=["PutRecord"])
    result: dict[str, object] = {}
    caller = threading.Thread(
        target=lambda: result.update(
            kinesis.put_record(StreamName="f", Data=b"held", PartitionKey="k")
        )
    )
    caller.start()
    wait_for(lambda: fault_in_force(server.url)["delayed_calls"] == 1, what="the call delayed")
    assert caller.is_alive()
    set_fault(server.url)
    caller.join(60)
    assert not caller.is_alive() and result["ShardId"] == "shardId-000000000000"
    assert fault_in_force(server.url)["delayed_calls"] == 0
