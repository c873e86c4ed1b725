"""Access keys: the credentials file ``shardline serve --credentials FILE`` reads.

The file is TOML, one table per access key id::

    [keys.AKSLQ7ZP2WN4MEXAMPLE]
    secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    account_id = "111122223333"
    user = "ingest"        # optional; the principal is arn:aws:iam::111122223333:user/ingest
    admin = true           # optional; may call /_shardline/* (faults, metrics)
    policy = '''{"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": "kinesis:Put*", "Resource": "*"}]}'''

A key without ``policy`` has full access to its own account. ``shardline keys create``
appends a fresh key to the file (created with mode 0600) and prints it.

Error handling: a file that cannot be read, or an entry that is wrong, stops the
server at start with a ``CredentialsError`` naming the key and the field to fix.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import tomli_w

from shardline.errors import ShardlineError
from shardline.server.auth.access import Caller
from shardline.server.auth.policy import Policy, PolicyError, parse_policy

log = logging.getLogger(__name__)

_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_ACCOUNT = re.compile(r"\d{12}")
_USER = re.compile(r"[\w+=,.@-]{1,64}")
_FIELDS = frozenset({"secret_access_key", "account_id", "user", "admin", "policy"})
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


class CredentialsError(ShardlineError):
    """The credentials file is missing or wrong; the message says what to fix."""


@dataclass(frozen=True)
class AccessKey:
    """One access key pair and what its holder is."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    account_id: str = "000000000000"
    #: The IAM user name in the principal ARN (defaults to the key id).
    user: str = ""
    #: Admin keys may call the ``/_shardline/*`` endpoints.
    admin: bool = False
    policy: Policy | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{self.user or self.access_key_id}"

    def caller(self) -> Caller:
        return Caller(self.account_id, self.arn, self.policy)


@dataclass(frozen=True)
class KeyStore:
    """The keys a server accepts, by access key id."""

    keys: Mapping[str, AccessKey]

    def get(self, access_key_id: str) -> AccessKey | None:
        return self.keys.get(access_key_id)

    @property
    def accounts(self) -> frozenset[str]:
        return frozenset(k.account_id for k in self.keys.values())


def load_keys(path: Path) -> KeyStore:
    """Read and validate the credentials file (see the module docstring)."""
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise CredentialsError(f"cannot read the credentials file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsError(f"{path} is not valid TOML: {exc}") from None
    if set(document) - {"keys"} or not isinstance(document.get("keys", {}), dict):
        raise CredentialsError(f"{path}: the file holds only [keys.<ACCESS_KEY_ID>] tables")
    keys = {key_id: _entry(path, key_id, entry) for key_id, entry in document["keys"].items()}
    if not keys:
        raise CredentialsError(f"{path} has no keys; add one with `shardline keys create`")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "credentials file %s is readable by other users (mode %o); run: chmod 600 %s",
            path,
            stat.S_IMODE(mode),
            path,
        )
    return KeyStore(keys)


def _entry(path: Path, key_id: str, entry: Any) -> AccessKey:
    where = f"{path}: [keys.{key_id}]"
    if not isinstance(entry, dict):
        raise CredentialsError(f"{where} must be a table")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise CredentialsError(f"{where}: unknown field {unknown[0]!r}")
    if not _KEY_ID.fullmatch(key_id):
        raise CredentialsError(f"{where}: a key id is 16-128 upper-case letters and digits")
    secret, account = entry.get("secret_access_key"), entry.get("account_id")
    if not isinstance(secret, str) or len(secret) < 16:
        raise CredentialsError(f"{where}: secret_access_key must be a string of 16+ characters")
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        raise CredentialsError(f'{where}: account_id must be 12 digits in quotes, e.g. "1111…"')
    user, admin = entry.get("user", key_id), entry.get("admin", False)
    if not isinstance(user, str) or not _USER.fullmatch(user):
        raise CredentialsError(f"{where}: user must be 1-64 of letters, digits and +=,.@_-")
    if not isinstance(admin, bool):
        raise CredentialsError(f"{where}: admin must be true or false")
    policy = entry.get("policy")
    try:
        parsed = parse_policy(policy, "identity") if isinstance(policy, str) else None
    except PolicyError as exc:
        raise CredentialsError(f"{where}: policy: {exc}") from None
    if policy is not None and parsed is None:
        raise CredentialsError(f"{where}: policy must be a JSON policy document in a string")
    return AccessKey(key_id, secret, account, user, admin, parsed)


def new_key(account_id: str, *, admin: bool = False, user: str | None = None) -> AccessKey:
    """A fresh random key pair (not yet saved): 20-character id, 40-character secret.

    Raises CredentialsError for an account id or user name the file would refuse.
    """
    if not _ACCOUNT.fullmatch(account_id):
        raise CredentialsError(f"an account id is 12 digits, not {account_id!r}")
    if user is not None and not _USER.fullmatch(user):
        raise CredentialsError(f"a user name is 1-64 of letters, digits and +=,.@_-, not {user!r}")
    key_id = "AKSL" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return AccessKey(key_id, secret, account_id, user or key_id, admin)


def append_key(path: Path, key: AccessKey, policy_text: str | None = None) -> None:
    """Append ``key`` to the credentials file, creating it with mode 0600.

    Appending keeps what an operator wrote (comments, other keys) as it was. The
    mode is set to 0600 whatever the umask, also on an existing file.
    """
    entry: dict[str, Any] = {
        "secret_access_key": key.secret_access_key,
        "account_id": key.account_id,
    }
    if key.user != key.access_key_id:
        entry["user"] = key.user
    if key.admin:
        entry["admin"] = True
    if policy_text is not None:
        entry["policy"] = orjson.dumps(
            orjson.loads(policy_text), option=orjson.OPT_INDENT_2
        ).decode()
    text = tomli_w.dumps({"keys": {key.access_key_id: entry}}, multiline_strings=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        existing = os.fstat(descriptor).st_size
        os.write(descriptor, (("\n" if existing else "") + text).encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
