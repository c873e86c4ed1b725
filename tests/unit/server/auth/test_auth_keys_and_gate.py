"""The credentials file, the Host check and the admin rule of a server without credentials."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from shardline.errors import AccessDeniedException, MissingAuthenticationTokenException
from shardline.server.auth.gate import Gate, GateConfig, host_name, is_loopback
from shardline.server.auth.keys import CredentialsError, append_key, load_keys, new_key
from shardline.server.request import HttpRequest

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kinesis:Get*", "Resource": "*"}],
    }
)


def test_created_keys_are_appended_with_mode_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text("# operator's note, kept\n")
    path.chmod(0o644)
    admin = new_key("111122223333", admin=True)
    reader = new_key("444455556666", user="reader")
    append_key(path, admin)
    append_key(path, reader, POLICY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("# operator's note, kept\n")
    store = load_keys(path)
    assert store.accounts == {"111122223333", "444455556666"}
    loaded = store.get(admin.access_key_id)
    assert loaded is not None and loaded.admin and loaded.policy is None
    assert loaded.secret_access_key == admin.secret_access_key
    read = store.get(reader.access_key_id)
    assert read is not None and read.arn == "arn:aws:iam::444455556666:user/reader"
    assert read.policy is not None and not read.admin
    assert admin.secret_access_key not in repr(admin)


def test_new_keys_look_like_aws_keys_and_differ() -> None:
    first, second = new_key("111122223333"), new_key("111122223333")
    assert len(first.access_key_id) == 20 and len(first.secret_access_key) == 40
    assert first.access_key_id != second.access_key_id


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        (
            'secret_access_key = "0123456789abcdef"\naccount_id = "42"',
            "account_id must be 12 digits",
        ),
        ('account_id = "111122223333"', "secret_access_key must be a string"),
        (
            'secret_access_key = "0123456789abcdef"\naccount_id = "111122223333"\nrole = "x"',
            "unknown field 'role'",
        ),
        (
            'secret_access_key = "0123456789abcdef"\naccount_id = "111122223333"\npolicy = "{}"',
            "policy: Missing required field Statement",
        ),
    ],
)
def test_a_wrong_entry_names_the_key_and_the_field(
    tmp_path: Path, entry: str, complaint: str
) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text(f"[keys.AKSLEXAMPLE000000001]\n{entry}\n")
    with pytest.raises(CredentialsError) as exc:
        load_keys(path)
    assert "[keys.AKSLEXAMPLE000000001]" in str(exc.value) and complaint in str(exc.value)


def request(host: str | None, signed: bool = True) -> HttpRequest:
    headers = CIMultiDict({"Host": host} if host is not None else {})
    if signed:
        headers["Authorization"] = "AWS4-HMAC-SHA256 anything"
    return HttpRequest("POST", "/", CIMultiDictProxy(headers), b"{}")


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("127.0.0.1:4567", "127.0.0.1"),
        ("[::1]:80", "::1"),
        ("LocalHost", "localhost"),
        ("::1", "::1"),
    ],
)
def test_host_names_lose_port_and_brackets(host: str, name: str) -> None:
    assert host_name(host) == name


@pytest.mark.parametrize(
    ("host", "accepted"),
    [
        ("127.0.0.1:4567", True),
        ("localhost:1", True),
        ("[::1]:4567", True),
        ("attacker.example:4567", False),
        ("127.0.0.1.attacker.example", False),
        ("kinesis.internal:4567", True),  # given with --allow-host
        (None, False),
    ],
)
def test_without_credentials_only_loopback_or_allowed_hosts_are_answered(
    host: str | None, accepted: bool
) -> None:
    gate = Gate(GateConfig(allowed_hosts=frozenset({"Kinesis.Internal"})), "us-east-1", "0" * 12)
    assert (gate.host_refusal(request(host)) is None) is accepted


def test_without_credentials_any_signature_is_the_accounts_root() -> None:
    gate = Gate(GateConfig(), "us-east-1", "000000000000")
    assert gate.authenticate(request("localhost")).arn == "arn:aws:iam::000000000000:root"
    with pytest.raises(MissingAuthenticationTokenException):
        gate.authenticate(request("localhost", signed=False))


@pytest.mark.parametrize(
    ("peer", "admitted"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.7", False),
        (None, False),
    ],
)
def test_without_credentials_the_admin_endpoint_answers_loopback_callers_only(
    peer: str | None, admitted: bool
) -> None:
    gate = Gate(GateConfig(), "us-east-1", "000000000000")
    if admitted:
        gate.admit_admin(request("localhost", signed=False), peer)
    else:
        with pytest.raises(AccessDeniedException):
            gate.admit_admin(request("localhost", signed=False), peer)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("", False),
        ("192.168.1.4", False),
        ("example.com", False),
    ],
)
def test_loopback_bind_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback
