"""Producer parts without a server: config, retry rules, shard map, metrics, spool."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from prometheus_client import CollectorRegistry

from shardline.credentials import StaticCredentials
from shardline.kinesis import ShardInfo
from shardline.producer import Destination, ProducerConfig, SpoolLockedError
from shardline.producer.destination import SpoolBinding
from shardline.producer.metrics import ProducerMetrics
from shardline.producer.predictor import ShardMap
from shardline.producer.retry import call_failure, entry_failure
from shardline.producer.spool import Spool

# -- config -----------------------------------------------------------------------


def test_defaults_are_the_kpls() -> None:
    config = ProducerConfig(spool_path=None)
    assert config.max_buffered_time_s == 0.1
    assert config.aggregation_max_size == 51_200
    assert config.record_ttl_s == 30.0
    assert config.rate_limit_percent == 150
    assert (config.collection_max_count, config.collection_max_size) == (500, 5 * 1024 * 1024)
    assert (config.max_connections, config.request_timeout_s) == (24, 6.0)


def test_spool_path_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHARDLINE_SPOOL", str(tmp_path / "x.sqlite"))
    assert ProducerConfig().spool_path == tmp_path / "x.sqlite"


@pytest.mark.parametrize(
    "bad",
    [
        {"collection_max_count": 501},
        {"collection_max_size": 6 * 1024 * 1024},
        {"backoff_initial_s": 0},
        {"rate_limit_percent": 0},
        {"record_ttl_s": -1},
        {"max_outstanding_bytes": 10},
    ],
)
def test_invalid_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ProducerConfig(spool_path=None, **bad)


# -- retry ------------------------------------------------------------------------


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutRecords",
    )


def test_entry_failures_follow_the_error_registry() -> None:
    assert entry_failure("ProvisionedThroughputExceededException", "").retriable
    assert entry_failure("InternalFailure", "").retriable
    assert not entry_failure("AccessDeniedException", "").retriable


def test_call_failures_say_whether_records_may_be_stored() -> None:
    refused = call_failure(
        EndpointConnectionError(
            endpoint_url="http://x",
            error=aiohttp.ClientConnectorError(None, OSError()),  # type: ignore[arg-type]
        )
    )
    assert refused.retriable and not refused.ambiguous
    timeout = call_failure(ReadTimeoutError(endpoint_url="http://x"))
    assert timeout.retriable and timeout.ambiguous
    missing = call_failure(_client_error("ResourceNotFoundException", 400))
    assert not missing.retriable and not missing.ambiguous
    internal = call_failure(_client_error("InternalFailure", 500))
    assert internal.retriable and internal.ambiguous
    assert not call_failure(NoCredentialsError()).retriable


def test_kms_throttling_is_retried_and_kms_opt_in_is_given_up() -> None:
    """Regression: the producer gave records up on KMSThrottlingException (issue 15)."""
    assert entry_failure("KMSThrottlingException", "Rate exceeded").retriable
    assert call_failure(_client_error("KMSThrottlingException", 400)).retriable
    assert not entry_failure("KMSOptInRequired", "").retriable
    assert not call_failure(_client_error("KMSOptInRequired", 400)).retriable


# -- shard map --------------------------------------------------------------------


def _shard(shard_id: str, low: int, high: int, closed: bool = False) -> dict[str, object]:
    sequence = {"StartingSequenceNumber": "1"}
    if closed:
        sequence["EndingSequenceNumber"] = "2"
    return {
        "ShardId": shard_id,
        "HashKeyRange": {"StartingHashKey": str(low), "EndingHashKey": str(high)},
        "SequenceNumberRange": sequence,
    }


def test_shard_map_predicts_by_open_ranges_and_knows_closed_ones() -> None:
    shards = ShardMap(
        ShardInfo.from_wire(s)
        for s in [_shard("p", 0, 99, closed=True), _shard("a", 0, 49), _shard("b", 50, 99)]
    )
    assert [shards.shard_for(h) for h in (0, 49, 50, 99)] == ["a", "a", "b", "b"]
    assert shards.shard_for(100) is None
    assert shards.range_of("p") == (0, 99)
    assert shards == ShardMap(
        ShardInfo.from_wire(s)
        for s in [_shard("b", 50, 99), _shard("a", 0, 49), _shard("p", 0, 99, True)]
    )
    assert len(ShardMap([])) == 0 and len(shards) == 2


# -- metrics ----------------------------------------------------------------------


def test_metrics_window_gives_the_error_rate_per_destination() -> None:
    registry = CollectorRegistry()
    metrics = ProducerMetrics("p1", registry)
    metrics.call("A", 10, ["ProvisionedThroughputExceededException"], None)
    metrics.call("A", 5, [], "EndpointConnectionError")
    metrics.call("B", 4, [], None)
    window = metrics.window(60, "A")
    assert (window.calls, window.failed_calls, window.entries, window.failed_entries) == (
        2,
        1,
        15,
        6,
    )
    assert window.throttled_entries == 1
    assert window.error_rate == pytest.approx(6 / 15)
    assert window.entries_per_s == pytest.approx(15 / 60)
    assert metrics.window(60).entries == 19
    sample = registry.get_sample_value
    labels = {"producer": "p1", "destination": "A"}
    assert sample("PutRecordsRequests_total", {**labels, "result": "error"}) == 1
    assert sample("PutRecordsEntries_total", {**labels, "result": "success"}) == 9
    assert sample("ErrorsByCode_total", {**labels, "code": "EndpointConnectionError"}) == 5


def test_gauges_read_live_values() -> None:
    registry = CollectorRegistry()
    metrics = ProducerMetrics("p2", registry)
    depth = [3]
    metrics.track(lambda: 7, lambda: depth[0])
    assert registry.get_sample_value("UserRecordsPending", {"producer": "p2"}) == 7
    depth[0] = 1
    assert registry.get_sample_value("SpoolDepth", {"producer": "p2"}) == 1


# -- spool ------------------------------------------------------------------------

HERE = SpoolBinding.of(Destination("s", "http://127.0.0.1:1"))


def _rows(spool: Spool, count: int) -> list[tuple[int, str, str, str | None, bytes]]:
    return [(row, f"{row:032x}", f"k{row}", None, b"d%d" % row) for row in spool.allocate(count)]


def test_spool_commits_before_append_resolves_and_survives_reopening(tmp_path: Path) -> None:
    async def first() -> None:
        spool = Spool(tmp_path / "s.sqlite", HERE)
        await spool.append(_rows(spool, 5))
        assert spool.depth == 5
        # committed: another connection sees the rows at once
        with sqlite3.connect(tmp_path / "s.sqlite") as db:
            assert db.execute("SELECT COUNT(*) FROM records").fetchone() == (5,)
        spool.remove([1, 2])
        await spool.close()

    async def second() -> None:
        spool = Spool(tmp_path / "s.sqlite", HERE)
        assert spool.depth == 3
        pending = await spool.pending(0, 2)
        assert [p.row_id for p in pending] == [3, 4]
        assert pending[0].record_id == f"{3:032x}" and pending[0].data == b"d3"
        assert [p.row_id for p in await spool.pending(4, 10)] == [5]
        assert spool.allocate(1) == range(6, 7)  # ids keep growing
        await spool.close()

    asyncio.run(first())
    asyncio.run(second())


def test_a_second_producer_cannot_open_a_held_spool(tmp_path: Path) -> None:
    async def run() -> None:
        spool = Spool(tmp_path / "s.sqlite", HERE)
        with pytest.raises(SpoolLockedError):
            Spool(tmp_path / "s.sqlite", HERE)
        await spool.close()
        again = Spool(tmp_path / "s.sqlite", HERE)  # the lock went with the first one
        await again.close()

    asyncio.run(run())


# -- public surface ---------------------------------------------------------------


def test_producer_package_exports_exactly_its_all() -> None:
    import types

    import shardline.producer as package

    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(package.__all__) == sorted(public)
    assert package.__all__ == sorted(package.__all__)


def test_a_destination_names_the_stream_and_endpoint_but_not_the_secret() -> None:
    destination = Destination(
        "ticker",
        "http://127.0.0.1:4567",
        "us-east-1",
        StaticCredentials("AKSLEXAMPLE000000001", "s" * 40),
    )
    assert str(destination) == "ticker@http://127.0.0.1:4567"
    assert "s" * 40 not in repr(destination)
