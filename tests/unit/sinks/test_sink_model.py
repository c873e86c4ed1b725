"""The sink record model, the DynamoDB attribute codec and the sinks' public surface."""

from __future__ import annotations

import datetime as dt
import math
from types import ModuleType

import pytest

import shardline.sinks
from shardline.consumer import ConsumerRecord
from shardline.errors import ShardlineError
from shardline.framing import envelope
from shardline.sinks import (
    InvalidSinkRecordError,
    MissingRecordIdError,
    SinkError,
    SinkRecord,
    SinkUnavailableError,
)
from shardline.sinks.base import quoted_table_name
from shardline.sinks.dynamodb import decode_attribute, encode_attribute

RECORD_ID = "0123456789abcdef0123456789abcdef"


def consumed(data: bytes) -> ConsumerRecord:
    return ConsumerRecord("4960", 0, "AMZN", data, dt.datetime.now(dt.UTC))


def parse_tick(payload: bytes) -> tuple[str, int, dict[str, object]]:
    symbol, at, price = payload.decode().split(",")
    return symbol, int(at), {"price": float(price)}


def test_a_consumed_record_becomes_a_sink_record_with_its_producer_id() -> None:
    data = envelope.encode(RECORD_ID, b"AMZN,1700000000000,178.25")
    record = SinkRecord.from_consumer_record(consumed(data), "us-west-2", parse_tick)
    assert record == SinkRecord(
        "AMZN", RECORD_ID, 1_700_000_000_000, {"price": 178.25}, "us-west-2"
    )


def test_a_consumed_record_without_an_id_is_refused() -> None:
    with pytest.raises(MissingRecordIdError, match="record_ids=True"):
        SinkRecord.from_consumer_record(consumed(b"AMZN,1,2.0"), "us-east-1", parse_tick)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"item_key": ""}, "item_key"),
        ({"record_id": 7}, "record_id"),
        ({"region": ""}, "region"),
        ({"event_time": 1.5}, "event_time"),
        ({"event_time": True}, "event_time"),
        ({"event_time": -1}, "event_time"),
        ({"attributes": {"event_time": 1}}, "reserved"),
        ({"attributes": {"price": math.nan}}, "JSON number"),
        ({"attributes": {"big": 2**64}}, "64 bits"),
        ({"attributes": {"when": dt.date(2024, 1, 1)}}, "plain JSON"),
        ({"attributes": {"nested": {1: "x"}}}, "not a string"),
        ({"attributes": ["price"]}, "mapping"),
    ],
)
def test_records_no_backend_could_store_are_refused_when_built(
    change: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {
        "item_key": "AMZN",
        "record_id": RECORD_ID,
        "event_time": 1,
        "attributes": {},
        "region": "us-east-1",
        **change,
    }
    with pytest.raises(InvalidSinkRecordError, match=message):
        SinkRecord(**fields)  # type: ignore[arg-type]


def test_dynamodb_attributes_round_trip_plain_json() -> None:
    value = {"p": 178.25, "n": -3, "e": 1e-07, "ok": True, "none": None, "l": ["a", {"b": []}]}
    encoded = encode_attribute(value)
    assert encoded["M"]["p"] == {"N": "178.25"} and encoded["M"]["none"] == {"NULL": True}
    assert decode_attribute(encoded) == value


@pytest.mark.parametrize("name", ['x"; DROP TABLE y; --', "", "1abc", "a" * 64, "a b"])
def test_table_names_that_are_not_plain_identifiers_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        quoted_table_name(name)


def test_the_public_surface_is_exactly_all() -> None:
    public = {name for name in vars(shardline.sinks) if not name.startswith("_")}
    modules = {name for name in public if isinstance(getattr(shardline.sinks, name), ModuleType)}
    # PostgresSink is loaded on first access, so psycopg stays optional.
    assert public - modules - {"annotations"} | {"PostgresSink"} == set(shardline.sinks.__all__)
    assert shardline.sinks.__all__ == sorted(shardline.sinks.__all__)
    assert shardline.sinks.PostgresSink.__module__ == "shardline.sinks.postgres"
    for name in shardline.sinks.__all__:
        exported = getattr(shardline.sinks, name)
        if isinstance(exported, type) and issubclass(exported, Exception):
            assert issubclass(exported, SinkError) and issubclass(exported, ShardlineError)
    assert SinkUnavailableError.retriable and not SinkError.retriable
