"""Smoke test with the AWS CLI v1 (the ``awscli`` package from PyPI) against the server.

CLI v1 blob handling: a blob argument such as ``put-record --data`` is taken as raw
text and base64-encoded by the CLI (v2 would expect base64 unless
``cli_binary_format=raw-in-base64-out``; v1 has no ``--cli-binary-format``), and
``fileb://`` sends a file's bytes. Output blobs (``get-records`` Data) are printed
base64-encoded.

The CLI runs with a scrubbed environment: dummy keys, a fixed region, and no user
config or credentials files, so nothing from the machine leaks in.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from shardline.testing import RegionProcess, kinesis_client

SHARD0 = "shardId-000000000000"


def _aws_command() -> list[str]:
    script = shutil.which("aws", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "awscli"]


class Cli:
    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        empty = home / "empty"
        empty.write_text("")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
            "AWS_PAGER": "",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [
            *_aws_command(),
            "--endpoint-url",
            self.url,
            "--output",
            "json",
            "kinesis",
            *args,
        ]
        result = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        if check:
            assert result.returncode == 0, (command, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        out = self.run(*args).stdout
        return json.loads(out) if out.strip() else None


@pytest.fixture(scope="module")
def cli(region: RegionProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(region.url, tmp_path_factory.mktemp("aws-home"))


@pytest.fixture(scope="module")
def stream(cli: Cli) -> str:
    name = f"cli-{uuid.uuid4().hex[:10]}"
    assert cli.json("create-stream", "--stream-name", name, "--shard-count", "2") is None
    cli.run("wait", "stream-exists", "--stream-name", name)
    return name


def test_cli_is_version_1() -> None:
    result = subprocess.run(
        [*_aws_command(), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert (result.stdout + result.stderr).startswith("aws-cli/1.")


def test_describe_stream_summary_and_list_shards(cli: Cli, stream: str) -> None:
    summary = cli.json("describe-stream-summary", "--stream-name", stream)[
        "StreamDescriptionSummary"
    ]
    assert summary["StreamName"] == stream
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 2
    assert summary["StreamARN"].endswith(f":stream/{stream}")

    shards = cli.json("list-shards", "--stream-name", stream)["Shards"]
    assert [s["ShardId"] for s in shards] == [SHARD0, "shardId-000000000001"]
    assert shards[0]["HashKeyRange"]["StartingHashKey"] == "0"
    assert shards[1]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1)
    assert int(shards[0]["HashKeyRange"]["EndingHashKey"]) + 1 == int(
        shards[1]["HashKeyRange"]["StartingHashKey"]
    )


def test_put_record_then_get_records(
    cli: Cli, stream: str, region: RegionProcess, tmp_path: Path
) -> None:
    # v1: the text given to --data is the payload; the CLI base64-encodes it on the wire.
    put = cli.json(
        "put-record",
        "--stream-name",
        stream,
        "--partition-key",
        "pk",
        "--data",
        "hello from cli v1",
        "--explicit-hash-key",
        "0",
    )
    assert put["ShardId"] == SHARD0
    assert put["SequenceNumber"].isdigit()

    binary = bytes(range(256))
    payload = tmp_path / "payload.bin"
    payload.write_bytes(binary)
    cli.json(
        "put-record",
        "--stream-name",
        stream,
        "--partition-key",
        "pk",
        "--data",
        f"fileb://{payload}",
        "--explicit-hash-key",
        "0",
    )

    shard_iterator = cli.json(
        "get-shard-iterator",
        "--stream-name",
        stream,
        "--shard-id",
        SHARD0,
        "--shard-iterator-type",
        "AT_SEQUENCE_NUMBER",
        "--starting-sequence-number",
        put["SequenceNumber"],
    )["ShardIterator"]
    out = cli.json("get-records", "--shard-iterator", shard_iterator)
    records = out["Records"]
    assert [r["SequenceNumber"] for r in records][:1] == [put["SequenceNumber"]]
    # The CLI prints blobs base64-encoded.
    assert [base64.b64decode(r["Data"]) for r in records] == [b"hello from cli v1", binary]
    assert records[0]["Data"] == base64.b64encode(b"hello from cli v1").decode()
    assert [r["PartitionKey"] for r in records] == ["pk", "pk"]
    assert isinstance(records[0]["ApproximateArrivalTimestamp"], float | int)
    assert out["MillisBehindLatest"] == 0
    assert out["NextShardIterator"]

    # The same bytes through boto3: the CLI stored exactly the raw text and file contents.
    client = kinesis_client(region.url)
    again = client.get_records(ShardIterator=shard_iterator)["Records"]
    assert [r["Data"] for r in again] == [b"hello from cli v1", binary]


def test_errors_reach_the_cli_with_code_and_message(cli: Cli) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    result = cli.run("describe-stream-summary", "--stream-name", name, check=False)
    assert result.returncode == 255
    assert "ResourceNotFoundException" in result.stderr
    assert f"Stream {name} under account" in result.stderr


def test_delete_stream(cli: Cli) -> None:
    name = f"cli-del-{uuid.uuid4().hex[:8]}"
    cli.json("create-stream", "--stream-name", name, "--shard-count", "1")
    cli.run("wait", "stream-exists", "--stream-name", name)
    assert name in cli.json("list-streams")["StreamNames"]
    assert cli.json("delete-stream", "--stream-name", name) is None
    cli.run("wait", "stream-not-exists", "--stream-name", name)
    assert name not in cli.json("list-streams")["StreamNames"]
