"""The README's quick starts, run as a reader would run them, against a real region.

Each snippet is the fenced block after a ``<!-- snippet: NAME -->`` marker. Only the
endpoint (``http://127.0.0.1:4567``, the default port) and the stream name (``ticks``)
are replaced, by the test region's URL and a fresh name. Commands run with no AWS
credentials in their environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shardline.testing import (
    RegionProcess,
    kinesis_client,
    wait_active,
    wait_for,
    without_aws_credentials,
)

README = Path(__file__).resolve().parents[2] / "README.md"
ENDPOINT = "http://127.0.0.1:4567"


def snippet(name: str, region: RegionProcess, stream: str) -> str:
    """The README's snippet NAME, pointed at ``region`` and ``stream``."""
    match = re.search(
        rf"<!-- snippet: {re.escape(name)} -->\n```\w+\n(.*?)```", README.read_text(), re.S
    )
    assert match is not None, f"the README has no snippet {name}"
    return match.group(1).replace(ENDPOINT, region.url).replace('"ticks"', f'"{stream}"')


def environment(region: RegionProcess) -> dict[str, str]:
    """No AWS credentials; ``shardline`` and ``aws`` from this virtualenv on PATH;
    the CLI's default endpoint is the test region."""
    env = without_aws_credentials()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SHARDLINE_ENDPOINT"] = region.url
    return env


def run(args: list[str], region: RegionProcess, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=environment(region), capture_output=True, text=True, timeout=120
    )


@contextlib.contextmanager
def running(script: Path, region: RegionProcess) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """``python SCRIPT`` in its folder, output to SCRIPT.out; killed on the way out."""
    printed = script.with_suffix(".out")
    with printed.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=script.parent,
            env=environment(region),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield process, printed
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(30)


@pytest.fixture()
def stream(region: RegionProcess) -> str:
    name = f"readme-{uuid.uuid4().hex[:8]}"
    kinesis = kinesis_client(region.url)
    kinesis.create_stream(StreamName=name, ShardCount=2)
    wait_active(kinesis, name)
    return name


def test_quick_start_1_boto3_aws_cli_and_the_js_sdk(
    region: RegionProcess, js_sdk: Path, tmp_path: Path
) -> None:
    name = f"readme-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "region.py"
    script.write_text(snippet("region-python", region, name))
    done = run([sys.executable, str(script)], region, tmp_path)
    assert done.returncode == 0, done.stderr
    summary = kinesis_client(region.url).describe_stream_summary(StreamName=name)
    assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 4

    cli = snippet("region-aws-cli", region, name)
    done = run(["bash", "-c", cli], region, tmp_path)
    assert done.returncode == 0, done.stderr
    assert name in done.stdout

    (js_sdk / "readme.mjs").write_text(snippet("region-js", region, name))
    node = shutil.which("node")
    assert node is not None, "these tests need Node.js on PATH"
    done = run([node, "readme.mjs"], region, js_sdk)
    assert done.returncode == 0, done.stderr
    assert name in done.stdout


def test_quick_start_2_the_shell(region: RegionProcess, stream: str, tmp_path: Path) -> None:
    commands = snippet("shell-put-tail", region, stream).replace(" ticks", f" {stream}")
    done = run(["bash", "-euc", commands], region, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 5
    assert all(line.isdigit() for line in done.stdout.splitlines())


def test_quick_start_2_producer_and_consumer(
    region: RegionProcess, stream: str, tmp_path: Path
) -> None:
    producer = tmp_path / "producer.py"
    producer.write_text(snippet("producer-python", region, stream))
    done = run([sys.executable, str(producer)], region, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "100 records stored" in done.stdout

    consumer = tmp_path / "consumer.py"
    consumer.write_text(snippet("consumer-python", region, stream))
    with running(consumer, region) as (process, printed):
        wait_for(
            lambda: sum(" tick " in line for line in printed.read_text().splitlines()) >= 100,
            90,
            "the consumer to print every tick",
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0  # a graceful stop: checkpoints, leases released


def test_quick_start_4_a_stateful_job(region: RegionProcess, stream: str, tmp_path: Path) -> None:
    kinesis_client(region.url).put_records(
        StreamName=stream,
        Records=[{"Data": b"x", "PartitionKey": key} for key in ("a", "b", "a")],
    )
    job = tmp_path / "job.py"
    job.write_text(snippet("stateful-python", region, stream))
    with running(job, region) as (_, printed):
        wait_for(lambda: "a 2" in printed.read_text(), 90, "the job to count key a twice")
        wait_for(lambda: any((tmp_path / "state").rglob("*")), 90, "a checkpoint in ./state")
    assert "b 1" in printed.read_text()
