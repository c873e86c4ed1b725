"""``shardline up``'s lifecycle, with real processes: one per folder, no orphans.

A supervisor that is killed, or whose terminal closes, takes its children with it;
a second ``up`` in a folder is refused; processes an earlier run left are reported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from shardline.testing import RegionProcess, run_shardline, wait_for, without_aws_credentials

#: The children of the default pipeline (two regions).
CHILDREN = 7


def start_up(folder: Path) -> subprocess.Popen[bytes]:
    """``shardline up --data-dir FOLDER``, output to FOLDER/../up-output.log."""
    log = open(folder.parent / f"{folder.name}-output.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "shardline", "up", "--data-dir", str(folder)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=without_aws_credentials(),
    )


def children_started(folder: Path) -> dict[str, int]:
    """Child name → pid once up.json lists every child (else {})."""
    try:
        children = json.loads((folder / "up.json").read_text())["children"]
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    pids = {name: child["pid"] for name, child in children.items() if child.get("pid")}
    return pids if len(pids) == CHILDREN else {}


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_a_second_up_is_refused_and_closing_the_terminal_stops_the_first(tmp_path: Path) -> None:
    folder = tmp_path / "pipeline"
    first = start_up(folder)
    try:
        pids = wait_for(lambda: children_started(folder), 120, "every child started")

        second = run_shardline("up", "--data-dir", str(folder), timeout=120)
        assert second.returncode == 1
        (line,) = second.stderr.splitlines()  # one line, no traceback
        assert f"another `shardline up` (pid {first.pid}) is running in {folder}" in line
        assert children_started(folder) == pids  # the first one's record is untouched
        assert first.poll() is None

        first.send_signal(signal.SIGHUP)  # the terminal closed
        assert first.wait(120) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert not any(alive(pid) for pid in pids.values())
    assert not (folder / "up.json").exists()


def test_children_die_with_a_killed_supervisor_and_the_folder_can_be_reused(tmp_path: Path) -> None:
    folder = tmp_path / "pipeline"
    killed = start_up(folder)
    try:
        pids = wait_for(lambda: children_started(folder), 120, "every child started")
        killed.send_signal(signal.SIGKILL)
        killed.wait(30)
        wait_for(lambda: not any(alive(pid) for pid in pids.values()), 90, "the children to stop")
    finally:
        if killed.poll() is None:
            killed.kill()
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    again = start_up(folder)  # same ports, same spool: no "address already in use"
    try:
        restarted = wait_for(
            lambda: (
                (c := children_started(folder)) and set(c.values()).isdisjoint(pids.values()) and c
            ),
            120,
            "the new run's children",
        )
        assert restarted  # wait_for returns the truthy value (for the type checker)
        again.send_signal(signal.SIGTERM)
        assert again.wait(120) == 0
    finally:
        if again.poll() is None:
            again.kill()
    assert not any(alive(pid) for pid in restarted.values())
    output = (tmp_path / "pipeline-output.log").read_text()
    assert "restarting" not in output, output[-2000:]


def test_up_reports_processes_an_earlier_run_left_behind(tmp_path: Path) -> None:
    folder = tmp_path / "pipeline"
    folder.mkdir()
    with RegionProcess(tmp_path / "orphan", "--create-delay-ms", "0") as orphan:
        # An earlier supervisor's record naming a child that still runs.
        argv = [a.decode() for a in Path(f"/proc/{orphan.pid}/cmdline").read_bytes().split(b"\0")]
        child = {"pid": orphan.pid, "restarts": 0, "argv": [a for a in argv if a]}
        record = {"supervisor_pid": 1, "children": {"region-us-east-1": child}}
        (folder / "up.json").write_text(json.dumps(record))

        refused = run_shardline("up", "--data-dir", str(folder), timeout=120)
        assert refused.returncode == 1
        (line,) = refused.stderr.splitlines()
        assert f"region-us-east-1 (pid {orphan.pid})" in line
        assert f"kill {orphan.pid}" in line and "--stop-stale" in line
        assert orphan.running  # reported, not touched
        assert json.loads((folder / "up.json").read_text()) == record  # kept for the next try
