"""The aiobotocore session the toolkit reads records with.

Why a session of its own: botocore turns every record's
``ApproximateArrivalTimestamp`` into a datetime in the *local* time zone, building a
dateutil ``tzlocal`` and asking it for the offset once per record. That is about two
thirds of botocore's cost of parsing a GetRecords page (bench/README.md has the
figures) and, for a consumer, more than everything else it does per record. Here an
epoch number, which is what Kinesis sends, becomes a UTC datetime directly: the same
instant (the two compare equal), at a small fraction of the cost. Any other form
goes to botocore's own parser, so nothing botocore accepts is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiobotocore.session import AioSession, get_session
from botocore.utils import parse_timestamp as botocore_parse_timestamp


def parse_timestamp(value: Any) -> dt.datetime:
    """A response timestamp as an aware datetime: epoch seconds in UTC, else botocore's."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            pass
    result: dt.datetime = botocore_parse_timestamp(value)
    return result


def reader_session() -> AioSession:
    """A new aiobotocore session whose clients parse timestamps with :func:`parse_timestamp`."""
    session = get_session()
    factory = session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=parse_timestamp)
    return session
