"""AWS's JavaScript SDK v3 against a region: it speaks HTTP/2 to every Kinesis endpoint.

The SDK runs as a real Node process (``tests/interop/kinesis_js_sdk.mjs``, installed
from npm with its lock file) against a real ``shardline serve``, with only the
endpoint changed. Before the server spoke HTTP/2 the SDK's very first call failed
with ``ERR_HTTP2_ERROR``, as it does against kinesalite.

Every test runs twice: over plain HTTP/2 (prior knowledge) and over HTTPS, where
the SDK agrees on HTTP/2 by ALPN and trusts the region's local CA through
``NODE_EXTRA_CA_CERTS``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shardline.server.certs import create_local_certificates
from shardline.testing import RegionProcess, kinesis_client

SCRIPT = "kinesis_js_sdk.mjs"


@pytest.fixture(scope="module", params=["http", "https"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str | None]]:
    """The region's URL and the CA bundle that trusts it (None over plain HTTP)."""
    if request.param == "http":
        yield request.getfixturevalue("region").url, None
        return
    certs = create_local_certificates(tmp_path_factory.mktemp("certs"))
    tls = ("--tls-cert", str(certs.cert), "--tls-key", str(certs.key))
    with RegionProcess(tmp_path_factory.mktemp("tls-region"), *tls) as region:
        yield region.url, str(certs.ca)


@pytest.fixture(scope="module")
def run(js_sdk: Path, served: tuple[str, str | None]) -> dict[str, Any]:
    """Run the script once; every test reads its part of what the SDK saw."""
    url, ca = served
    stream = f"js-{uuid.uuid4().hex[:10]}"
    node = shutil.which("node")
    assert node is not None
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=ca) if ca else None
    result = subprocess.run(
        [node, SCRIPT, url, stream],
        cwd=js_sdk,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    outcome: dict[str, Any] = json.loads(result.stdout)
    outcome["stream"] = stream
    return outcome


def test_the_sdk_creates_a_stream_and_puts_records_over_http2(run: dict[str, Any]) -> None:
    assert run["status"] == "ACTIVE"
    assert run["failedPutCount"] == 0
    polled = [data for records in run["polled"].values() for data in records]
    assert sorted(polled) == sorted([f"batch-{i}" for i in range(100)] + ["single"])


def test_what_the_sdk_put_is_what_boto3_reads(
    run: dict[str, Any], served: tuple[str, str | None]
) -> None:
    url, ca = served
    kinesis = kinesis_client(url, verify=ca)
    for shard_id, records in run["polled"].items():
        iterator = kinesis.get_shard_iterator(
            StreamName=run["stream"], ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
        in_order = [r["Data"].decode() for r in page["Records"]]
        # the live records came after the SDK's poll of shard 0
        assert in_order[: len(records)] == records


def test_the_sdk_reads_both_request_ids_over_http2(run: dict[str, Any]) -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", run["ids"]["requestId"])
    assert len(base64.b64decode(run["ids"]["extendedRequestId"])) == 72


def test_an_unencrypted_put_reports_no_encryption_type(run: dict[str, Any]) -> None:
    assert run["encryptionType"] is None


def test_the_sdk_reads_account_settings(run: dict[str, Any]) -> None:
    assert run["commitment"] == "DISABLED"  # never enabled on the shared region


def test_errors_reach_the_sdk_with_aws_names_and_status(run: dict[str, Any]) -> None:
    assert run["missingStream"] == {"name": "ResourceNotFoundException", "status": 400}
    assert run["badInput"] == {"name": "ValidationException", "status": 400}


def test_a_reply_larger_than_a_flow_control_window_arrives_whole(run: dict[str, Any]) -> None:
    # 24 records of 100 kB in one GetRecords answer: many HTTP/2 windows, and the
    # SDK says GOAWAY before the answer has been sent in full
    assert run["large"] == [[100_000, 97 + i % 26] for i in range(24)]


def test_subscribe_to_shard_streams_stored_then_live_records_over_http2(
    run: dict[str, Any],
) -> None:
    stored = run["polled"][run["firstShard"]]
    live = [f"live-{i}" for i in range(5)]
    assert run["subscribed"] == stored + live
