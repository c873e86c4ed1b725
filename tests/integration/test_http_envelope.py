"""What every answer carries, over HTTP/1.1 and HTTP/2: CORS, request ids, content types.

Recorded AWS behaviour these tests pin down:

- A CORS preflight (``OPTIONS`` with ``Origin``) is answered 200 without a signature,
  with ``Access-Control-Allow-Origin: *``, ``Access-Control-Max-Age: 172800`` and the
  requested headers and method echoed; the real request still needs its signature and
  its answer carries ``Access-Control-Allow-Origin`` and ``-Expose-Headers``.
  Shardline's own rule on top: without ``--credentials`` (where any signature passes)
  only pages from loopback origins, or ``--allow-origin`` ones, are granted CORS; with
  credentials every origin is, as on AWS.
- Every answer carries ``x-amzn-RequestId`` and ``x-amz-id-2`` (a preflight only the
  request id).
- XML errors come without a ``Content-Type``.
- ``Content-Type: application/json`` is answered 404 in Coral's older envelope.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from auth_helpers import SecureRegion
from h2_client import exchange

from shardline.testing import RegionProcess, kinesis_client, wait_active, wait_for

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request, "
    "SignedHeaders=host, Signature=abc"
)
JSON_11 = "application/x-amz-json-1.1"
EXPOSED = "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date"
#: A page served from this machine: granted CORS even without credentials.
LOCAL_PAGE = "http://localhost:8080"
FOREIGN_PAGE = "https://console.example.com"
PREFLIGHT = {
    "Origin": LOCAL_PAGE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,x-amz-date,x-amz-target",
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def http1(url: str, method: str, headers: dict[str, str], body: bytes = b"") -> Answer:
    """One raw HTTP/1.1 request; header names of the answer lower-cased."""
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    try:
        connection.request(method, "/", body=body, headers=headers)
        reply = connection.getresponse()
        answer = Answer(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
    finally:
        connection.close()
    return answer


def kinesis_headers(operation: str | None, signed: bool = True, **extra: str) -> dict[str, str]:
    headers = {"Content-Type": JSON_11, "X-Amz-Date": "20260101T000000Z", **extra}
    if operation is not None:
        headers["X-Amz-Target"] = f"Kinesis_20131202.{operation}"
    if signed:
        headers["Authorization"] = AUTH
    return headers


def assert_identified(headers: dict[str, str]) -> None:
    assert UUID.fullmatch(headers["x-amzn-requestid"]), headers
    assert 72 <= len(base64.b64decode(headers["x-amz-id-2"], validate=True)) <= 80


# -- 1. CORS --------------------------------------------------------------------------------


def test_preflight_is_allowed_without_a_signature(region: RegionProcess) -> None:
    answer = http1(region.url, "OPTIONS", PREFLIGHT)
    assert answer.status == 200
    assert answer.body == b""
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["access-control-max-age"] == "172800"
    assert (
        answer.headers["access-control-allow-headers"]
        == PREFLIGHT["Access-Control-Request-Headers"]
    )
    assert answer.headers["access-control-allow-methods"] == "POST"
    assert UUID.fullmatch(answer.headers["x-amzn-requestid"])
    assert "x-amz-id-2" not in answer.headers
    assert "content-type" not in answer.headers


def test_preflight_without_requested_headers_echoes_nothing(region: RegionProcess) -> None:
    answer = http1(region.url, "OPTIONS", {"Origin": "http://127.0.0.1"})
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-headers" not in answer.headers
    assert "access-control-allow-methods" not in answer.headers


def test_preflight_over_http2(region: RegionProcess) -> None:
    headers = [(":method", "OPTIONS"), *((k.lower(), v) for k, v in PREFLIGHT.items())]
    [answer] = exchange(region.url, [(headers, b"")])
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["access-control-max-age"] == "172800"
    assert answer.headers["access-control-allow-methods"] == "POST"


def test_cross_origin_call_still_needs_its_signature(region: RegionProcess) -> None:
    headers = kinesis_headers("ListStreams", signed=False, Origin=LOCAL_PAGE)
    answer = http1(region.url, "POST", headers, b"{}")
    assert answer.status == 400
    assert json.loads(answer.body) == {
        "__type": "MissingAuthenticationTokenException",
        "message": "Missing Authentication Token",
    }
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["access-control-expose-headers"] == EXPOSED


def test_signed_cross_origin_call_is_served_with_cors_headers(region: RegionProcess) -> None:
    headers = kinesis_headers("ListStreams", Origin=LOCAL_PAGE)
    answer = http1(region.url, "POST", headers, b"{}")
    assert answer.status == 200
    assert "StreamNames" in json.loads(answer.body)
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["access-control-expose-headers"] == EXPOSED
    [h2] = exchange(
        region.url,
        [([(k.lower(), v) for k, v in headers.items()], b"{}")],
    )
    assert h2.status == 200
    assert h2.headers["access-control-expose-headers"] == EXPOSED


def test_a_call_without_origin_gets_no_cors_headers(region: RegionProcess) -> None:
    answer = http1(region.url, "POST", kinesis_headers("ListStreams"), b"{}")
    assert answer.status == 200
    assert not [name for name in answer.headers if name.startswith("access-control-")]


# -- 9. request ids and content types -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers", "body", "status"),
    [
        ("POST", kinesis_headers("ListStreams"), b"{}", 200),
        ("POST", kinesis_headers("DescribeStreamSummary"), b'{"StreamName": "nope"}', 400),
        ("POST", kinesis_headers("Nope"), b"{}", 400),
        ("POST", kinesis_headers("ListStreams"), b"", 400),
        ("GET", {}, b"", 403),
        ("POST", kinesis_headers("ListStreams") | {"Content-Type": ""}, b"{}", 404),
        (
            "POST",
            kinesis_headers("ListStreams") | {"Content-Type": "application/json"},
            b"{}",
            404,
        ),
    ],
    ids=["ok", "json-error", "unknown-op", "empty-body", "xml-403", "xml-404", "legacy-json"],
)
def test_every_answer_carries_request_ids(
    region: RegionProcess, method: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    answer = http1(region.url, method, headers, body)
    assert answer.status == status
    assert_identified(answer.headers)
    [h2] = exchange(
        region.url, [([(":method", method), *((k.lower(), v) for k, v in headers.items())], body)]
    )
    assert h2.status == status
    assert_identified(h2.headers)


def test_an_oversized_body_is_413_with_request_ids(region: RegionProcess) -> None:
    body = b"{" + b" " * (16 * 1024 * 1024) + b"}"
    answer = http1(region.url, "POST", kinesis_headers("PutRecords"), body)
    assert answer.status == 413
    assert_identified(answer.headers)


def test_subscription_answer_carries_request_ids(region: RegionProcess) -> None:
    kinesis = kinesis_client(region.url)
    name = f"ids-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    wait_active(kinesis, name)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="ids")["Consumer"]
    wait_for(
        lambda: (
            kinesis.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
                "ConsumerDescription"
            ]["ConsumerStatus"]
            == "ACTIVE"
        ),
        timeout=30,
        what="the consumer ACTIVE",
    )
    response = kinesis.subscribe_to_shard(
        ConsumerARN=consumer["ConsumerARN"],
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "TRIM_HORIZON"},
    )
    try:
        assert_identified(response["ResponseMetadata"]["HTTPHeaders"])
    finally:
        response["EventStream"].close()


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("GET", {}, 403),
        ("PUT", {"Authorization": AUTH}, 403),
        ("POST", kinesis_headers("ListStreams") | {"Content-Type": ""}, 404),
    ],
    ids=["missing-token", "access-denied", "unknown-operation"],
)
def test_xml_errors_have_no_content_type(
    region: RegionProcess, method: str, headers: dict[str, str], status: int
) -> None:
    body = b"{}" if method == "POST" else b""
    answer = http1(region.url, method, headers, body)
    assert answer.status == status
    assert answer.body.startswith(b"<")
    assert "content-type" not in answer.headers
    [h2] = exchange(
        region.url, [([(":method", method), *((k.lower(), v) for k, v in headers.items())], body)]
    )
    assert h2.status == status
    assert h2.body == answer.body
    assert "content-type" not in h2.headers


UNKNOWN_ENVELOPE = (
    b'{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}'
)
SERIALIZATION_ENVELOPE = (
    b'{"Output":{"__type":"com.amazon.coral.service#SerializationException"},"Version":"1.0"}'
)


@pytest.mark.parametrize(
    ("operation", "body", "expected"),
    [
        ("ListStreams", b"{}", UNKNOWN_ENVELOPE),
        ("ListStreams", b"", UNKNOWN_ENVELOPE),
        (None, b"{}", UNKNOWN_ENVELOPE),
        ("ListStreams", b"hello", SERIALIZATION_ENVELOPE),
        ("ListStreams", b'"text"', SERIALIZATION_ENVELOPE),
    ],
    ids=["known-op", "no-body", "no-target", "not-json", "not-an-object"],
)
def test_application_json_gets_the_legacy_envelope(
    region: RegionProcess, operation: str | None, body: bytes, expected: bytes
) -> None:
    headers = kinesis_headers(operation) | {"Content-Type": "application/json"}
    answer = http1(region.url, "POST", headers, body)
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.body == expected


def test_without_credentials_a_foreign_page_gets_no_cors(region: RegionProcess) -> None:
    """Any signature passes without credentials: a page elsewhere must not call in."""
    answer = http1(region.url, "OPTIONS", {**PREFLIGHT, "Origin": FOREIGN_PAGE})
    assert answer.status == 403
    assert b"--allow-origin" in answer.body
    assert "access-control-allow-origin" not in answer.headers
    for opaque in ("null", "file://"):
        assert http1(region.url, "OPTIONS", {"Origin": opaque}).status == 403
    # A request that skipped the preflight is served, but its answer is unreadable
    # to the page: no CORS headers.
    served = http1(region.url, "POST", kinesis_headers("ListStreams", Origin=FOREIGN_PAGE), b"{}")
    assert served.status == 200
    assert "access-control-allow-origin" not in served.headers


def test_allow_origin_grants_a_named_page(fresh_region: Callable[..., RegionProcess]) -> None:
    server = fresh_region("--allow-origin", FOREIGN_PAGE)
    answer = http1(server.url, "OPTIONS", {**PREFLIGHT, "Origin": FOREIGN_PAGE})
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert http1(server.url, "OPTIONS", {"Origin": "https://other.example.com"}).status == 403


def test_with_credentials_every_origin_is_granted_as_on_aws(secure_region: SecureRegion) -> None:
    answer = http1(secure_region.url, "OPTIONS", {**PREFLIGHT, "Origin": FOREIGN_PAGE})
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == "*"
