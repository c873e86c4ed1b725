"""Keys and an authenticating region for the security tests (``conftest.secure_region``)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardline.credentials import StaticCredentials
from shardline.testing import RegionProcess, kinesis_client, wait_for

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


def shardline(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m shardline ARGS`` to its end; its output is captured as text."""
    command = [sys.executable, "-m", "shardline", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def create_key(path: Path, account: str, *extra: str) -> Key:
    """Run ``shardline keys create`` (the real command) and return the key it made."""
    result = shardline(
        "keys", "create", "--account", account, "--file", str(path), "--json", *extra
    )
    assert result.returncode == 0, result.stderr
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

    def clients(self, *keys: Key) -> tuple[Any, ...]:
        """A boto3 client per key, in order."""
        return tuple(self.client(key) for key in keys)

    def client(self, key: Key, **config: Any) -> Any:
        return kinesis_client(self.url, key.credentials, **config)


def raw_http(
    url: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """One HTTP/1.1 request exactly as given (no client fills anything in)."""
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def active_consumer(client: Any, stream_arn: str, name: str) -> str:
    """Register an enhanced fan-out consumer and wait until it is ACTIVE; its ARN."""
    arn: str = client.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)["Consumer"][
        "ConsumerARN"
    ]

    def status() -> str:
        return str(
            client.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"][
                "ConsumerStatus"
            ]
        )

    wait_for(lambda: status() == "ACTIVE", what=f"consumer {name} to be ACTIVE")
    return arn
