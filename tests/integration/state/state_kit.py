"""Helpers the state tests share: where state lives, the ``shardline`` CLI, a worker."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from shardline.testing import ChildProcess


@dataclass
class Backend:
    """Where a test's state lives: a directory, or a bucket in moto's S3."""

    url: str
    s3_endpoint: str | None

    def worker_args(self) -> list[str]:
        return ["--s3-endpoint", self.s3_endpoint] if self.s3_endpoint else []

    def cli_args(self) -> list[str]:
        return ["--store", self.url] + (
            ["--s3-endpoint-url", self.s3_endpoint] if self.s3_endpoint else []
        )


def cli(*args: str) -> Any:
    """Run ``shardline`` with ``--json`` and return the parsed output."""
    done = subprocess.run(
        [sys.executable, "-m", "shardline", *args, "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


class StateWorker(ChildProcess):
    """One ``state_worker.py`` process, started (and ready) when created; ``stop()``
    sends SIGTERM, so the worker writes its final checkpoints."""

    def __init__(self, args: list[str]) -> None:
        super().__init__(args, "worker ready", start_timeout=60)
        self.start()

    def text(self) -> str:
        """Everything the worker printed so far."""
        return "".join(self.output)
