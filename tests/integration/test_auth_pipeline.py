"""The HA pipeline runs between two regions that verify every signature.

Each region is started with its own ``--credentials`` file and ``--region``; the
topology carries each region's key pair and signing region. The monitor, the
replicator, the region-following consumers and producer all sign with them, and the
outage is injected through the admin endpoint the way the drill does it (signed by
the region's admin key, ``drill.admin_of``). A primary outage then fails over with no
acknowledged record lost, exactly as in ``test_failover`` without credentials.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import FAST, Key, create_key
from botocore.exceptions import ClientError
from test_failover import CHECK_S, CHECKS, WINDOW_S, Pipeline, policy

from shardline.admin import AdminClient, AdminError
from shardline.pipeline.drill import admin_of
from shardline.testing import RegionProcess, kinesis_client, wait_active, wait_for, write_topology
from shardline.topology import load_topology

ACCOUNTS = {"east": "111122223333", "west": "444455556666"}
SIGNING = {"east": "us-east-1", "west": "us-west-2"}


@dataclass
class SecureRegions:
    """Two authenticating regions and a topology holding their keys (as ``TwoRegions``)."""

    east: RegionProcess
    west: RegionProcess
    keys: dict[str, Key]
    topology_path: Path

    def stop(self) -> None:
        self.east.stop()
        self.west.stop()

    def client(self, name: str) -> Any:
        process = self.east if name == "east" else self.west
        return kinesis_client(process.url, self.keys[name].credentials, SIGNING[name])


def start_regions(tmp_path: Path, failover: dict[str, Any]) -> SecureRegions:
    keys, processes = {}, {}
    for name in ("east", "west"):
        path = tmp_path / f"{name}-credentials.toml"
        keys[name] = create_key(path, ACCOUNTS[name], "--admin")
        processes[name] = RegionProcess(
            tmp_path / name, *FAST, "--region", SIGNING[name], "--credentials", str(path)
        ).start()
    options = {
        name: {
            "access_key_id": keys[name].credentials.access_key_id,
            "secret_access_key": keys[name].credentials.secret_access_key,
            "signing_region": SIGNING[name],
        }
        for name in ("east", "west")
    }
    topology = write_topology(
        tmp_path / "shardline.toml",
        processes["east"].url,
        processes["west"].url,
        {"ticker": 2},
        failover=failover,
        replication={"publish_interval_s": 0.2},
        region_options=options,
    )
    regions = SecureRegions(processes["east"], processes["west"], keys, topology)
    for name in ("east", "west"):
        client = regions.client(name)
        client.create_stream(StreamName="ticker", ShardCount=2)
        wait_active(client, "ticker")
    return regions


@pytest.fixture()
def secure_pipeline(tmp_path: Path) -> Iterator[Callable[..., tuple[SecureRegions, Pipeline]]]:
    started: list[tuple[SecureRegions, Pipeline]] = []

    def start(count: int, rate: float) -> tuple[SecureRegions, Pipeline]:
        regions = start_regions(tmp_path, policy("cold"))
        started.append((regions, Pipeline(regions, tmp_path).start(count, rate)))
        return started[-1]

    yield start
    for regions, run in started:
        run.stop()
        regions.stop()


def test_the_pipeline_fails_over_between_authenticating_regions(
    secure_pipeline: Callable[..., tuple[SecureRegions, Pipeline]],
) -> None:
    regions, run = secure_pipeline(count=1200, rate=150)
    topology = load_topology(regions.topology_path)
    wait_for(lambda: len(run.acked_ids()) >= 300, what="traffic before the fault")
    # An unsigned or foreign-key call is refused, so the traffic above was signed.
    with pytest.raises(ClientError) as exc:
        kinesis_client(regions.east.url, regions.keys["west"].credentials).list_streams()
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(AdminError):  # an admin call signed with the other region's key
        wrong = AdminClient(regions.east.url, regions.keys["west"].credentials)
        asyncio.run(wrong.set_fault({"outage": True}))
    asyncio.run(admin_of(topology.primary).set_fault({"outage": True}))
    fault_at = time.time()
    state = wait_for(
        lambda: (s := run.state()) and s.active_region == "west" and s,
        timeout=WINDOW_S + CHECKS * CHECK_S + 20,
        what="automatic failover",
    )
    assert state  # wait_for returns the truthy value (for the type checker)
    assert state.epoch == 2
    run.assert_nothing_acknowledged_is_lost()
    assert [line for line in run.processed("west") if line["t"] >= fault_at]
    asyncio.run(admin_of(topology.primary).set_fault(None))
    regions.client("east").list_streams()
