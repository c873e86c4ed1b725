"""Fixtures of the integration tests: the JS SDK, and a region that verifies signatures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shardline.credentials import StaticCredentials
from shardline.testing import RegionProcess, kinesis_client

INTEROP = Path(__file__).resolve().parents[1] / "interop"
JS_SCRIPT = "kinesis_js_sdk.mjs"
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


@pytest.fixture(scope="session")
def js_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the JS SDK script and the SDK, installed exactly as locked."""
    npm = shutil.which("npm")
    assert npm is not None, "these tests need Node.js and npm on PATH"
    directory = tmp_path_factory.mktemp("js-sdk")
    for name in ("package.json", "package-lock.json", JS_SCRIPT):
        shutil.copy(INTEROP / name, directory / name)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=directory,
        check=True,
        timeout=300,
        capture_output=True,
    )
    return directory


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


@pytest.fixture(scope="module")
def secure_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureRegion]:
    """One authenticating region per test module, with instant state transitions."""
    directory = tmp_path_factory.mktemp("secure")
    path = directory / "credentials.toml"
    policy = directory / "reader.json"
    policy.write_text(json.dumps(READER_POLICY))
    admin = create_key(path, ACCOUNT, "--admin", "--user", "operator")
    owner = create_key(path, ACCOUNT, "--user", "owner")
    reader = create_key(path, ACCOUNT, "--user", "reader", "--policy", str(policy))
    other = create_key(path, OTHER_ACCOUNT, "--user", "partner")
    process = RegionProcess(directory / "data", *FAST, "--credentials", str(path))
    with process:
        yield SecureRegion(process, admin, owner, reader, other)
