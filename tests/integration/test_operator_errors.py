"""Mistakes an operator makes end in one line that says what to do, and no traceback.

Each command runs as a process, as a person would run it, with no AWS credentials.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
from pathlib import Path

from shardline.failover.decisions import initial_state
from shardline.pipeline.launch import default_topology
from shardline.stores.reports import HealthState, MonitorReport, RegionVerdict
from shardline.stores.sqlite_control import SQLiteControlStore
from shardline.testing import RegionProcess, run_shardline
from shardline.topology import load_topology


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed on standard error."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_on_a_port_in_use_suggests_port_0(region: RegionProcess, tmp_path: Path) -> None:
    done = run_shardline("serve", "--port", str(region.port), "--data-dir", str(tmp_path))
    line = one_line(done)
    assert f"port {region.port} on 127.0.0.1 is already in use" in line and "--port 0" in line


def test_serve_refuses_a_port_out_of_range(tmp_path: Path) -> None:
    line = one_line(run_shardline("serve", "--port", "70000", "--data-dir", str(tmp_path)))
    assert "--port 70000 is out of range: use 1..65535, or 0" in line


def test_serve_refuses_a_data_dir_that_is_a_file_or_cannot_be_made(tmp_path: Path) -> None:
    afile = tmp_path / "data"
    afile.write_text("not a directory")
    line = one_line(run_shardline("serve", "--port", "0", "--data-dir", str(afile)))
    assert f"--data-dir {afile} is a file, not a directory" in line

    beneath = afile / "sub"
    line = one_line(run_shardline("serve", "--port", "0", "--data-dir", str(beneath)))
    assert f"cannot use --data-dir {beneath}" in line and "can write to" in line


def test_tail_of_a_missing_stream_says_how_to_create_it(region: RegionProcess) -> None:
    line = one_line(run_shardline("tail", "no-such-stream", "--endpoint-url", region.url))
    assert "stream 'no-such-stream' does not exist" in line
    assert "aws kinesis create-stream --stream-name no-such-stream" in line


def test_put_to_a_missing_stream_prints_one_summary(region: RegionProcess, tmp_path: Path) -> None:
    lines = "".join(f"{i}\n" for i in range(500))
    done = run_shardline(
        "put", "nowhere", "--endpoint-url", region.url, "--spool", str(tmp_path / "s"), stdin=lines
    )
    assert "stream 'nowhere' does not exist" in one_line(done)


def test_put_with_nothing_listening_says_so_and_gives_up_after_its_timeout(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = run_shardline(
        "put",
        "ticks",
        "--endpoint-url",
        url,
        "--timeout-s",
        "1",
        "--spool",
        str(tmp_path / "s"),
        stdin="x\n",
    )
    line = one_line(done)
    assert f"nothing is listening at {url} (waited 1 s)" in line and "shardline serve" in line


def test_a_topology_with_shards_two_is_refused_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "shardline.toml"
    path.write_text(
        '[[regions]]\nname = "east"\nrole = "primary"\n\n'
        '[[regions]]\nname = "west"\nrole = "standby"\n\n'
        '[[streams]]\nname = "ticker"\nshards = "two"\n'
    )
    for command in (["up", str(path)], ["status", "-t", str(path)]):
        line = one_line(run_shardline(*command, timeout=60))
        assert (
            f"{path}: [streams] shards = 'two' is not allowed: it must be an integer >= 1" in line
        )
    assert not (tmp_path / ".shardline").exists()  # nothing started, nothing written


def test_status_finds_the_pipelines_topology_and_marks_stale_reports(tmp_path: Path) -> None:
    path = default_topology(tmp_path / ".shardline")
    topology = load_topology(path)

    async def reports() -> None:
        async with SQLiteControlStore(topology.stores.directory / "control.db") as store:
            await store.initialize(initial_state(topology))
            healthy, failed = RegionVerdict(HealthState.HEALTHY), RegionVerdict(HealthState.FAILED)
            old = MonitorReport(regions={"us-east-1": healthy, "us-west-2": healthy})
            new = MonitorReport(regions={"us-east-1": failed, "us-west-2": healthy})
            await store.put_report("monitor-a", old, time.time() - 102)
            await store.put_report("monitor-b", new, time.time())

    asyncio.run(reports())
    done = run_shardline("status", cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "region health: us-east-1 FAILED, us-west-2 HEALTHY, from monitor-b" in done.stdout
    assert re.search(r"monitor-a \(STALE, 10\d s old\)", done.stdout)  # 102 s, and startup
