"""The SigV4 verifier accepts what botocore's signer signs, and refuses every change.

botocore's signer is the oracle here (the verifier is written independently); each
refusal is checked for AWS's error code and message.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict, CIMultiDictProxy

from shardline.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from shardline.server.auth.keys import AccessKey, KeyStore
from shardline.server.auth.sigv4 import SigV4Verifier
from shardline.server.request import HttpRequest

KEY = AccessKey("AKSLTESTKEY000000001", "secret-of-the-test-key-0001", "111122223333")
URL = "http://127.0.0.1:4567/"
BODY = b'{"StreamName": "orders"}'


def verifier(region: str = "us-east-1") -> SigV4Verifier:
    return SigV4Verifier(KeyStore({KEY.access_key_id: KEY}), region)


def as_request(
    signed: AWSRequest, body: bytes | None = None, replace: Mapping[str, str] | None = None
) -> HttpRequest:
    """What the server receives for ``signed`` (the HTTP client adds Host), with the
    headers in ``replace`` changed after signing."""
    parts = urlsplit(signed.url)
    headers = CIMultiDict(signed.headers.items())
    headers["Host"] = parts.netloc
    headers.update(replace or {})
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    data = signed.body if body is None else body
    return HttpRequest(signed.method, target, CIMultiDictProxy(headers), bytes(data or b""))


def header_signed(
    body: bytes = BODY,
    region: str = "us-east-1",
    secret: str = KEY.secret_access_key,
    url: str = URL,
    headers: Mapping[str, str] | None = None,
) -> AWSRequest:
    request = AWSRequest(
        "POST",
        url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Kinesis_20131202.DescribeStreamSummary",
            **(headers or {}),
        },
    )
    SigV4Auth(Credentials(KEY.access_key_id, secret), "kinesis", region).add_auth(request)
    return request


def presigned(expires: int = 300, body: bytes = BODY) -> AWSRequest:
    request = AWSRequest(
        "POST", URL, data=body, headers={"Content-Type": "application/x-amz-json-1.1"}
    )
    auth = SigV4QueryAuth(
        Credentials(KEY.access_key_id, KEY.secret_access_key), "kinesis", "us-east-1", expires
    )
    auth.add_auth(request)
    return request


def signing_time(request: AWSRequest) -> dt.datetime:
    stamp = request.headers.get("X-Amz-Date")
    if stamp is None:  # presigned: the date is in the query
        query = re.search(r"X-Amz-Date=(\w+)", request.url)
        assert query is not None, request.url
        stamp = query[1]
    return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def test_a_request_botocore_signed_is_accepted_as_its_key() -> None:
    request = header_signed()
    assert verifier().verify(as_request(request), signing_time(request)) is KEY


def test_a_presigned_url_botocore_made_is_accepted() -> None:
    request = presigned()
    assert "X-Amz-Signature=" in request.url
    assert verifier().verify(as_request(request), signing_time(request)) is KEY


def test_a_path_and_query_are_part_of_what_is_signed() -> None:
    request = header_signed(url="http://127.0.0.1:4567/a%20b/./c/?b=2&a=1&a=0&e=%2F&f=~x")
    assert verifier().verify(as_request(request), signing_time(request)) is KEY


def test_an_altered_body_is_refused_with_the_canonical_request() -> None:
    request = header_signed()
    with pytest.raises(InvalidSignatureException) as exc:
        verifier().verify(
            as_request(request, body=b'{"StreamName": "other"}'), signing_time(request)
        )
    message = exc.value.message
    assert message.startswith(
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.\n\nThe Canonical String for this request should have "
        "been\n'POST\n/\n"
    )
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in message


@pytest.mark.parametrize("header", ["X-Amz-Target", "Content-Type", "Host"])
def test_an_altered_signed_header_is_refused(header: str) -> None:
    request = header_signed()
    with pytest.raises(InvalidSignatureException):
        verifier().verify(as_request(request, replace={header: "changed"}), signing_time(request))


def test_a_wrong_secret_is_refused() -> None:
    request = header_signed(secret="not-the-secret-of-the-key")
    with pytest.raises(InvalidSignatureException):
        verifier().verify(as_request(request), signing_time(request))


def test_a_content_sha256_header_must_hash_the_body() -> None:
    request = header_signed(headers={"X-Amz-Content-Sha256": "0" * 64})
    with pytest.raises(InvalidSignatureException) as exc:
        verifier().verify(as_request(request), signing_time(request))
    assert exc.value.message == (
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    )


def test_an_unknown_key_is_an_unrecognized_client() -> None:
    request = header_signed()
    store = SigV4Verifier(KeyStore({}), "us-east-1")
    with pytest.raises(UnrecognizedClientException) as exc:
        store.verify(as_request(request), signing_time(request))
    assert exc.value.message == "The security token included in the request is invalid."


def test_a_session_token_is_an_unrecognized_client() -> None:
    request = header_signed(headers={"X-Amz-Security-Token": "FQoGZXIvYXdzEXAMPLE"})
    with pytest.raises(UnrecognizedClientException):
        verifier().verify(as_request(request), signing_time(request))


def test_a_signature_for_another_region_is_refused_as_aws_does() -> None:
    request = header_signed(region="us-west-2")
    with pytest.raises(InvalidSignatureException) as exc:
        verifier("us-east-1").verify(as_request(request), signing_time(request))
    assert exc.value.message == "Credential should be scoped to a valid region, not 'us-west-2'. "


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (
            6,
            r"Signature expired: (\d{8}T\d{6}Z) is now earlier than \d{8}T\d{6}Z "
            r"\(\d{8}T\d{6}Z - 5 min\.\)",
        ),
        (
            -6,
            r"Signature not yet current: (\d{8}T\d{6}Z) is still later than \d{8}T\d{6}Z "
            r"\(\d{8}T\d{6}Z \+ 5 min\.\)",
        ),
    ],
)
def test_the_clock_skew_limit_is_five_minutes(minutes: int, expected: str) -> None:
    request = header_signed()
    when = signing_time(request)
    late = as_request(request)
    with pytest.raises(InvalidSignatureException) as exc:
        verifier().verify(late, when + dt.timedelta(minutes=minutes))
    match = re.fullmatch(expected, exc.value.message)
    assert match and match[1] == request.headers["X-Amz-Date"]
    verifier().verify(late, when + dt.timedelta(minutes=minutes * 4 / 6))  # inside: accepted


def test_a_presigned_url_expires_after_its_expiry() -> None:
    request = presigned(expires=60)
    when = signing_time(request)
    verifier().verify(as_request(request), when + dt.timedelta(seconds=59))
    with pytest.raises(InvalidSignatureException) as exc:
        verifier().verify(as_request(request), when + dt.timedelta(seconds=61))
    assert exc.value.message.startswith("Signature expired: ")
    assert exc.value.message.endswith(" - 60 sec.)")


def unsigned(target: str = "/", **headers: str) -> HttpRequest:
    base = {"Host": "127.0.0.1:4567", "X-Amz-Date": "20260101T000000Z", **headers}
    return HttpRequest("POST", target, CIMultiDictProxy(CIMultiDict(base)), BODY)


def test_no_signature_is_a_missing_token() -> None:
    with pytest.raises(MissingAuthenticationTokenException):
        verifier().verify(unsigned())


def test_a_garbage_authorization_header_is_incomplete_as_aws_words_it() -> None:
    with pytest.raises(IncompleteSignatureException) as exc:
        verifier().verify(unsigned(Authorization="garbage"))
    assert exc.value.message == (
        "Authorization header requires 'Credential' parameter. Authorization header requires "
        "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
        "Authorization=garbage"
    )


def test_a_parameter_without_equals_sign_is_named() -> None:
    value = "AWS4-HMAC-SHA256 Credential AKSL/20260101/us-east-1/kinesis/aws4_request"
    with pytest.raises(IncompleteSignatureException) as exc:
        verifier().verify(unsigned(Authorization=value))
    assert exc.value.message == (
        "'Credential AKSL/20260101/us-east-1/kinesis/aws4_request' not a valid key=value pair "
        f"(missing equal-sign) in Authorization header: '{value}'."
    )


def test_host_must_be_signed() -> None:
    value = (
        "AWS4-HMAC-SHA256 Credential=AKSLTESTKEY000000001/20260101/us-east-1/kinesis/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=00"
    )
    with pytest.raises(IncompleteSignatureException) as exc:
        verifier().verify(unsigned(Authorization=value))
    assert exc.value.message == (
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    )


def test_a_date_that_is_not_iso_basic_is_incomplete() -> None:
    value = (
        "AWS4-HMAC-SHA256 Credential=AKSLTESTKEY000000001/20260101/us-east-1/kinesis/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00"
    )
    with pytest.raises(IncompleteSignatureException) as exc:
        verifier().verify(unsigned(Authorization=value, **{"X-Amz-Date": "2026-01-01"}))
    assert exc.value.message == (
        "Date must be in ISO-8601 'basic format'. Got '2026-01-01'. See "
        "http://en.wikipedia.org/wiki/ISO_8601"
    )


def test_a_presigned_query_with_only_the_algorithm_is_incomplete() -> None:
    with pytest.raises(IncompleteSignatureException) as exc:
        verifier().verify(unsigned("/?X-Amz-Algorithm=x"))
    assert exc.value.message == (
        "AWS query-string parameters must include 'X-Amz-Credential', 'X-Amz-Signature', "
        "'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
    )


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        (
            "20260102/us-east-1/kinesis/aws4_request",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            "HTTP: '20260102' != '20260101', from '20260101T000000Z'.",
        ),
        (
            "20260101/us-east-1/dynamodb/aws4_request",
            "Credential should be scoped to correct service: 'kinesis'. ",
        ),
        (
            "20260101/us-east-1/kinesis/aws5_request",
            "Credential should be scoped with a valid terminator: 'aws4_request', not "
            "'aws5_request'. ",
        ),
    ],
)
def test_a_wrong_credential_scope_is_refused(scope: str, message: str) -> None:
    value = (
        f"AWS4-HMAC-SHA256 Credential=AKSLTESTKEY000000001/{scope}, "
        "SignedHeaders=host;x-amz-date, Signature=00"
    )
    with pytest.raises(InvalidSignatureException) as exc:
        verifier().verify(unsigned(Authorization=value))
    assert exc.value.message == message
