"""HTTP/2 with prior knowledge on the region's one port, spoken by a bare h2 client.

What the JS SDK test does not pin down: several calls multiplexed on one
connection, and faults injected through the (HTTP/1.1) admin endpoint applying to
HTTP/2 calls too, since both reach the same API.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, ResponseReceived, StreamEnded

from shardline.testing import RegionProcess, set_fault

TARGET = "Kinesis_20131202."


def _headers(url: str, operation: str, body: bytes) -> list[tuple[str, str]]:
    return [
        (":method", "POST"),
        (":path", "/"),
        (":scheme", "http"),
        (":authority", url.removeprefix("http://")),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", TARGET + operation),
        ("authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis"),
        ("content-length", str(len(body))),
    ]


def call_many(url: str, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, Any]]:
    """Send every call at once on one HTTP/2 connection; answers in call order."""
    host, port = url.removeprefix("http://").split(":")
    connection = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        connection.initiate_connection()
        stream_ids = []
        for operation, payload in calls:
            body = json.dumps(payload).encode()
            stream_id = connection.get_next_available_stream_id()
            connection.send_headers(stream_id, _headers(url, operation, body))
            connection.send_data(stream_id, body, end_stream=True)
            stream_ids.append(stream_id)
        sock.sendall(connection.data_to_send())
        status: dict[int, int] = {}
        bodies: dict[int, bytes] = {sid: b"" for sid in stream_ids}
        ended: set[int] = set()
        while ended != set(stream_ids):
            data = sock.recv(65_536)
            assert data, "the server closed the connection early"
            for event in connection.receive_data(data):
                if isinstance(event, ResponseReceived):
                    assert event.stream_id is not None and event.headers is not None
                    status[event.stream_id] = int(dict(event.headers)[":status"])
                elif isinstance(event, DataReceived):
                    assert event.stream_id is not None and event.data is not None
                    bodies[event.stream_id] += event.data
                    connection.acknowledge_received_data(
                        event.flow_controlled_length or 0, event.stream_id
                    )
                elif isinstance(event, StreamEnded):
                    assert event.stream_id is not None
                    ended.add(event.stream_id)
            sock.sendall(connection.data_to_send())
    return [(status[sid], json.loads(bodies[sid]) if bodies[sid] else None) for sid in stream_ids]


def test_calls_multiplexed_on_one_connection_each_get_their_own_answer(make_stream, region):
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


def test_an_injected_fault_applies_to_http2_calls(fresh_region):
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
