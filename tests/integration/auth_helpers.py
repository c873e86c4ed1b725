"""Keys and an authenticating region for the security tests (``conftest.secure_region``)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardline.credentials import StaticCredentials
from shardline.testing import RegionProcess, kinesis_client

FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")
ACCOUNT, OTHER_ACCOUNT = "111122223333", "444455556666"
READER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["kinesis:Describe*", "kinesis:List*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "kinesis:Get*",
            "Resource": "arn:aws:kinesis:*:*:stream/open-*",
        },
    ],
}


@dataclass(frozen=True)
class Key:
    """A key made by ``shardline keys create``: its credentials and principal ARN."""

    credentials: StaticCredentials
    arn: str
    account: str


def create_key(path: Path, account: str, *extra: str) -> Key:
    """Run ``shardline keys create`` (the real command) and return the key it made."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "shardline",
            "keys",
            "create",
            "--account",
            account,
            "--file",
            str(path),
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    made = json.loads(result.stdout)
    return Key(
        StaticCredentials(made["AccessKeyId"], made["SecretAccessKey"]), made["Arn"], account
    )


@dataclass(frozen=True)
class SecureRegion:
    """A region started with ``--credentials``, and the keys in its file."""

    process: RegionProcess
    #: Account 111122223333: an admin key, a plain key, and a read-only "reader".
    admin: Key
    owner: Key
    reader: Key
    #: Account 444455556666.
    other: Key

    @property
    def url(self) -> str:
        return self.process.url

    def client(self, key: Key, **config: Any) -> Any:
        return kinesis_client(self.url, key.credentials, **config)
