"""Both control stores fence decisions by epoch and watermarks by generation.

SQLite file, DynamoDB (a real moto server) and a store replicated over two SQLite
files pass the same specification; the replicated store also survives losing one
replica (a moto server killed with SIGKILL).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from shardline.stores.control import (
    ControlState,
    ControlStore,
    Generation,
    Replication,
    ReportDocument,
    StaleEpochError,
    StartPosition,
    Watermark,
)
from shardline.stores.dynamodb_control import DynamoDBControlStore
from shardline.stores.replicated_control import ReplicatedControlStore
from shardline.stores.reports import (
    CallBucket,
    ConsumerReport,
    DecisionReport,
    HealthReport,
    ProducerReport,
    ReportFormatError,
)
from shardline.stores.sqlite_control import SQLiteControlStore
from shardline.testing import ChildProcess

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@pytest.fixture(params=["sqlite", "dynamodb", "replicated"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], ControlStore]:
    table = f"control{uuid.uuid4().hex[:8]}"

    def make() -> ControlStore:
        if request.param == "sqlite":
            return SQLiteControlStore(tmp_path / "control.db")
        if request.param == "replicated":
            return ReplicatedControlStore(
                [SQLiteControlStore(tmp_path / f"{region}.db") for region in ("east", "west")]
            )
        url = request.getfixturevalue("dynamodb_url")
        return DynamoDBControlStore(table, endpoint_url=url, client_options=CREDENTIALS)

    return make


def initial_state() -> ControlState:
    generation = Generation(1, StartPosition("TRIM_HORIZON"))
    return ControlState(
        epoch=1,
        active_region="east",
        changed_at=time.time(),
        reason="initial",
        consumers={"east": generation},
        replication=Replication("east", "west", generation),
    )


def mark(shard: str, sequence: str) -> Watermark:
    return Watermark(shard, sequence, arrival=1.5, millis_behind=0, updated_at=time.time())


def test_initialize_keeps_the_first_state(store_factory: Callable[[], ControlStore]) -> None:
    async def scenario() -> None:
        async with store_factory() as store:
            assert await store.get_state() is None
            first = await store.initialize(initial_state())
            other = initial_state().successor("ignored", active_region="west")
            again = await store.initialize(other)
            assert again == first
            assert (await store.get_state()) == first

    asyncio.run(scenario())


def test_transitions_are_fenced_by_epoch(store_factory: Callable[[], ControlStore]) -> None:
    async def scenario() -> None:
        async with store_factory() as store:
            state = await store.initialize(initial_state())
            start = StartPosition.at(1_700_000_000.25)
            failed_over = state.successor(
                "primary unhealthy",
                active_region="west",
                consumers={**state.consumers, "west": Generation(2, start)},
                replication=None,
            )
            assert await store.transition(state, failed_over) == failed_over
            stored = await store.get_state()
            assert stored == failed_over
            assert stored.consumers["west"].start.timestamp == 1_700_000_000.25
            # A second controller acting on the old view loses.
            rival = state.successor("rival", active_region="east")
            with pytest.raises(StaleEpochError):
                await store.transition(state, rival)
            current = await store.get_state()
            assert current is not None and current.active_region == "west"
            with pytest.raises(ValueError):
                await store.transition(stored, stored)  # the epoch must go up by one

    asyncio.run(scenario())


def test_watermarks_are_fenced_by_replication_generation_and_never_go_back(
    store_factory: Callable[[], ControlStore],
) -> None:
    async def scenario() -> None:
        async with store_factory() as store:
            state = await store.initialize(initial_state())
            await store.put_watermarks(1, "east", "orders", [mark("s-0", "900"), mark("s-1", "5")])
            await store.put_watermarks(1, "east", "orders", [mark("s-0", "100")])  # older
            marks = await store.get_watermarks("east", "orders")
            assert {s: m.sequence_number for s, m in marks.items()} == {"s-0": "900", "s-1": "5"}
            # Numbers compare as integers, not strings.
            await store.put_watermarks(1, "east", "orders", [mark("s-1", "10")])
            assert (await store.get_watermarks("east", "orders"))["s-1"].sequence_number == "10"
            assert await store.get_watermarks("west", "orders") == {}
            # Failover stops replication: the old run's writes are refused.
            await store.transition(state, state.successor("failover", replication=None))
            with pytest.raises(StaleEpochError):
                await store.put_watermarks(1, "east", "orders", [mark("s-0", "901")])
            assert (await store.get_watermarks("east", "orders"))["s-0"].sequence_number == "900"

    asyncio.run(scenario())


def test_every_transition_is_kept_in_the_decision_journal(
    store_factory: Callable[[], ControlStore],
) -> None:
    async def scenario() -> None:
        async with store_factory() as store:
            state = await store.initialize(initial_state())
            failover = await store.transition(
                state, state.successor("outage", active_region="west")
            )
            back = await store.transition(failover, failover.successor("failback: switch"))
            rival = state.successor("rival", active_region="east")
            with pytest.raises(StaleEpochError):
                await store.transition(state, rival)  # a lost race leaves no entry
            journal = sorted(await store.get_reports(DecisionReport), key=lambda r: r.component)
            assert [r.body for r in journal] == [
                DecisionReport(
                    decided.epoch, decided.active_region, decided.reason, decided.changed_at
                )
                for decided in (failover, back)
            ]

    asyncio.run(scenario())


def test_reports_are_replaced_per_component(store_factory: Callable[[], ControlStore]) -> None:
    async def scenario() -> None:
        async with store_factory() as store:
            await store.put_report("w1", ConsumerReport(processed=5), 1.0)
            await store.put_report("w1", ConsumerReport(processed=0), 2.0)
            await store.put_report("w2", ConsumerReport(processed=7), 2.0)
            await store.put_report("w1", HealthReport("east", (CallBucket(1, 1, 0),)), 2.0)
            reports = sorted(await store.get_reports(ConsumerReport), key=lambda r: r.component)
            assert [(r.component, r.body, r.updated_at) for r in reports] == [
                ("w1", ConsumerReport(processed=0), 2.0),
                ("w2", ConsumerReport(processed=7), 2.0),
            ]

    asyncio.run(scenario())


def test_a_report_stored_before_versions_reads_and_a_newer_one_is_refused(
    store_factory: Callable[[], ControlStore],
) -> None:
    async def scenario() -> None:
        async with store_factory() as store:
            legacy = {"epoch": 3, "region": "west", "since": 10.0, "pending": 2, "held": 1}
            await store.put_report_document(ReportDocument("producer", "p1", legacy, 5.0))
            [report] = await store.get_reports(ProducerReport)
            assert report.body == ProducerReport(3, "west", 10.0, pending=2, held=1)
            newer = ReportDocument("producer", "p2", {**legacy, "v": 2}, 5.0)
            await store.put_report_document(newer)
            with pytest.raises(ReportFormatError, match="version 2"):
                await store.get_reports(ProducerReport)

    asyncio.run(scenario())


def test_two_controllers_racing_produce_exactly_one_winner(
    store_factory: Callable[[], ControlStore],
) -> None:
    async def scenario() -> None:
        async with store_factory() as one, store_factory() as two:
            state = await one.initialize(initial_state())
            results = await asyncio.gather(
                one.transition(state, state.successor("a", active_region="west")),
                two.transition(state, state.successor("b", active_region="west")),
                return_exceptions=True,
            )
            assert sum(isinstance(r, StaleEpochError) for r in results) == 1
            current = await one.get_state()
            assert current is not None and current.epoch == 2

    asyncio.run(scenario())


class MotoProcess(ChildProcess):
    """A moto server in a child process, and the URL it answers on."""

    def __init__(self, port: int) -> None:
        super().__init__(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            ready="Running on",
        )
        self.url = f"http://127.0.0.1:{port}"


def start_moto() -> MotoProcess:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = MotoProcess(port)
    process.start()
    return process


def test_a_replicated_store_keeps_deciding_when_one_region_is_lost() -> None:
    """Two DynamoDB replicas (two moto servers); the one in the failed region dies."""
    east, west = start_moto(), start_moto()

    async def scenario() -> None:
        replicas: list[ControlStore] = [
            DynamoDBControlStore("control", endpoint_url=p.url, client_options=CREDENTIALS)
            for p in (east, west)
        ]
        async with ReplicatedControlStore(replicas, timeout_s=2.0) as store:
            state = await store.initialize(initial_state())
            await store.put_watermarks(1, "east", "orders", [mark("s-0", "7")])
            for replica in replicas:  # the premise: both replicas took both writes
                assert await replica.get_state() == state
                assert (await replica.get_watermarks("east", "orders"))[
                    "s-0"
                ].sequence_number == "7"
            east.kill()  # SIGKILL: the primary region's replica is gone
            decided = state.successor("east lost", active_region="west", replication=None)
            await store.transition(state, decided)
            assert (await store.get_state()) == decided
            assert (await store.get_watermarks("east", "orders"))["s-0"].sequence_number == "7"
            with pytest.raises(StaleEpochError):  # the old replication run is fenced
                await store.put_watermarks(1, "east", "orders", [mark("s-0", "8")])
        # A reader that reaches only the surviving replica sees the decision.
        async with DynamoDBControlStore(
            "control", endpoint_url=west.url, client_options=CREDENTIALS
        ) as survivor:
            assert (await survivor.get_state()) == decided

    try:
        asyncio.run(scenario())
    finally:
        east.stop()
        west.stop()


def test_creating_the_replicas_tables_is_not_held_to_the_per_call_timeout(
    dynamodb_url: str,
) -> None:
    """Making a table takes longer than a live replica's answer to a call; a fresh
    replica must not be taken for a lost one (that made the test above flaky)."""
    tables = [f"control{uuid.uuid4().hex[:8]}" for _ in range(2)]

    async def scenario() -> None:
        replicas: list[ControlStore] = [
            DynamoDBControlStore(t, endpoint_url=dynamodb_url, client_options=CREDENTIALS)
            for t in tables
        ]
        async with ReplicatedControlStore(replicas, timeout_s=0.001):
            pass
        for table in tables:  # each table exists: reading it works
            async with DynamoDBControlStore(
                table, endpoint_url=dynamodb_url, client_options=CREDENTIALS
            ) as replica:
                assert await replica.get_state() is None

    asyncio.run(scenario())


def test_a_replica_that_missed_decisions_is_brought_up_to_date(tmp_path: Path) -> None:
    async def scenario() -> None:
        east: ControlStore
        west: ControlStore
        east, west = (SQLiteControlStore(tmp_path / f"{r}.db") for r in ("east", "west"))
        async with ReplicatedControlStore([east, west]) as both:
            state = await both.initialize(initial_state())
        # A decision taken while "east" was unreachable: only "west" has it.
        async with SQLiteControlStore(tmp_path / "west.db") as west:
            decided = state.successor("failover", active_region="west", replication=None)
            await west.transition(state, decided)
        east, west = (SQLiteControlStore(tmp_path / f"{r}.db") for r in ("east", "west"))
        async with ReplicatedControlStore([east, west]) as both:
            assert (await both.get_state()) == decided  # the newest epoch wins ...
        async with SQLiteControlStore(tmp_path / "east.db") as repaired:
            assert (await repaired.get_state()) == decided  # ... and east caught up

    asyncio.run(scenario())
