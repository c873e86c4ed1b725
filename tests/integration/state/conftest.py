"""Fixtures for the state tests: a state store per backend, keys, a worker factory."""

from __future__ import annotations

import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from state_kit import Backend
from state_worker import command

from shardline.state import KeyRing


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The same test against the local directory store and the S3 store."""
    if request.param == "local":
        return Backend(str(tmp_path / "state"), None)
    import boto3

    url = request.getfixturevalue("dynamodb_url")  # moto's server speaks S3 too
    bucket = f"state-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=bucket)
    return Backend(f"s3://{bucket}/prefix", url)


@pytest.fixture()
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.keys"
    path.write_text(KeyRing.generate_line("k1") + "\n")
    return path


class StateWorker:
    """One ``state_worker.py`` process; its log is kept for assertions."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self.handle = open(log, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            self.handle.write(line)
            if not line or "worker ready" in line:
                break
        assert "worker ready" in line, log.read_text()

        def pump() -> None:
            assert self.process.stdout is not None
            for rest in self.process.stdout:
                self.handle.write(rest)
                self.handle.flush()

        threading.Thread(target=pump, daemon=True).start()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def output(self) -> str:
        self.handle.flush()
        return self.log.read_text()


@pytest.fixture()
def start_worker(tmp_path: Path) -> Iterator[Callable[..., StateWorker]]:
    """Start state workers; any still running are killed after the test."""
    workers: list[StateWorker] = []

    def start(
        endpoint: str, stream: str, app: str, backend: Backend, *extra: str, leases: str = "leases"
    ) -> StateWorker:
        args = command(endpoint, stream, app, tmp_path / f"{leases}.db", backend.url, *extra)
        worker = StateWorker(args + backend.worker_args(), tmp_path / f"worker{len(workers)}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.kill()
