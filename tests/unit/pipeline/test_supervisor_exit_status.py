"""The supervisor restarts crashed children, but not one whose exit status says a
restart cannot help (a region refusing damaged data, say); it shows a child's last log line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from shardline.pipeline.supervisor import Supervisor, last_line


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the supervisor"
        await asyncio.sleep(0.05)


def test_a_child_refusing_its_data_is_not_restarted_but_a_crash_is(tmp_path: Path) -> None:
    async def scenario() -> None:
        supervisor = Supervisor(tmp_path)
        try:
            refusing = supervisor.start(
                "region", [sys.executable, "-c", "import sys; print('refused'); sys.exit(65)"]
            )
            crashing = supervisor.start("worker", [sys.executable, "-c", "raise SystemExit(1)"])
            await _until(lambda: refusing.next_start == float("inf"))
            await _until(lambda: crashing.restarts >= 1)
            assert refusing.restarts == 0 and not refusing.alive
        finally:
            await supervisor.stop()

    asyncio.run(scenario())


def test_the_last_log_line_reads_json_lines_as_level_and_message(tmp_path: Path) -> None:
    log = tmp_path / "monitor.log"
    assert last_line(log) == ""
    log.write_text("first\n" + "x" * 10_000 + "\nplain last line\n\n")
    assert last_line(log) == "plain last line"
    entry = {"time": "t", "level": "WARNING", "logger": "m", "message": "FAILOVER epoch 2"}
    log.write_text(json.dumps(entry) + "\n")
    assert last_line(log) == "WARNING FAILOVER epoch 2"
