"""The admin endpoint answers only admins, and a server without credentials stays local."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from auth_helpers import FAST, SecureRegion, raw_http, shardline
from botocore.exceptions import ClientError

from shardline.admin import AdminClient, AdminError
from shardline.testing import RegionProcess, kinesis_client, set_fault

FAULTS = "/_shardline/faults"


# -- with credentials ------------------------------------------------------------------------


def test_only_an_admin_key_may_inject_a_fault(secure_region: SecureRegion) -> None:
    status, body = raw_http(secure_region.url, "PUT", FAULTS, {}, b'{"outage": true}')
    assert status == 403
    assert json.loads(body)["code"] == "MissingAuthenticationTokenException"
    with pytest.raises(AdminError) as exc:
        set_fault(secure_region.url, credentials=secure_region.owner.credentials, outage=True)
    assert exc.value.status == 403
    assert f"User: {secure_region.owner.arn} is not an admin" in str(exc.value)
    kinesis = secure_region.client(secure_region.owner)
    kinesis.list_streams()  # no fault was set
    admin = secure_region.admin.credentials
    try:
        assert set_fault(secure_region.url, credentials=admin, outage=True)["outage"] is True
        with pytest.raises(ClientError) as refused:
            kinesis.list_streams()
        assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    finally:
        set_fault(secure_region.url, credentials=admin)
    kinesis.list_streams()


def test_an_admin_call_signed_with_a_wrong_secret_is_refused(secure_region: SecureRegion) -> None:
    from shardline.credentials import StaticCredentials

    forged = StaticCredentials(secure_region.admin.credentials.access_key_id, "w" * 40)
    with pytest.raises(AdminError) as exc:
        set_fault(secure_region.url, credentials=forged, outage=True)
    assert exc.value.status == 403 and "InvalidSignatureException" in str(exc.value)


def test_an_admin_client_reads_the_fault_in_force(secure_region: SecureRegion) -> None:
    import asyncio

    admin = AdminClient(secure_region.url, secure_region.admin.credentials)
    assert asyncio.run(admin.fault())["outage"] is False


# -- without credentials ----------------------------------------------------------------------


def test_a_non_loopback_address_is_refused_with_one_line_saying_why(tmp_path: Path) -> None:
    result = shardline(
        "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path / "d")
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "shardline: refusing to listen on 0.0.0.0 without --credentials: anyone who can reach it "
        "could read, write and delete every stream (give --credentials FILE, or --insecure to "
        "accept that)\n"
    )
    assert not (tmp_path / "d").exists()


def kinesis_call(host: str) -> dict[str, str]:
    return {
        "Host": host,
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Kinesis_20131202.ListStreams",
        "Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/kinesis/aws4_request",
    }


def test_a_foreign_host_name_is_refused_against_dns_rebinding(region: RegionProcess) -> None:
    port = region.url.rsplit(":", 1)[1]
    status, body = raw_http(
        region.url, "POST", "/", kinesis_call(f"attacker.example:{port}"), b"{}"
    )
    assert status == 403
    assert (
        body
        == (
            f"<AccessDeniedException>\n  <Message>Host 'attacker.example:{port}' is not allowed. "
            "Without --credentials this server answers only loopback names (127.0.0.1, localhost, "
            "[::1]); add others with --allow-host NAME.</Message>\n</AccessDeniedException>\n"
        ).encode()
    )
    status, _ = raw_http(
        region.url, "PUT", FAULTS, {"Host": "attacker.example"}, b'{"outage": true}'
    )
    assert status == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert raw_http(region.url, "POST", "/", kinesis_call(host), b"{}")[0] == 200
    kinesis_client(region.url).list_streams()  # nothing was set


def test_allow_host_adds_a_name(fresh_region: Callable[..., RegionProcess]) -> None:
    server = fresh_region(*FAST, "--allow-host", "kinesis.test")
    port = server.url.rsplit(":", 1)[1]
    assert raw_http(server.url, "POST", "/", kinesis_call(f"kinesis.test:{port}"), b"{}")[0] == 200
    assert raw_http(server.url, "POST", "/", kinesis_call(f"other.test:{port}"), b"{}")[0] == 403


def test_an_unknown_admin_path_is_not_found(region: RegionProcess) -> None:
    assert raw_http(region.url, "GET", "/_shardline/nothing", {"Host": "localhost"})[0] == 404
