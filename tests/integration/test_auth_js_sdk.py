"""AWS's JavaScript SDK v3 (HTTP/2) signs with a real key and the region verifies it.

The same script as ``test_js_sdk`` (streams, PutRecords, GetRecords, a reply larger
than a flow-control window, SubscribeToShard), against a region started with
``--credentials``: every call, the event stream included, carries a signature that
must verify.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from shardline.credentials import StaticCredentials

SCRIPT = "kinesis_js_sdk.mjs"


def run_script(js_sdk: Path, url: str, key: StaticCredentials) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None
    env = {
        **os.environ,
        "SHARDLINE_ACCESS_KEY_ID": key.access_key_id,
        "SHARDLINE_SECRET_ACCESS_KEY": key.secret_access_key,
    }
    return subprocess.run(
        [node, SCRIPT, url, f"js-{uuid.uuid4().hex[:10]}"],
        cwd=js_sdk,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_sdk_with_a_listed_key_does_everything_over_http2(
    js_sdk: Path, secure_region: Any
) -> None:
    result = run_script(js_sdk, secure_region.url, secure_region.owner.credentials)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["status"] == "ACTIVE" and run["failedPutCount"] == 0
    polled = [data for records in run["polled"].values() for data in records]
    assert sorted(polled) == sorted([f"batch-{i}" for i in range(100)] + ["single"])
    assert run["large"] == [[100_000, 97 + i % 26] for i in range(24)]
    assert run["subscribed"] == run["polled"][run["firstShard"]] + [f"live-{i}" for i in range(5)]


def test_the_sdk_with_a_wrong_secret_is_refused(js_sdk: Path, secure_region: Any) -> None:
    wrong = StaticCredentials(secure_region.owner.credentials.access_key_id, "v" * 40)
    result = run_script(js_sdk, secure_region.url, wrong)
    assert result.returncode != 0
    assert "InvalidSignatureException" in result.stderr
