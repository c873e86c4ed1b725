"""Fixtures for the state tests: a state store per backend, keys, a worker factory."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from state_kit import Backend, StateWorker
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


@pytest.fixture()
def start_worker(tmp_path: Path) -> Iterator[Callable[..., StateWorker]]:
    """Start state workers; any still running are killed after the test."""
    workers: list[StateWorker] = []

    def start(
        endpoint: str, stream: str, app: str, backend: Backend, *extra: str, leases: str = "leases"
    ) -> StateWorker:
        args = command(endpoint, stream, app, tmp_path / f"{leases}.db", backend.url, *extra)
        worker = StateWorker(args + backend.worker_args())
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()
