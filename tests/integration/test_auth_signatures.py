"""A region started with --credentials verifies every signature, as AWS does.

Real clients against a real ``shardline serve --credentials``: boto3, the AWS CLI,
raw HTTP/1.1 with hand-built bad signatures, CBOR, a bare HTTP/2 client, presigned
URLs, and SubscribeToShard on both protocols.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit

import cbor2
import pytest
from auth_helpers import active_consumer, raw_http
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.utils import percent_encode_sequence
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, ResponseReceived, StreamEnded

from shardline.credentials import StaticCredentials
from shardline.testing import kinesis_client, wait_active

TARGET = "Kinesis_20131202."
JSON = "application/x-amz-json-1.1"
CBOR = "application/x-amz-cbor-1.1"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    return response["Error"]["Code"], response["Error"]["Message"], status


def list_streams_refused(client: Any) -> tuple[str, str, int]:
    """The error a boto3 client's ListStreams gets (code, message, HTTP status)."""
    with pytest.raises(ClientError) as exc:
        client.list_streams()
    return error_of(exc)


def signed_request(
    url: str,
    key: StaticCredentials,
    operation: str,
    body: bytes,
    content_type: str = JSON,
    region: str = "us-east-1",
) -> AWSRequest:
    request = AWSRequest(
        "POST",
        url + "/",
        data=body,
        headers={"Content-Type": content_type, "X-Amz-Target": TARGET + operation},
    )
    credentials = Credentials(key.access_key_id, key.secret_access_key)
    SigV4Auth(credentials, "kinesis", region).add_auth(request)
    return request


def send_signed(request: AWSRequest, body: bytes | None = None) -> tuple[int, Any]:
    """Send a botocore-signed request as it is (or with another ``body``); JSON answer."""
    parts = urlsplit(request.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    data = request.body if body is None else body
    status, raw = raw_http(
        f"http://{parts.netloc}", "POST", target, dict(request.headers.items()), data
    )
    return status, json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def stream(secure_region: Any) -> str:
    name = f"sig-{uuid.uuid4().hex[:8]}"
    kinesis = secure_region.client(secure_region.owner)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    wait_active(kinesis, name)
    return name


# -- boto3 ---------------------------------------------------------------------------------


def test_boto3_with_a_listed_key_works_end_to_end(secure_region, stream):
    kinesis = secure_region.client(secure_region.owner)
    kinesis.put_record(StreamName=stream, Data=b"signed", PartitionKey="k")
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert b"signed" in [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]]


def test_a_wrong_secret_is_an_invalid_signature(secure_region):
    wrong = StaticCredentials(secure_region.owner.credentials.access_key_id, "x" * 40)
    code, message, status = list_streams_refused(kinesis_client(secure_region.url, wrong))
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith(SIGNATURE_MISMATCH + "\n\nThe Canonical String for this request")


def test_an_unknown_key_is_an_unrecognized_client(secure_region):
    kinesis = kinesis_client(secure_region.url, StaticCredentials("AKSLNOSUCHKEY0000000", "x" * 40))
    assert list_streams_refused(kinesis) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        400,
    )


def test_a_credential_scoped_to_another_region_is_refused_as_aws_does(secure_region):
    # issue 17: once signatures are verified, the scope's region must be this region's
    kinesis = kinesis_client(secure_region.url, secure_region.owner.credentials, "eu-west-1")
    assert list_streams_refused(kinesis) == (
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'eu-west-1'. ",
        400,
    )


def test_subscribe_to_shard_over_http1_is_verified_too(secure_region, stream):
    kinesis = secure_region.client(secure_region.owner)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    consumer_arn = active_consumer(kinesis, arn, "sub-h1")
    kinesis.put_record(StreamName=stream, Data=b"pushed", PartitionKey="k")
    events = kinesis.subscribe_to_shard(
        ConsumerARN=consumer_arn,
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "TRIM_HORIZON"},
    )["EventStream"]
    seen: list[bytes] = []
    for event in events:
        seen += [r["Data"] for r in event["SubscribeToShardEvent"]["Records"]]
        if b"pushed" in seen:
            break
    events.close()
    assert b"pushed" in seen


# -- the AWS CLI ---------------------------------------------------------------------------


def aws_cli(url: str, key: StaticCredentials, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key.access_key_id,
        "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    command = [sys.executable, "-m", "awscli", "--endpoint-url", url, "kinesis", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_the_aws_cli_signs_with_a_listed_key_and_fails_with_a_wrong_one(secure_region, stream):
    ok = aws_cli(secure_region.url, secure_region.owner.credentials, "list-streams")
    assert ok.returncode == 0, ok.stderr
    assert stream in json.loads(ok.stdout)["StreamNames"]
    wrong = StaticCredentials(secure_region.owner.credentials.access_key_id, "y" * 40)
    refused = aws_cli(secure_region.url, wrong, "list-streams")
    assert refused.returncode != 0
    assert "(InvalidSignatureException)" in refused.stderr


# -- raw HTTP: hand-built signatures --------------------------------------------------------


def list_streams_by_hand(url: str, path: str = "/", **headers: str) -> tuple[int, Any]:
    """A ListStreams call with exactly these extra headers; its status and JSON answer."""
    base = {"Content-Type": JSON, "X-Amz-Target": TARGET + "ListStreams"}
    status, raw = raw_http(url, "POST", path, {**base, **headers}, b"{}")
    return status, json.loads(raw)


def test_an_unsigned_call_is_missing_its_token(secure_region):
    status, body = list_streams_by_hand(secure_region.url)
    assert status == 400
    assert body == {
        "__type": "MissingAuthenticationTokenException",
        "message": "Missing Authentication Token",
    }


def test_a_garbage_authorization_is_an_incomplete_signature(secure_region):
    headers = {"Authorization": "garbage", "X-Amz-Date": "20260101T000000Z"}
    status, body = list_streams_by_hand(secure_region.url, **headers)
    assert status == 400
    assert body == {
        "__type": "IncompleteSignatureException",
        "message": "Authorization header requires 'Credential' parameter. Authorization header "
        "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
        "parameter. Authorization=garbage",
    }


def test_a_tampered_body_under_a_valid_signature_is_refused(secure_region, stream):
    request = signed_request(
        secure_region.url,
        secure_region.owner.credentials,
        "PutRecord",
        json.dumps({"StreamName": stream, "Data": "YQ==", "PartitionKey": "k"}).encode(),
    )
    tampered = json.dumps({"StreamName": stream, "Data": "Yg==", "PartitionKey": "k"}).encode()
    status, body = send_signed(request, tampered)
    assert status == 400 and body["__type"] == "InvalidSignatureException"
    assert body["message"].startswith(SIGNATURE_MISMATCH)
    status, body = send_signed(request)  # the untouched request still goes through
    assert status == 200 and "SequenceNumber" in body


@pytest.mark.parametrize(
    ("shift", "pattern"),
    [
        (
            -dt.timedelta(minutes=20),
            r"Signature expired: \d{8}T\d{6}Z is now earlier than "
            r"\d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)",
        ),
        (
            dt.timedelta(minutes=20),
            r"Signature not yet current: \d{8}T\d{6}Z is still later "
            r"than \d{8}T\d{6}Z \(\d{8}T\d{6}Z \+ 5 min\.\)",
        ),
    ],
)
def test_a_date_outside_the_five_minute_window_is_refused(secure_region, shift, pattern):
    when = (dt.datetime.now(dt.UTC) + shift).strftime("%Y%m%dT%H%M%SZ")
    request = AWSRequest(
        "POST",
        secure_region.url + "/",
        data=b"{}",
        headers={"Content-Type": JSON, "X-Amz-Target": TARGET + "ListStreams"},
    )
    request.context["timestamp"] = when
    key = secure_region.owner.credentials
    auth = SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "kinesis", "us-east-1")
    # add_auth would stamp "now": sign by hand as of ``when`` (the scope reads the context)
    request.headers["X-Amz-Date"] = when
    signature = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    scope = f"{key.access_key_id}/{when[:8]}/us-east-1/kinesis/aws4_request"
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={scope}, "
        f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={signature}"
    )
    status, body = send_signed(request)
    assert status == 400 and body["__type"] == "InvalidSignatureException"
    assert re.fullmatch(pattern, body["message"]), body["message"]
    assert when in body["message"]


def test_a_signed_cbor_request_is_verified(secure_region, stream):
    body = cbor2.dumps({"StreamName": stream, "Data": b"cbor", "PartitionKey": "k"})
    request = signed_request(
        secure_region.url, secure_region.owner.credentials, "PutRecord", body, CBOR
    )
    status, raw = raw_http(secure_region.url, "POST", "/", dict(request.headers.items()), body)
    assert status == 200 and "SequenceNumber" in cbor2.loads(raw)
    other = signed_request(
        secure_region.url, secure_region.other.credentials, "PutRecord", body, CBOR
    )
    other.headers["Authorization"] = other.headers["Authorization"][:-4] + "0000"
    status, raw = raw_http(secure_region.url, "POST", "/", dict(other.headers.items()), body)
    assert status == 400 and cbor2.loads(raw)["__type"] == "InvalidSignatureException"


# -- presigned URLs ------------------------------------------------------------------------


def presign(
    url: str, key: StaticCredentials, operation: str, body: bytes, expires: int
) -> AWSRequest:
    """A presigned POST whose signature also covers its JSON body.

    (botocore's SigV4QueryAuth would move a body into the query string, which the
    JSON protocol does not do; its SigV4 primitives compute the signature here.)
    """
    when = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{key.access_key_id}/{when[:8]}/us-east-1/kinesis/aws4_request",
        "X-Amz-Date": when,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "content-type;host;x-amz-target",
    }
    request = AWSRequest(
        "POST",
        f"{url}/?{percent_encode_sequence(params)}",
        data=body,
        headers={"Content-Type": JSON, "X-Amz-Target": TARGET + operation},
    )
    request.context["timestamp"] = when
    auth = SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "kinesis", "us-east-1")
    signature = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    request.url += f"&X-Amz-Signature={signature}"
    return request


def test_a_presigned_url_is_accepted_and_its_signature_checked(secure_region, stream):
    body = json.dumps({"StreamName": stream}).encode()
    request = presign(
        secure_region.url, secure_region.owner.credentials, "DescribeStreamSummary", body, 300
    )
    assert "Authorization" not in request.headers
    status, answer = send_signed(request)
    assert status == 200
    assert answer["StreamDescriptionSummary"]["StreamName"] == stream
    request.url = re.sub(r"X-Amz-Signature=\w+", "X-Amz-Signature=" + "0" * 64, request.url)
    forged_status, forged_answer = send_signed(request, body)
    assert forged_status == 400 and forged_answer["__type"] == "InvalidSignatureException"


def test_a_query_with_only_an_algorithm_is_an_incomplete_signature(secure_region):
    status, body = list_streams_by_hand(secure_region.url, "/?X-Amz-Algorithm=x")
    assert status == 400
    assert body["__type"] == "IncompleteSignatureException"


# -- HTTP/2 --------------------------------------------------------------------------------


def h2_call(url: str, request: AWSRequest, first_bytes_only: bool = False) -> tuple[int, bytes]:
    """One request on a fresh HTTP/2 connection (headers as signed; :authority for Host)."""
    host, port = url.removeprefix("http://").split(":")
    connection = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
    body = request.body or b""
    headers = [
        (":method", "POST"),
        (":path", "/"),
        (":scheme", "http"),
        (":authority", f"{host}:{port}"),
        *((name.lower(), value) for name, value in request.headers.items()),
        ("content-length", str(len(body))),
    ]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        connection.initiate_connection()
        connection.send_headers(1, headers)
        connection.send_data(1, body, end_stream=True)
        sock.sendall(connection.data_to_send())
        status, received, ended = 0, b"", False
        while not ended and not (first_bytes_only and received):
            data = sock.recv(65_536)
            assert data, "the server closed the connection early"
            for event in connection.receive_data(data):
                if isinstance(event, ResponseReceived):
                    status = int(dict(event.headers or [])[":status"])
                elif isinstance(event, DataReceived):
                    received += event.data or b""
                    connection.acknowledge_received_data(event.flow_controlled_length or 0, 1)
                elif isinstance(event, StreamEnded):
                    ended = True
            sock.sendall(connection.data_to_send())
    return status, received


def test_http2_calls_are_verified_with_authority_as_host(secure_region, stream):
    body = json.dumps({"StreamName": stream, "Data": "aDI=", "PartitionKey": "h2"}).encode()
    good = signed_request(secure_region.url, secure_region.owner.credentials, "PutRecord", body)
    status, raw = h2_call(secure_region.url, good)
    assert status == 200 and "SequenceNumber" in json.loads(raw)
    wrong = signed_request(
        secure_region.url,
        StaticCredentials(secure_region.owner.credentials.access_key_id, "z" * 40),
        "PutRecord",
        body,
    )
    status, raw = h2_call(secure_region.url, wrong)
    assert status == 400 and json.loads(raw)["__type"] == "InvalidSignatureException"


def test_subscribe_to_shard_over_http2_is_verified(secure_region, stream):
    kinesis = secure_region.client(secure_region.owner)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    consumer_arn = active_consumer(kinesis, arn, "sub-h2")
    body = json.dumps(
        {
            "ConsumerARN": consumer_arn,
            "ShardId": "shardId-000000000000",
            "StartingPosition": {"Type": "LATEST"},
        }
    ).encode()
    other = signed_request(
        secure_region.url, secure_region.other.credentials, "SubscribeToShard", body
    )
    status, raw = h2_call(secure_region.url, other)
    assert status == 400 and json.loads(raw)["__type"] == "AccessDeniedException"
    good = signed_request(
        secure_region.url, secure_region.owner.credentials, "SubscribeToShard", body
    )
    status, raw = h2_call(secure_region.url, good, first_bytes_only=True)
    assert status == 200 and b"initial-response" in raw
