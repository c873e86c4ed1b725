"""Idempotent sinks: where consumed records end up, applied at most once each.

A sink keeps the newest version of each item (ordered by event time, then record id)
and a ledger of the record ids it has accepted, and changes both atomically per
record, so replays, producer re-sends and the overlap a standby region re-reads after
failover change nothing (see :mod:`shardline.sinks.base` for the protocol).

Layering: ``exceptions`` and ``base`` (the model and :class:`IdempotentSink`) need no
backend; each backend module builds on them alone. ``sqlite`` is the embedded default,
``dynamodb`` and ``postgres`` the scale backends; ``testing`` starts a throwaway
PostgreSQL server. ``PostgresSink`` is imported on first use, so psycopg is needed
only by those who use it (``pip install 'shardline[postgres]'``).
"""

from __future__ import annotations

import typing

from shardline.sinks.base import (
    IdempotentSink,
    SinkCounts,
    SinkItem,
    SinkRecord,
    WriteOutcome,
)
from shardline.sinks.dynamodb import DynamoDBSink
from shardline.sinks.exceptions import (
    InvalidSinkRecordError,
    MissingRecordIdError,
    SinkClosedError,
    SinkError,
    SinkUnavailableError,
)
from shardline.sinks.sqlite import SQLiteSink

if typing.TYPE_CHECKING:
    from shardline.sinks.postgres import PostgresSink

__all__ = [
    "DynamoDBSink",
    "IdempotentSink",
    "InvalidSinkRecordError",
    "MissingRecordIdError",
    "PostgresSink",
    "SQLiteSink",
    "SinkClosedError",
    "SinkCounts",
    "SinkError",
    "SinkItem",
    "SinkRecord",
    "SinkUnavailableError",
    "WriteOutcome",
]


def __getattr__(name: str) -> typing.Any:
    if name == "PostgresSink":
        try:
            from shardline.sinks.postgres import PostgresSink
        except ImportError as exc:
            raise ImportError(
                "PostgresSink needs psycopg 3: pip install 'shardline[postgres]'"
            ) from exc
        return PostgresSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
