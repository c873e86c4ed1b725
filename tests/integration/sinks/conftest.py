"""Every sink backend against a real store: a SQLite file, DynamoDB's API (moto in
server mode, one request at a time) and a PostgreSQL server, both started here."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shardline.sinks import DynamoDBSink, IdempotentSink, PostgresSink, SQLiteSink
from shardline.sinks.testing import LocalPostgres
from shardline.testing import moto_server

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
BACKENDS = ["sqlite", "dynamodb", "postgres"]


@pytest.fixture(scope="session")
def serial_dynamodb_url() -> Iterator[str]:
    """moto's DynamoDB with atomic requests (see serial_moto.py for why not the root
    conftest's ``dynamodb_url``) on a free 127.0.0.1 port."""
    serial = Path(__file__).with_name("serial_moto.py")
    with moto_server(lambda port: [sys.executable, str(serial), str(port)]) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_conninfo() -> Iterator[str]:
    """A real PostgreSQL server for the session (fsync off: its crash safety is not
    under test). Fails, never skips, when the binaries are missing."""
    try:
        server = LocalPostgres(durable=False)
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    with server:
        yield server.conninfo


SinkFactory = Callable[[], IdempotentSink]


@pytest.fixture(params=BACKENDS)
def make_sink(request: pytest.FixtureRequest, tmp_path: Path) -> SinkFactory:
    """Make sink instances of one backend on the same fresh tables (several instances
    stand for several consumer workers writing to one sink)."""
    table = f"prices-{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        return lambda: SQLiteSink(tmp_path / "sink.db", table)
    if request.param == "dynamodb":
        url = request.getfixturevalue("serial_dynamodb_url")
        return lambda: DynamoDBSink(table, endpoint_url=url, client_options=CREDENTIALS)
    conninfo = request.getfixturevalue("postgres_conninfo")
    return lambda: PostgresSink(conninfo, table)
