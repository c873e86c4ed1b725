"""``shardline drill`` and ``shardline up`` as a user runs them (real processes).

The drills use a short detection window so CI stays quick; they assert what the
issue asks of the reference pipeline: no acknowledged record lost (RPO 0), no
duplicate visible in the idempotent sink, every item at its newest tick, and a
failover that actually happened and was followed by recovery in the standby.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest


def run_drill(*args: str, timeout: float = 400) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-m", "shardline", "drill", "--json", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.stdout, done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize(
    ("standby", "kills"),
    [
        ("cold", ()),
        (
            "warm",
            (
                "--kill",
                "replicator",
                "--kill",
                "consumer",
                "--kill",
                "producer",
                "--kill",
                "monitor",
            ),
        ),
    ],
)
def test_a_short_drill_loses_nothing_and_shows_no_duplicates(
    standby: str, kills: tuple[()] | tuple[str, str, str, str, str, str, str, str]
) -> None:
    code, reports = run_drill(
        "--standby", standby, "--window-s", "6", "--warmup-s", "2", "--hold-s", "2", *kills
    )
    (report,) = reports
    assert report["standby"] == standby
    assert report["acknowledged"] > 0
    assert report["rpo_records"] == 0
    assert report["visible_duplicates"] == 0
    assert report["items_correct"] is True
    assert report["detection_s"] is not None and report["rto_s"] is not None
    events = [e["event"] for e in report["timeline"]]
    assert any(e.startswith("failover decided") for e in events)
    assert any(e.startswith("failback complete") for e in events)
    if kills:
        assert sum(e.startswith("SIGKILL") for e in events) == 4
    assert code == 0


#: A seed whose 80 s schedule fails the primary twice (an outage, then a partial
#: outage: an error rate), kills the standby's server around the first failback, and
#: ends with another outage.
CHAOS_SEED = 652


def test_a_seeded_chaos_drill_loses_nothing_and_shows_no_duplicates() -> None:
    code, reports = run_drill(
        "--chaos-s", "80", "--seed", str(CHAOS_SEED), "--standby", "cold", "--window-s", "6",
        "--max-rto-s", "60", timeout=600,
    )  # fmt: skip
    (report,) = reports
    assert report["seed"] == CHAOS_SEED
    applied = [fault["fault"] for fault in report["faults"]]
    assert any(f.startswith("outage") for f in applied)
    assert any(f.startswith("error-rate") for f in applied)
    assert "SIGKILL region-us-west-2" in applied
    assert report["acknowledged"] > 0
    assert report["rpo_records"] == 0, report["lost"]
    assert report["visible_duplicates"] == 0
    assert report["items_correct"] is True
    assert report["error"] is None
    answered = [f for f in report["failovers"] if f["fault"] is not None]
    assert answered, "the schedule's outage failed the pipeline over"
    assert report["failbacks_completed"] >= 1
    assert code == 0


def test_up_runs_the_ticker_pipeline_and_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "shardline", "up", "--data-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ledger = tmp_path / "sink.db"
    try:
        deadline = time.monotonic() + 90
        applied = 0
        while time.monotonic() < deadline and applied < 100:
            time.sleep(1)
            if ledger.exists():
                try:
                    with sqlite3.connect(ledger, timeout=5) as db:
                        applied = db.execute(
                            'SELECT count(*) FROM "ticker-prices-ledger"'
                        ).fetchone()[0]
                except sqlite3.OperationalError:
                    pass
        assert applied >= 100, "ticks reached the sink through the primary"
        children = json.loads((tmp_path / "up.json").read_text())["children"]
        assert {"monitor", "replicator", "producer"} <= set(children)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    # Ctrl-C stopped every child too.
    for child in children.values():
        with pytest.raises(ProcessLookupError):
            os.kill(child["pid"], 0)
