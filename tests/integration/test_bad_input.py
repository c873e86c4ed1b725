"""Bad input over raw HTTP: every rejection has AWS's status, ``__type`` and message.

The expected answers come from real AWS Kinesis as recorded by kinesalite's
tests (run against live AWS) and by AWS error logs quoted in public issues.

No input here may produce a 500 / ``InternalFailure``: every response goes
through :func:`send`, which checks that, and ``test_server_survives_a_burst``
replays all of these requests at once against a fresh server and then checks that
normal traffic still works.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shardline.testing import RegionProcess, kinesis_client, wait_active

JSON_TYPE = "application/x-amz-json-1.1"
CBOR_TYPE = "application/x-amz-cbor-1.1"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request, "
    "SignedHeaders=host, Signature=abc"
)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MIB = 1024 * 1024
FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")

# -- raw HTTP --------------------------------------------------------------------------------


@dataclass
class Request:
    """One raw request; ``body`` may depend on the test stream's name."""

    target: str | None
    body: bytes | str | Callable[[str], Any] | Any = b""
    method: str = "POST"
    content_type: str | None = JSON_TYPE
    auth: bool = True
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self, stream: str) -> bytes:
        body = self.body(stream) if callable(self.body) else self.body
        if isinstance(body, bytes):
            return body
        if isinstance(body, str):
            return body.encode()
        return json.dumps(body).encode()


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def error_type(self) -> str | None:
        try:
            body = json.loads(self.raw)
        except ValueError:
            return None
        return body.get("__type") if isinstance(body, dict) else None


def send(url: str, request: Request, stream: str = "unused") -> Response:
    """Send ``request`` and check the one thing no bad input may ever cause."""
    host = url.split("//", 1)[1].rstrip("/")
    headers = {"X-Amz-Date": "20260101T000000Z", **request.headers}
    if request.content_type is not None:
        headers["Content-Type"] = request.content_type
    if request.target is not None:
        headers["X-Amz-Target"] = request.target
    if request.auth:
        headers["Authorization"] = AUTH
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request(
            request.method, request.path, body=request.encoded(stream), headers=headers
        )
        reply = connection.getresponse()
        response = Response(reply.status, reply.headers, reply.read())
    finally:
        connection.close()
    assert response.status < 500, (response.status, response.raw[:500])
    assert b"InternalFailure" not in response.raw, response.raw[:500]
    return response


def op(name: str) -> str:
    return f"Kinesis_20131202.{name}"


def assert_json_error(
    response: Response, code: str, message: str | re.Pattern[str] | None, status: int = 400
) -> None:
    """``message=None`` means the body is exactly ``{"__type": code}``."""
    assert response.status == status, (response.status, response.raw[:500])
    assert response.headers["Content-Type"] == JSON_TYPE
    body = response.json
    if message is None:
        assert body == {"__type": code}
        return
    # Coral spells the key with a capital M for SerializationException only.
    key = "Message" if code == "SerializationException" else "message"
    assert set(body) == {"__type", key}, body
    assert body["__type"] == code
    if isinstance(message, re.Pattern):
        assert message.fullmatch(body[key]), body[key]
    else:
        assert body[key] == message


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def url(region: RegionProcess) -> str:
    return region.url


@pytest.fixture(scope="module")
def stream(region: RegionProcess) -> str:
    """One ACTIVE single-shard stream for the requests that need a real target."""
    name = f"bad-{uuid.uuid4().hex[:10]}"
    client = kinesis_client(region.url)
    client.create_stream(StreamName=name, ShardCount=1)
    wait_active(client, name)
    return name


@pytest.fixture(scope="module")
def account(region: RegionProcess, stream: str) -> str:
    arn = kinesis_client(region.url).describe_stream_summary(StreamName=stream)[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    return str(arn.split(":")[4])


# -- 1. the envelope -------------------------------------------------------------------------


def test_empty_body_for_a_known_operation_is_a_serialization_error(url: str) -> None:
    response = send(url, Request(op("ListStreams"), b""))
    assert_json_error(response, "SerializationException", None)


def test_empty_body_for_an_unknown_operation_is_unknown_operation(url: str) -> None:
    response = send(url, Request(op("ListStream"), b""))
    assert_json_error(response, "UnknownOperationException", None)


@pytest.mark.parametrize("body", ['"hello"', "true", "null", "123"], ids=str)
def test_json_that_is_not_an_object_is_a_bare_serialization_error(url: str, body: str) -> None:
    response = send(url, Request(op("ListStreams"), body))
    assert_json_error(response, "SerializationException", None)


@pytest.mark.parametrize("body", ["[]", '[{"StreamName": "x"}]'], ids=["empty", "of-objects"])
def test_json_array_body_is_a_serialization_error(url: str, body: str) -> None:
    response = send(url, Request(op("DescribeStreamSummary"), body))
    assert response.status == 400
    assert response.error_type == "SerializationException"


@pytest.mark.parametrize("body", ["hello", "{bad", '{"StreamName": "x"', "{}}"], ids=str)
def test_malformed_json_is_rejected_as_serialization(url: str, body: str) -> None:
    response = send(url, Request(op("ListStreams"), body))
    assert response.status == 400
    assert response.error_type == "SerializationException"


@pytest.mark.parametrize("body", ["hello", "{bad"], ids=str)
def test_malformed_json_has_no_message(url: str, body: str) -> None:
    response = send(url, Request(op("ListStreams"), body))
    assert_json_error(response, "SerializationException", None)


@pytest.mark.parametrize(
    "target",
    [
        op("ListStream"),
        op(""),
        "Kinesis_20131203.ListStreams",
        "DynamoDB_20120810.ListTables",
        "ListStreams",
        None,
    ],
    ids=["typo", "no-op", "old-version", "other-service", "no-prefix", "missing-header"],
)
def test_unknown_operation(url: str, target: str | None) -> None:
    response = send(url, Request(target, "{}"))
    assert_json_error(response, "UnknownOperationException", None)


def test_unknown_operation_is_reported_before_missing_authentication(url: str) -> None:
    response = send(url, Request(op("Nope"), "{}", auth=False))
    assert_json_error(response, "UnknownOperationException", None)


def test_missing_authorization(url: str) -> None:
    response = send(url, Request(op("ListStreams"), "{}", auth=False))
    assert_json_error(
        response, "MissingAuthenticationTokenException", "Missing Authentication Token"
    )


@pytest.mark.parametrize("body", ["", "hello"], ids=["empty", "non-json"])
def test_unreadable_body_is_reported_before_missing_authentication(url: str, body: str) -> None:
    response = send(url, Request(op("ListStreams"), body, auth=False))
    assert_json_error(response, "SerializationException", None)


def test_presigned_query_string_counts_as_authentication(url: str) -> None:
    query = (
        "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20260101%2Fus-east-1"
        "%2Fkinesis%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=abc"
    )
    response = send(url, Request(op("ListStreams"), "{}", auth=False, path=query))
    assert response.status == 200
    assert "StreamNames" in response.json


def test_content_type_parameters_are_ignored(url: str) -> None:
    response = send(
        url,
        Request(op("ListStreams"), "{}", content_type="application/x-amz-json-1.1; charset=utf-8"),
    )
    assert response.status == 200
    assert "StreamNames" in response.json


@pytest.mark.parametrize("method", ["GET", "PUT", "OPTIONS"])
def test_non_post_without_auth_is_403_missing_token_xml(url: str, method: str) -> None:
    response = send(url, Request(None, b"", method=method, content_type=None, auth=False))
    assert response.status == 403
    assert response.raw == (
        b"<MissingAuthenticationTokenException>\n"
        b"  <Message>Missing Authentication Token</Message>\n"
        b"</MissingAuthenticationTokenException>\n"
    )


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_non_post_with_auth_is_403_access_denied_xml(url: str, method: str) -> None:
    response = send(url, Request(op("ListStreams"), b"", method=method, content_type=None))
    assert response.status == 403
    assert response.raw == (
        b"<AccessDeniedException>\n"
        b"  <Message>Unable to determine service/operation name to be authorized</Message>\n"
        b"</AccessDeniedException>\n"
    )


def test_body_without_content_type_or_target_is_403_access_denied_xml(url: str) -> None:
    response = send(url, Request(None, "{}", content_type=None))
    assert response.status == 403
    assert b"<AccessDeniedException>" in response.raw


def test_body_with_target_but_no_content_type_is_404(url: str) -> None:
    response = send(url, Request(op("ListStreams"), "{}", content_type=None))
    assert response.status == 404
    assert b"UnknownOperationException" in response.raw


def test_body_with_target_but_no_content_type_has_aws_404_body(url: str) -> None:
    response = send(url, Request(op("ListStreams"), "{}", content_type=None))
    assert response.status == 404
    assert response.raw == b"<UnknownOperationException/>\n"


@pytest.mark.parametrize(
    ("target", "code"),
    [(op("ListStreams"), "SerializationException"), (op("Nope"), "UnknownOperationException")],
)
@pytest.mark.parametrize(
    "content_type", [None, "application/x-amz-json-1.0"], ids=["none", "json-1.0"]
)
def test_empty_body_with_unusable_content_type_gets_a_cbor_error(
    url: str, target: str, code: str, content_type: str | None
) -> None:
    import cbor2

    response = send(url, Request(target, b"", content_type=content_type))
    assert response.status == 400
    assert response.headers["Content-Type"] == CBOR_TYPE
    assert cbor2.loads(response.raw) == {"__type": code}


def test_json_errors_carry_a_request_id(url: str) -> None:
    response = send(url, Request(op("DescribeStreamSummary"), {"StreamName": "nope"}))
    assert response.status == 400
    assert UUID.match(response.headers["x-amzn-RequestId"])


def test_xml_errors_carry_a_request_id(url: str) -> None:
    response = send(url, Request(None, b"", method="GET", content_type=None, auth=False))
    assert response.status == 403
    assert UUID.match(response.headers.get("x-amzn-RequestId") or "")


def test_operation_without_output_has_an_empty_body(url: str, stream: str) -> None:
    response = send(url, Request(op("AddTagsToStream"), {"StreamName": stream, "Tags": {"k": "v"}}))
    assert response.status == 200
    assert response.raw == b""


# -- 2. wrong member types -> SerializationException -----------------------------------------

NUMBER_CLASS = (
    r"class (com\.amazon\.coral\.value\.json\.numbers\.TruncatingBigNumber"
    r"|java\.lang\.(Short|Integer|Long|Double))"
)
START_OF_LIST = "Start of list found where not expected"
START_OF_MAP = "Start of structure or map found where not expected."


def _put(stream: str, **members: Any) -> dict[str, Any]:
    return {"StreamName": stream, "Data": "", "PartitionKey": "a", **members}


TYPE_CASES: list[tuple[str, str, Callable[[str], Any], str | re.Pattern[str]]] = [
    # (id, operation, body(stream), Message)
    (
        "int-got-string",
        "CreateStream",
        lambda s: {"StreamName": "x", "ShardCount": "1"},
        "class java.lang.String can not be converted to an Integer",
    ),
    (
        "int-got-bool",
        "CreateStream",
        lambda s: {"StreamName": "x", "ShardCount": True},
        "class java.lang.Boolean can not be converted to an Integer",
    ),
    (
        "int-got-list",
        "CreateStream",
        lambda s: {"StreamName": "x", "ShardCount": []},
        START_OF_LIST,
    ),
    (
        "int-got-object",
        "CreateStream",
        lambda s: {"StreamName": "x", "ShardCount": {}},
        START_OF_MAP,
    ),
    (
        "limit-got-string",
        "GetRecords",
        lambda s: {"ShardIterator": "x", "Limit": "5"},
        "class java.lang.String can not be converted to an Integer",
    ),
    (
        "string-got-small-int",
        "CreateStream",
        lambda s: {"StreamName": 23, "ShardCount": 1},
        re.compile(NUMBER_CLASS + " can not be converted to an String"),
    ),
    (
        "string-got-big-int",
        "CreateStream",
        lambda s: {"StreamName": 2147483648, "ShardCount": 1},
        re.compile(NUMBER_CLASS + " can not be converted to an String"),
    ),
    (
        "string-got-float",
        "CreateStream",
        lambda s: {"StreamName": 34.56, "ShardCount": 1},
        re.compile(NUMBER_CLASS + " can not be converted to an String"),
    ),
    (
        "string-got-bool",
        "CreateStream",
        lambda s: {"StreamName": True, "ShardCount": 1},
        "class java.lang.Boolean can not be converted to an String",
    ),
    ("string-got-list", "PutRecord", lambda s: _put(s, PartitionKey=[]), START_OF_LIST),
    ("string-got-object", "PutRecord", lambda s: _put(s, PartitionKey={}), START_OF_MAP),
    (
        "boolean-got-string",
        "DeleteStream",
        lambda s: {"StreamName": "x", "EnforceConsumerDeletion": "23"},
        "'23' can not be converted to an Boolean",
    ),
    (
        "boolean-got-number",
        "DeleteStream",
        lambda s: {"StreamName": "x", "EnforceConsumerDeletion": 23},
        re.compile(NUMBER_CLASS + " can not be converted to an Boolean"),
    ),
    (
        "list-got-string",
        "PutRecords",
        lambda s: {"StreamName": s, "Records": "23"},
        "Expected list or null",
    ),
    (
        "list-got-number",
        "PutRecords",
        lambda s: {"StreamName": s, "Records": 23},
        "Expected list or null",
    ),
    (
        "list-got-bool",
        "PutRecords",
        lambda s: {"StreamName": s, "Records": True},
        "Expected list or null",
    ),
    (
        "structure-got-number",
        "PutRecords",
        lambda s: {"StreamName": s, "Records": [1]},
        "Expected null",
    ),
    (
        "structure-got-string",
        "ListShards",
        lambda s: {"StreamName": s, "ShardFilter": "x"},
        "Expected null",
    ),
    (
        "map-got-string",
        "AddTagsToStream",
        lambda s: {"StreamName": s, "Tags": "x"},
        "Expected map or null",
    ),
    (
        "map-value-got-number",
        "AddTagsToStream",
        lambda s: {"StreamName": s, "Tags": {"a": 1}},
        re.compile(NUMBER_CLASS + " can not be converted to an String"),
    ),
    (
        "blob-got-bool",
        "PutRecord",
        lambda s: _put(s, Data=True),
        "class java.lang.Boolean can not be converted to a Blob",
    ),
    (
        "blob-got-number",
        "PutRecord",
        lambda s: _put(s, Data=23),
        re.compile(NUMBER_CLASS + " can not be converted to a Blob"),
    ),
    ("blob-got-list", "PutRecord", lambda s: _put(s, Data=[]), START_OF_LIST),
    ("blob-got-object", "PutRecord", lambda s: _put(s, Data={}), START_OF_MAP),
    (
        "base64-bad-length",
        "PutRecord",
        lambda s: _put(s, Data="23456"),
        "'23456' can not be converted to a Blob: Base64 encoded length is expected a multiple "
        "of 4 bytes but found: 5",
    ),
    (
        "base64-bad-char",
        "PutRecord",
        lambda s: _put(s, Data="=+/="),
        "'=+/=' can not be converted to a Blob: Invalid Base64 character: '='",
    ),
    (
        "base64-bang",
        "PutRecord",
        lambda s: _put(s, Data="ab!d"),
        "'ab!d' can not be converted to a Blob: Invalid Base64 character: '!'",
    ),
    (
        "batch-base64-bad-length",
        "PutRecords",
        lambda s: {"StreamName": s, "Records": [{"Data": "abc", "PartitionKey": "a"}]},
        "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple "
        "of 4 bytes but found: 3",
    ),
    (
        "timestamp-got-string",
        "GetShardIterator",
        lambda s: {
            "StreamName": s,
            "ShardId": "shardId-000000000000",
            "ShardIteratorType": "AT_TIMESTAMP",
            "Timestamp": "abc",
        },
        "class java.lang.String can not be converted to milliseconds since epoch",
    ),
    (
        "timestamp-got-bool",
        "GetShardIterator",
        lambda s: {
            "StreamName": s,
            "ShardId": "shardId-000000000000",
            "ShardIteratorType": "AT_TIMESTAMP",
            "Timestamp": True,
        },
        "class java.lang.Boolean can not be converted to milliseconds since epoch",
    ),
]

TYPE_CASES_DIVERGING = [
    pytest.param(
        "list-got-object",
        "PutRecords",
        lambda s: {"StreamName": s, "Records": {}},
        START_OF_MAP,
        id="list-got-object",
    ),
    pytest.param(
        "map-got-list",
        "AddTagsToStream",
        lambda s: {"StreamName": s, "Tags": []},
        START_OF_LIST,
        id="map-got-list",
    ),
    pytest.param(
        "structure-got-list",
        "ListShards",
        lambda s: {"StreamName": s, "ShardFilter": []},
        START_OF_LIST,
        id="structure-got-list",
    ),
    pytest.param(
        "record-got-list",
        "PutRecords",
        lambda s: {"StreamName": s, "Records": [[]]},
        START_OF_LIST,
        id="record-got-list",
    ),
    pytest.param(
        "base64-bad-last-char",
        "PutRecord",
        lambda s: _put(s, Data="+/+="),
        "'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected",
        id="base64-bad-last-char",
    ),
]


@pytest.mark.parametrize(
    ("case_id", "operation", "body", "message"),
    [pytest.param(*case, id=case[0]) for case in TYPE_CASES] + TYPE_CASES_DIVERGING,
)
def test_wrong_member_type(
    url: str,
    stream: str,
    case_id: str,
    operation: str,
    body: Callable[[str], Any],
    message: str | re.Pattern[str],
) -> None:
    response = send(url, Request(op(operation), body), stream)
    assert_json_error(response, "SerializationException", message)


def test_wrong_type_through_boto3_without_client_validation(region: RegionProcess) -> None:
    client = kinesis_client(region.url, parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        client.create_stream(StreamName="typed", ShardCount="1")
    error = exc.value.response["Error"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "SerializationException"
    assert error["Message"] == "class java.lang.String can not be converted to an Integer"


def test_unknown_members_are_ignored_and_null_means_absent(url: str, stream: str) -> None:
    response = send(
        url,
        Request(
            op("DescribeStreamSummary"),
            {"StreamName": stream, "NoSuchMember": [1, {"x": None}], "StreamARN": None},
        ),
    )
    assert response.status == 200
    assert response.json["StreamDescriptionSummary"]["StreamName"] == stream


# -- 3. constraint violations -> ValidationException -----------------------------------------

VIOLATION = re.compile(
    r"Value (?:null|'(?P<value>.*)') at '(?P<path>[^']+)' failed to satisfy constraint: "
    r"(?P<constraint>.+)",
    re.DOTALL,
)


def violations(message: str) -> list[str]:
    """Split a ValidationException message, checking its 'N validation error(s)' prefix."""
    match = re.fullmatch(r"(\d+) validation (errors?) detected: (.+)", message, re.DOTALL)
    assert match, message
    count = int(match.group(1))
    items = match.group(3).split("; ")
    assert len(items) == count, (count, items)
    assert match.group(2) == ("error" if count == 1 else "errors")
    for item in items:
        assert VIOLATION.fullmatch(item), item
    return items


def v(value: str | None, path: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


PATTERN_NAME = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
NOT_NULL = "Member must not be null"


def ge(n: int) -> str:
    return f"Member must have length greater than or equal to {n}"


def le(n: int) -> str:
    return f"Member must have length less than or equal to {n}"


VALIDATION_CASES: list[tuple[str, str, Callable[[str], Any], list[str]]] = [
    # (id, operation, body(stream), the set of violations; order between members is not
    # specified by AWS, order within one member is: pattern, then min, then max)
    (
        "empty-name-zero-shards",
        "CreateStream",
        lambda s: {"StreamName": "", "ShardCount": 0},
        [
            v("", "streamName", PATTERN_NAME),
            v("", "streamName", ge(1)),
            v("0", "shardCount", "Member must have value greater than or equal to 1"),
        ],
    ),
    (
        "long-name",
        "CreateStream",
        lambda s: {"StreamName": "a" * 129, "ShardCount": 1},
        [v("a" * 129, "streamName", le(128))],
    ),
    (
        "bad-name-chars",
        "CreateStream",
        lambda s: {"StreamName": "no spaces!", "ShardCount": 1},
        [v("no spaces!", "streamName", PATTERN_NAME)],
    ),
    (
        "missing-stream-name",
        "CreateStream",
        lambda s: {"ShardCount": 1},
        [v(None, "streamName", NOT_NULL)],
    ),
    (
        "missing-data",
        "PutRecord",
        lambda s: {"StreamName": s, "PartitionKey": "a"},
        [v(None, "data", NOT_NULL)],
    ),
    (
        "empty-partition-key",
        "PutRecord",
        lambda s: _put(s, PartitionKey=""),
        [v("", "partitionKey", ge(1))],
    ),
    (
        "long-partition-key",
        "PutRecord",
        lambda s: _put(s, PartitionKey="k" * 257),
        [v("k" * 257, "partitionKey", le(256))],
    ),
    (
        "missing-iterator-members",
        "GetShardIterator",
        lambda s: {"StreamName": s},
        [v(None, "shardId", NOT_NULL), v(None, "shardIteratorType", NOT_NULL)],
    ),
    (
        "limit-too-small",
        "GetRecords",
        lambda s: {"ShardIterator": "x", "Limit": 0},
        [v("0", "limit", "Member must have value greater than or equal to 1")],
    ),
    (
        "limit-and-iterator",
        "GetRecords",
        lambda s: {"ShardIterator": "", "Limit": 10001},
        [
            v("", "shardIterator", ge(1)),
            v("10001", "limit", "Member must have value less than or equal to 10000"),
        ],
    ),
    (
        "iterator-too-long",
        "GetRecords",
        lambda s: {"ShardIterator": "A" * 513},
        [v("A" * 513, "shardIterator", le(512))],
    ),
    (
        "list-streams-limit",
        "ListStreams",
        lambda s: {"Limit": 0, "ExclusiveStartStreamName": ""},
        [
            v("0", "limit", "Member must have value greater than or equal to 1"),
            v("", "exclusiveStartStreamName", PATTERN_NAME),
            v("", "exclusiveStartStreamName", ge(1)),
        ],
    ),
    (
        "empty-records",
        "PutRecords",
        lambda s: {"StreamName": s, "Records": []},
        [v("[]", "records", ge(1))],
    ),
    (
        "record-partition-key",
        "PutRecords",
        lambda s: {
            "StreamName": s,
            "Records": [{"Data": "", "PartitionKey": "ok"}, {"Data": "", "PartitionKey": ""}],
        },
        [v("", "records.2.member.partitionKey", ge(1))],
    ),
    (
        "null-record",
        "PutRecords",
        lambda s: {"StreamName": s, "Records": [None]},
        [v(None, "records.1.member", NOT_NULL)],
    ),
    (
        "empty-tags",
        "AddTagsToStream",
        lambda s: {"StreamName": s, "Tags": {}},
        [v("{}", "tags", ge(1))],
    ),
    (
        "scaling-enum",
        "UpdateShardCount",
        lambda s: {"StreamName": s, "TargetShardCount": 0, "ScalingType": "X"},
        [
            v("0", "targetShardCount", "Member must have value greater than or equal to 1"),
            v("X", "scalingType", "Member must satisfy enum value set: [UNIFORM_SCALING]"),
        ],
    ),
    (
        "nested-enum",
        "CreateStream",
        lambda s: {"StreamName": "x", "ShardCount": 1, "StreamModeDetails": {"StreamMode": "X"}},
        [
            v(
                "X",
                "streamModeDetails.streamMode",
                "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]",
            )
        ],
    ),
    (
        "nested-required",
        "ListShards",
        lambda s: {"StreamName": s, "ShardFilter": {}},
        [v(None, "shardFilter.type", NOT_NULL)],
    ),
    (
        "bad-arn",
        "DescribeStreamSummary",
        lambda s: {"StreamARN": "foo"},
        [
            v(
                "foo",
                "streamARN",
                "Member must satisfy regular expression pattern: "
                r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+",
            )
        ],
    ),
]

_ENUM_ORDER = "[AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
VALIDATION_CASES_DIVERGING = [
    pytest.param(
        "iterator-type-enum",
        "GetShardIterator",
        lambda s: {"StreamName": s, "ShardId": "shardId-000000000000", "ShardIteratorType": ""},
        [v("", "shardIteratorType", f"Member must satisfy enum value set: {_ENUM_ORDER}")],
        id="iterator-type-enum",
    ),
    pytest.param(
        "tag-key-list-item",
        "RemoveTagsFromStream",
        lambda s: {"StreamName": s, "TagKeys": ["a", "k" * 129, "b"]},
        [
            v(
                f"[a, {'k' * 129}, b]",
                "tagKeys",
                "Member must satisfy constraint: [Member must have length less than or equal to "
                "128, Member must have length greater than or equal to 1]",
            )
        ],
        id="tag-key-list-item",
    ),
    pytest.param(
        "tag-map-key",
        "AddTagsToStream",
        lambda s: {"StreamName": s, "Tags": {"k" * 129: "v"}},
        [
            v(
                f"{{{'k' * 129}=v}}",
                "tags",
                "Map keys must satisfy constraint: [Member must have length less than or equal to "
                "128, Member must have length greater than or equal to 1]",
            )
        ],
        id="tag-map-key",
    ),
]


@pytest.mark.parametrize(
    ("case_id", "operation", "body", "expected"),
    [pytest.param(*case, id=case[0]) for case in VALIDATION_CASES] + VALIDATION_CASES_DIVERGING,
)
def test_constraint_violation(
    url: str,
    stream: str,
    case_id: str,
    operation: str,
    body: Callable[[str], Any],
    expected: list[str],
) -> None:
    response = send(url, Request(op(operation), body), stream)
    assert response.status == 400
    assert response.error_type == "ValidationException"
    assert set(response.json) == {"__type", "message"}
    items = violations(response.json["message"])
    assert sorted(items) == sorted(expected)
    # Within one member AWS's order is fixed: pattern before min length before max length.
    for path in {VIOLATION.fullmatch(e).group("path") for e in expected}:  # type: ignore[union-attr]
        mine = [i for i in items if f" at '{path}' " in i]
        assert mine == [e for e in expected if f" at '{path}' " in e]


def test_single_violation_exact_message(url: str) -> None:
    response = send(url, Request(op("CreateStream"), {"StreamName": "", "ShardCount": 1}))
    assert_json_error(
        response,
        "ValidationException",
        "2 validation errors detected: "
        "Value '' at 'streamName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value '' at 'streamName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )
    response = send(url, Request(op("GetRecords"), {"ShardIterator": "x", "Limit": 0}))
    assert_json_error(
        response,
        "ValidationException",
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    )


def _501(stream_name: str) -> dict[str, Any]:
    return {"StreamName": stream_name, "Records": [{"PartitionKey": "", "Data": ""}] * 501}


def test_501_records_are_capped_at_ten_errors(url: str) -> None:
    response = send(url, Request(op("PutRecords"), _501("")))
    assert response.status == 400
    assert response.error_type == "ValidationException"
    message = response.json["message"]
    assert message.startswith("10 validation errors detected: ")
    items = violations(message)
    paths = [VIOLATION.fullmatch(i).group("path") for i in items]  # type: ignore[union-attr]
    assert "records" in paths
    records_error = items[paths.index("records")]
    assert records_error.endswith("failed to satisfy constraint: " + le(500))
    allowed = {"records", "streamName"} | {
        f"records.{n}.member.partitionKey" for n in range(1, 502)
    }
    assert set(paths) <= allowed
    assert len(set(items)) == 10


def test_501_records_through_boto3_without_client_validation(
    region: RegionProcess, stream: str
) -> None:
    client = kinesis_client(region.url, parameter_validation=False)
    records = [{"Data": b"x", "PartitionKey": "k"} for _ in range(501)]
    with pytest.raises(ClientError) as exc:
        client.put_records(StreamName=stream, Records=records)
    error = exc.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("1 validation error detected: Value '[")
    assert error["Message"].endswith(
        "]' at 'records' failed to satisfy constraint: "
        "Member must have length less than or equal to 500"
    )


def test_501_records_value_is_rendered_like_java(url: str) -> None:
    response = send(url, Request(op("PutRecords"), _501("")))
    items = violations(response.json["message"])
    entry = r"com\.amazonaws\.kinesis\.v20131202\.PutRecordsRequestEntry@[0-9a-f]+"
    match = VIOLATION.fullmatch(items[0])
    assert match and match.group("path") == "records"
    assert re.fullmatch(rf"\[(?:{entry}, ){{500}}{entry}\]", match.group("value"))


def test_null_stream_name_through_boto3_is_not_a_crash(region: RegionProcess) -> None:
    client = kinesis_client(region.url, parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        client.put_record(StreamName="", Data=b"x", PartitionKey="")
    error = exc.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert sorted(violations(error["Message"])) == sorted(
        [
            v("", "streamName", PATTERN_NAME),
            v("", "streamName", ge(1)),
            v("", "partitionKey", ge(1)),
        ]
    )


# -- 4. semantic errors: ResourceNotFound, InvalidArgument -----------------------------------


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("DescribeStreamSummary", {}),
        ("DescribeStream", {}),
        ("DeleteStream", {}),
        ("ListShards", {}),
        ("PutRecord", {"Data": "", "PartitionKey": "a"}),
        ("PutRecords", {"Records": [{"Data": "", "PartitionKey": "a"}]}),
        ("AddTagsToStream", {"Tags": {"a": "b"}}),
        ("IncreaseStreamRetentionPeriod", {"RetentionPeriodHours": 48}),
    ],
    ids=lambda x: x if isinstance(x, str) else "body",
)
def test_missing_stream(
    url: str,
    account: str,
    operation: str,
    body: dict[str, Any]
    | dict[str, dict[str, str]]
    | dict[str, int]
    | dict[str, list[dict[str, str]]]
    | dict[str, str],
) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    response = send(url, Request(op(operation), {"StreamName": name, **body}))
    assert_json_error(
        response, "ResourceNotFoundException", f"Stream {name} under account {account} not found."
    )


def test_missing_stream_in_get_shard_iterator_names_the_shard(url: str, account: str) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    body = {"StreamName": name, "ShardId": "shardId-000000000000", "ShardIteratorType": "LATEST"}
    response = send(url, Request(op("GetShardIterator"), body))
    assert_json_error(
        response,
        "ResourceNotFoundException",
        f"Shard shardId-000000000000 in stream {name} under account {account} does not exist",
    )


def test_missing_shard(url: str, stream: str, account: str) -> None:
    body = {"StreamName": stream, "ShardId": "shardId-5", "ShardIteratorType": "LATEST"}
    response = send(url, Request(op("GetShardIterator"), body))
    assert_json_error(
        response,
        "ResourceNotFoundException",
        f"Shard shardId-000000000005 in stream {stream} under account {account} does not exist",
    )


@pytest.mark.parametrize("shard_id", ["ABKLFD8", "2147483648", "shardId-002147483648"])
def test_unparseable_shard_id(url: str, stream: str, account: str, shard_id: str) -> None:
    body = {"StreamName": stream, "ShardId": shard_id, "ShardIteratorType": "LATEST"}
    response = send(url, Request(op("GetShardIterator"), body))
    assert_json_error(
        response,
        "ResourceNotFoundException",
        f"Could not find shard {shard_id} in stream {stream} under account {account}.",
    )


def test_records_of_a_deleted_stream(region: RegionProcess, url: str, account: str) -> None:
    client = kinesis_client(region.url)
    name = f"gone-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=1)
    wait_active(client, name)
    iterator = client.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    client.delete_stream(StreamName=name)
    response = send(url, Request(op("GetRecords"), {"ShardIterator": iterator}))
    assert_json_error(
        response,
        "ResourceNotFoundException",
        f"Shard shardId-000000000000 in stream {name} under account {account} does not exist",
    )


def _valid_iterator(region: RegionProcess, stream: str) -> str:
    return str(
        kinesis_client(region.url).get_shard_iterator(
            StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="LATEST"
        )["ShardIterator"]
    )


def _flip(text: str, index: int) -> str:
    char = "A" if text[index] != "A" else "B"
    return text[:index] + char + text[index + 1 :]


@pytest.mark.parametrize(
    "make",
    [
        lambda it: "garbage",
        lambda it: "A",
        lambda it: "x" * 512,
        lambda it: base64.b64encode(bytes(range(200))).decode()[:300],
        lambda it: "!@#$%^&*()",
        lambda it: _flip(it, len(it) // 2),
        lambda it: _flip(it, 0),
        lambda it: it[:-4],
        lambda it: it + "AAAA",
    ],
    ids=[
        "word",
        "one-char",
        "512-x",
        "random-base64",
        "symbols",
        "tampered-middle",
        "tampered-start",
        "truncated",
        "extended",
    ],
)
def test_garbage_shard_iterator_is_invalid_argument(
    region: RegionProcess, url: str, stream: str, make: Callable[[str], str]
) -> None:
    response = send(
        url, Request(op("GetRecords"), {"ShardIterator": make(_valid_iterator(region, stream))})
    )
    assert_json_error(response, "InvalidArgumentException", "Invalid ShardIterator.")


def test_garbage_iterator_through_boto3(region: RegionProcess) -> None:
    client = kinesis_client(region.url)
    with pytest.raises(ClientError) as exc:
        client.get_records(ShardIterator="not-an-iterator")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert exc.value.response["Error"] == {
        "Code": "InvalidArgumentException",
        "Message": "Invalid ShardIterator.",
    }


def test_iterator_in_double_quotes_is_accepted(
    region: RegionProcess, url: str, stream: str
) -> None:
    iterator = _valid_iterator(region, stream)
    response = send(url, Request(op("GetRecords"), {"ShardIterator": f'"{iterator}"'}))
    assert response.status == 200
    assert response.json["Records"] == []


EHK_MESSAGE = (
    "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
    "Specified value was {}"
)


@pytest.mark.parametrize("value", [2**128, 2**128 + 12345, 10**38 * 9])
def test_explicit_hash_key_out_of_range(url: str, stream: str, value: int) -> None:
    response = send(url, Request(op("PutRecord"), _put(stream, ExplicitHashKey=str(value))))
    assert_json_error(response, "InvalidArgumentException", EHK_MESSAGE.format(value))


def test_explicit_hash_key_out_of_range_fails_the_whole_batch(
    region: RegionProcess, url: str, stream: str
) -> None:
    before = _count_records(region, stream)
    records = [
        {"Data": "", "PartitionKey": "a"},
        {"Data": "", "PartitionKey": "a", "ExplicitHashKey": str(2**128)},
    ]
    response = send(url, Request(op("PutRecords"), {"StreamName": stream, "Records": records}))
    assert_json_error(response, "InvalidArgumentException", EHK_MESSAGE.format(2**128))
    assert _count_records(region, stream) == before


def test_largest_explicit_hash_key_is_accepted(url: str, stream: str) -> None:
    response = send(url, Request(op("PutRecord"), _put(stream, ExplicitHashKey=str(2**128 - 1))))
    assert response.status == 200
    assert response.json["ShardId"] == "shardId-000000000000"


def _count_records(region: RegionProcess, stream: str) -> int:
    from shardline.testing import read_shard

    return len(read_shard(kinesis_client(region.url), stream, "shardId-000000000000"))


# -- 5. record size -------------------------------------------------------------------------

OVERSIZED = base64.b64encode(b"x" * (MIB + 1)).decode()


def test_record_over_one_mib_is_rejected(region: RegionProcess, url: str, stream: str) -> None:
    before = _count_records(region, stream)
    response = send(url, Request(op("PutRecord"), _put(stream, Data=OVERSIZED)))
    assert response.status == 400
    assert response.error_type == "ValidationException"
    records = [{"Data": "", "PartitionKey": "a"}, {"Data": OVERSIZED, "PartitionKey": "a"}]
    response = send(url, Request(op("PutRecords"), {"StreamName": stream, "Records": records}))
    assert response.status == 400
    assert response.error_type == "ValidationException"
    assert _count_records(region, stream) == before


def test_record_of_exactly_one_mib_with_its_key_is_accepted(url: str, stream: str) -> None:
    data = base64.b64encode(b"y" * (MIB - 1)).decode()
    response = send(url, Request(op("PutRecord"), _put(stream, Data=data, PartitionKey="a")))
    assert response.status == 200, response.raw[:300]


def test_oversized_record_message_in_put_records(url: str, stream: str) -> None:
    records = [{"Data": "", "PartitionKey": "a"}, {"Data": OVERSIZED, "PartitionKey": "a"}]
    response = send(url, Request(op("PutRecords"), {"StreamName": stream, "Records": records}))
    assert_json_error(
        response,
        "ValidationException",
        "1 validation error detected: Value at 'records.2.member.data' failed to satisfy "
        "constraint: Member must have length less than or equal to 1048576.",
    )


def test_oversized_record_message_in_put_record(url: str, stream: str) -> None:
    response = send(url, Request(op("PutRecord"), _put(stream, Data=OVERSIZED)))
    assert_json_error(
        response,
        "ValidationException",
        "1 validation error detected: Value at 'data' failed to satisfy "
        "constraint: Member must have length less than or equal to 1048576.",
    )


def test_put_records_takes_up_to_ten_mib_in_one_request(
    region: RegionProcess, url: str, stream: str
) -> None:
    before = _count_records(region, stream)
    data = base64.b64encode(b"z" * (MIB - 1)).decode()
    six = [{"Data": data, "PartitionKey": "a"} for _ in range(6)]
    response = send(url, Request(op("PutRecords"), {"StreamName": stream, "Records": six}))
    assert response.status == 200, response.raw[:300]
    assert response.json["FailedRecordCount"] == 0
    assert _count_records(region, stream) == before + 6


def test_put_records_over_ten_mib_is_refused_whole(
    region: RegionProcess, url: str, stream: str
) -> None:
    before = _count_records(region, stream)
    data = base64.b64encode(b"z" * (MIB - 1)).decode()
    eleven = [{"Data": data, "PartitionKey": "a"} for _ in range(11)]
    response = send(url, Request(op("PutRecords"), {"StreamName": stream, "Records": eleven}))
    assert_json_error(response, "InvalidArgumentException", "Records size exceeds 10 MB limit")
    assert _count_records(region, stream) == before


def test_a_ten_mib_record_fills_one_put_records_request(region: RegionProcess, url: str) -> None:
    client = kinesis_client(region.url)
    name = f"large-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=1, MaxRecordSizeInKiB=10240)
    wait_active(client, name)
    data = base64.b64encode(b"L" * (10 * MIB - 1)).decode()  # with its 1-byte key: 10 MiB
    records = [{"Data": data, "PartitionKey": "a"}]
    response = send(url, Request(op("PutRecords"), {"StreamName": name, "Records": records}))
    assert response.status == 200, response.raw[:300]
    assert response.json["FailedRecordCount"] == 0
    records.append({"Data": "", "PartitionKey": "b"})
    response = send(url, Request(op("PutRecords"), {"StreamName": name, "Records": records}))
    assert_json_error(response, "InvalidArgumentException", "Records size exceeds 10 MB limit")
    assert _count_records(region, name) == 1


ISSUED_ELSEWHERE = "49590338271490256608559692538361571095921575989136588898"


@pytest.mark.parametrize("ordering", ["0", "1", ISSUED_ELSEWHERE, "9" * 129])
def test_any_well_formed_sequence_number_for_ordering_is_accepted(
    url: str, stream: str, ordering: str
) -> None:
    response = send(url, Request(op("PutRecord"), _put(stream, SequenceNumberForOrdering=ordering)))
    assert response.status == 200, response.raw[:300]
    assert response.json["ShardId"] == "shardId-000000000000"


def test_unencrypted_puts_report_no_encryption_type(url: str, stream: str) -> None:
    single = send(url, Request(op("PutRecord"), _put(stream)))
    assert set(single.json) == {"ShardId", "SequenceNumber"}
    batch = send(
        url,
        Request(
            op("PutRecords"), {"StreamName": stream, "Records": [{"Data": "", "PartitionKey": "a"}]}
        ),
    )
    assert set(batch.json) == {"FailedRecordCount", "Records"}


def test_equal_entries_render_alike_in_messages(url: str) -> None:
    entries = [{"PartitionKey": "a", "Data": ""}] * 300 + [{"PartitionKey": "b", "Data": ""}] * 201
    response = send(url, Request(op("PutRecords"), {"StreamName": "x", "Records": entries}))
    match = VIOLATION.fullmatch(violations(response.json["message"])[0])
    assert match and match.group("path") == "records"
    rendered = match.group("value")[1:-1].split(", ")
    assert len(rendered) == 501
    assert len(set(rendered[:300])) == 1
    assert len(set(rendered[300:])) == 1
    assert rendered[0] != rendered[-1]


def test_an_expired_iterator_names_its_times_as_java_does(
    fresh_region: Callable[..., RegionProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from shardline.storage import iterators

    server = fresh_region(*FAST)
    client = kinesis_client(server.url)
    client.create_stream(StreamName="old", ShardCount=1)
    wait_active(client, "old")
    created = client.describe_stream_summary(StreamName="old")["StreamDescriptionSummary"][
        "StreamCreationTimestamp"
    ]
    with sqlite3.connect(server.data_dir / "shardline.db") as db:
        (secret,) = db.execute("SELECT value FROM meta WHERE key='token_secret'").fetchone()
    # An iterator as the server itself would have issued it six minutes ago.
    issued_ms = int(time.time() * 1000) - 360_000
    monkeypatch.setattr(iterators, "now_ms", lambda: issued_ms)
    token = iterators.TokenSigner(secret).iterator("old", int(created.timestamp() * 1000), 0, 0)
    with pytest.raises(ClientError) as exc:
        client.get_records(ShardIterator=token)
    error = exc.value.response["Error"]
    assert error["Code"] == "ExpiredIteratorException"
    issued = dt.datetime.fromtimestamp(issued_ms / 1000, dt.UTC)
    java = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}"
    assert re.fullmatch(
        "Iterator expired. The iterator was created at time "
        + re.escape(issued.strftime("%a %b %d %H:%M:%S UTC %Y"))
        + f" while right now it is {java} which is further in the future than the "
        "tolerated delay of 300000 milliseconds.",
        error["Message"],
    ), error["Message"]


# -- 6. a burst of all of the above, then normal service -------------------------------------


def _burst_requests() -> list[Request]:
    requests = [
        Request(op("ListStreams"), b""),
        Request(op("ListStream"), b""),
        Request(op("ListStreams"), "hello"),
        Request(op("ListStreams"), "{bad"),
        Request(op("ListStreams"), "[]"),
        Request(op("ListStreams"), '"x"'),
        Request(op("ListStreams"), "null"),
        Request(op("ListStreams"), b"\xff\xfe\x00garbage"),
        Request(op("ListStreams"), "hello", auth=False),
        Request(op("Nope"), "{}"),
        Request(None, "{}"),
        Request(op("ListStreams"), "{}", auth=False),
        Request(None, b"", method="GET", content_type=None, auth=False),
        Request(op("ListStreams"), b"", method="PUT", content_type=None),
        Request(op("ListStreams"), "{}", content_type=None),
        Request(op("ListStreams"), b"", content_type=None),
        Request(op("ListStreams"), b"\xff\xff", content_type=CBOR_TYPE),
        Request(op("ListStreams"), b"\xbf", content_type=CBOR_TYPE),
        Request(op("PutRecords"), _501("")),
        Request(op("PutRecord"), lambda s: _put(s, Data=OVERSIZED)),
        Request(op("PutRecord"), lambda s: _put(s, ExplicitHashKey=str(2**128))),
        Request(op("GetRecords"), {"ShardIterator": "garbage"}),
        Request(op("GetRecords"), {"ShardIterator": "A" * 600}),
        Request(op("PutRecords"), {"StreamName": "x", "Records": [[[[[[[[[[[]]]]]]]]]]]}),
        Request(op("PutRecords"), "{" * 5000 + "}" * 5000),
        Request(op("PutRecord"), '{"StreamName": "x", "Data": "", "PartitionKey": "\\ud800"}'),
        Request(op("ListShards"), '{"StreamName": "x", "MaxResults": 1e400}'),
        Request(op("ListShards"), {"StreamName": "x", "MaxResults": 10**40}),
        Request(op("DescribeStreamSummary"), {"StreamName": "nope"}),
    ]
    requests += [Request(op(operation), body) for _, operation, body, _ in TYPE_CASES]
    requests += [Request(op(operation), body) for _, operation, body, _ in VALIDATION_CASES]
    return requests


def _diverging_requests() -> list[Request]:
    """Requests Shardline currently answers unlike AWS (one of them with a 200)."""
    return [
        Request(op(param.values[1]), param.values[2])  # type: ignore[arg-type]
        for param in TYPE_CASES_DIVERGING + VALIDATION_CASES_DIVERGING
    ]


def test_server_survives_a_burst_of_bad_requests(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    server = fresh_region(*FAST)
    client = kinesis_client(server.url)
    name = f"burst-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=2)
    wait_active(client, name)

    bad = _burst_requests() * 3
    requests = bad + _diverging_requests() * 3
    with ThreadPoolExecutor(max_workers=16) as pool:
        # send() itself fails on any 5xx or InternalFailure.
        responses = list(pool.map(lambda r: send(server.url, r, name), requests))
    assert len(responses) == len(requests)
    rejected = responses[: len(bad)]
    assert all(400 <= r.status < 500 for r in rejected), [
        (r.status, r.raw[:100]) for r in rejected if not 400 <= r.status < 500
    ]

    # Normal service, on the same server, right after: the stream the burst aimed at still
    # serves reads, and a stream created now takes writes and returns them in order.
    assert client.list_shards(StreamName=name)["Shards"][0]["ShardId"] == "shardId-000000000000"
    name = f"after-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=2)
    wait_active(client, name)
    sent = [f"after-burst-{i}".encode() for i in range(20)]
    client.put_records(
        StreamName=name, Records=[{"Data": d, "PartitionKey": "same-key"} for d in sent]
    )
    shard = client.put_record(StreamName=name, Data=b"last", PartitionKey="same-key")["ShardId"]
    iterator = client.get_shard_iterator(
        StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    got = client.get_records(ShardIterator=iterator)["Records"]
    assert [r["Data"] for r in got] == [*sent, b"last"]
    assert name in client.list_streams()["StreamNames"]

    log = "".join(server.output)
    assert "Traceback" not in log
    assert "internal failure" not in log.lower()
