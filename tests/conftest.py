"""Shared fixtures: real ``shardline serve`` processes on 127.0.0.1, port 0."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shardline.testing import RegionProcess, kinesis_client, moto_server, wait_active

FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")


@pytest.fixture(scope="session")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    """One server for the session, with instant state transitions."""
    with RegionProcess(tmp_path_factory.mktemp("region"), *FAST) as process:
        yield process


@pytest.fixture()
def kinesis(region: RegionProcess) -> Any:
    return kinesis_client(region.url)


@pytest.fixture()
def make_stream(kinesis: Any) -> Callable[..., str]:
    """Create a uniquely named ACTIVE stream and return its name."""

    def make(shards: int = 1, **extra: Any) -> str:
        name = f"s-{uuid.uuid4().hex[:10]}"
        kinesis.create_stream(StreamName=name, ShardCount=shards, **extra)
        wait_active(kinesis, name)
        return name

    return make


@pytest.fixture()
def fresh_region(tmp_path: Path) -> Iterator[Callable[..., RegionProcess]]:
    """Start extra servers (own data dir, extra flags); all stopped after the test."""
    started: list[RegionProcess] = []

    def start(*args: str, data_dir: Path | None = None) -> RegionProcess:
        process = RegionProcess(data_dir or tmp_path / f"r{len(started)}", *args)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def dynamodb_url() -> Iterator[str]:
    """A real local DynamoDB (and S3) API: moto in server mode on a free port."""
    with moto_server() as url:
        yield url


class TwoRegions:
    """A primary (``east``) and a standby (``west``) region, and a topology file."""

    def __init__(
        self,
        tmp_path: Path,
        streams: dict[str, int],
        east_args: tuple[str, ...] = (),
        **topology: Any,
    ) -> None:
        from shardline.testing import write_topology

        self.east = RegionProcess(tmp_path / "east", *FAST, *east_args).start()
        self.west = RegionProcess(tmp_path / "west", *FAST).start()
        self.streams = streams
        for url in (self.east.url, self.west.url):
            client = kinesis_client(url)
            for name, shards in streams.items():
                client.create_stream(StreamName=name, ShardCount=shards)
                wait_active(client, name)
        self.topology_path = write_topology(
            tmp_path / "shardline.toml", self.east.url, self.west.url, streams, **topology
        )

    def stop(self) -> None:
        self.east.stop()
        self.west.stop()


@pytest.fixture()
def two_regions(tmp_path: Path) -> Iterator[Callable[..., TwoRegions]]:
    """Start two regions with the given streams; a fast topology file names them."""
    started: list[TwoRegions] = []

    def start(
        streams: dict[str, int], east_args: tuple[str, ...] = (), **topology: Any
    ) -> TwoRegions:
        regions = TwoRegions(tmp_path, streams, east_args, **topology)
        started.append(regions)
        return regions

    yield start
    for regions in started:
        regions.stop()
