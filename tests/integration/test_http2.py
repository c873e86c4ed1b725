"""HTTP/2 with prior knowledge on the region's one port, spoken by a bare h2 client.

What the JS SDK test does not pin down: several calls multiplexed on one
connection, and faults injected through the (HTTP/1.1) admin endpoint applying to
HTTP/2 calls too, since both reach the same API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from h2_client import exchange

from shardline.testing import RegionProcess, set_fault

TARGET = "Kinesis_20131202."


def _headers(operation: str) -> list[tuple[str, str]]:
    return [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", TARGET + operation),
        ("authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis"),
    ]


def call_many(url: str, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, Any]]:
    """Send every call at once on one HTTP/2 connection; answers in call order."""
    requests = [(_headers(operation), json.dumps(payload).encode()) for operation, payload in calls]
    return [
        (answer.status, json.loads(answer.body) if answer.body else None)
        for answer in exchange(url, requests)
    ]


def test_calls_multiplexed_on_one_connection_each_get_their_own_answer(
    make_stream: Callable[..., str], region: RegionProcess
) -> None:
    stream = make_stream(1)
    puts = [
        ("PutRecord", {"StreamName": stream, "Data": "aGk=", "PartitionKey": f"k{i}"})
        for i in range(10)
    ]
    answers = call_many(region.url, [*puts, ("DescribeStreamSummary", {"StreamName": "nope"})])
    sequences = [body["SequenceNumber"] for status, body in answers[:10]]
    assert all(status == 200 for status, _ in answers[:10])
    assert len(set(sequences)) == 10
    assert answers[10][0] == 400
    assert answers[10][1]["__type"] == "ResourceNotFoundException"


def test_an_injected_fault_applies_to_http2_calls(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    region: RegionProcess = fresh_region()
    set_fault(region.url, error_rate=1.0, status=503)
    try:
        [(status, body)] = call_many(region.url, [("ListStreams", {})])
    finally:
        set_fault(region.url)
    assert status == 503
    assert body["__type"] == "ServiceUnavailable"
    [(status, _)] = call_many(region.url, [("ListStreams", {})])
    assert status == 200
