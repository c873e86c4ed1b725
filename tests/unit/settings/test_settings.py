"""Config classes refuse what they cannot run with, naming the key, value and what is allowed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from shardline.consumer import ConsumerConfig
from shardline.errors import ConfigError
from shardline.pipeline.drill import DrillOptions
from shardline.producer import ProducerConfig
from shardline.state import StateConfig
from shardline.storage.config import RegionConfig
from shardline.stores.factory import control_store_for, lease_store_for
from shardline.topology import StoresSpec


def _consumer(**changes: Any) -> ConsumerConfig:
    return ConsumerConfig("app", "orders", **changes)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: _consumer(initial_position="LATESTT"),
            "ConsumerConfig.initial_position = 'LATESTT' is not allowed: "
            "it must be one of 'TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'",
        ),
        (
            lambda: _consumer(idle_time_between_reads_s=0.1),
            "ConsumerConfig.idle_time_between_reads_s = 0.1 is not allowed: "
            "it must be a number >= 0.2",
        ),
        (
            lambda: _consumer(max_records=20_000),
            "ConsumerConfig.max_records = 20000 is not allowed: "
            "it must be an integer >= 1 and <= 10000",
        ),
        (lambda: _consumer(retrieval="push"), "ConsumerConfig.retrieval = 'push'"),
        (lambda: _consumer(initial_position="AT_TIMESTAMP"), "ConsumerConfig.initial_timestamp"),
        (
            lambda: RegionConfig(Path("d"), durability="never"),  # type: ignore[arg-type]
            "RegionConfig.durability = 'never' is not allowed: "
            "it must be one of 'fsync', 'process'",
        ),
        (
            lambda: RegionConfig(Path("d"), shard_limit=True),
            "RegionConfig.shard_limit = True is not allowed: it must be an integer >= 1",
        ),
        (
            lambda: RegionConfig(Path("d"), account_id="12345"),
            "RegionConfig.account_id = '12345' is not allowed: it must be twelve digits",
        ),
        (
            lambda: ProducerConfig(max_connections=0),
            "ProducerConfig.max_connections = 0 is not allowed: it must be an integer >= 1",
        ),
        (
            lambda: ProducerConfig(ordering="by-key"),  # type: ignore[arg-type]
            "ProducerConfig.ordering = 'by-key' is not allowed: "
            "it must be one of 'unordered', 'per-key'",
        ),
        (
            lambda: ProducerConfig(record_ttl_s=-1),
            "ProducerConfig.record_ttl_s = -1 is not allowed: it must be a number > 0 or none",
        ),
        (
            lambda: ProducerConfig(backoff_initial_s=1.0, backoff_max_s=0.5),
            "ProducerConfig.backoff_max_s = 0.5 is not allowed: it must be >= backoff_initial_s",
        ),
        (
            lambda: StateConfig("app", checkpoint_interval_s=0),
            "StateConfig.checkpoint_interval_s = 0 is not allowed: it must be a number > 0",
        ),
        (
            lambda: DrillOptions(kills=("region",)),
            "DrillOptions.kills = 'region' is not allowed",
        ),
    ],
)
def test_config_classes_refuse_what_they_cannot_run_with(build: Any, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        build()
    assert message in str(refused.value)
    assert isinstance(refused.value, ValueError)  # callers catching ValueError still do


def test_paths_may_be_given_as_strings() -> None:
    assert ProducerConfig(spool_path="orders.spool").spool_path == Path("orders.spool")  # type: ignore[arg-type]
    assert RegionConfig("data").data_dir == Path("data")  # type: ignore[arg-type]


def test_the_defaults_are_valid_and_match_aws() -> None:
    assert RegionConfig(Path("d")).shard_limit == 20_000  # AWS's quota in the large regions
    assert _consumer().max_records == 10_000


def test_a_store_backend_the_factory_does_not_know_is_refused_not_taken_for_dynamodb() -> None:
    spec = StoresSpec()
    object.__setattr__(spec, "backend", "dynamo")  # past StoresSpec's own check
    with pytest.raises(ConfigError, match="backend = 'dynamo'"):
        control_store_for(spec)
    with pytest.raises(ConfigError, match="backend = 'dynamo'"):
        lease_store_for(spec, "app")
    with pytest.raises(ConfigError, match="backend = 'dynamo'"):
        dataclasses.replace(StoresSpec(), backend="dynamo")  # type: ignore[arg-type]
