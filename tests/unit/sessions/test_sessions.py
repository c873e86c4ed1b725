"""The readers' session: timestamps parsed fast, to the same instants as botocore's."""

from __future__ import annotations

import asyncio
import datetime as dt

import botocore.session
import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from shardline.sessions import parse_timestamp, reader_session


@pytest.mark.parametrize("value", [0, 1732953600, 1732953600.123, 1732953600.999])
def test_epoch_numbers_become_the_instants_botocore_gives_in_utc(value: float) -> None:
    parsed = parse_timestamp(value)
    assert parsed == botocore_parse_timestamp(value)
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "value", ["2024-11-30T08:00:00Z", "1732953600.5", "Sat, 30 Nov 2024 08:00:00 GMT"]
)
def test_other_forms_are_parsed_by_botocore(value: str) -> None:
    assert parse_timestamp(value) == botocore_parse_timestamp(value)


def test_reader_session_clients_parse_records_with_it() -> None:
    session = reader_session()
    parser = session.get_component("response_parser_factory").create_parser("json")
    model = botocore.session.get_session().get_service_model("kinesis")
    shape = model.operation_model("GetRecords").output_shape
    body = (
        b'{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":1732953600.25,'
        b'"Data":"QQ==","PartitionKey":"k"}],"MillisBehindLatest":0}'
    )
    response = {"body": body, "headers": {}, "status_code": 200}
    parsed = asyncio.run(parser.parse(response, shape))
    arrival = parsed["Records"][0]["ApproximateArrivalTimestamp"]
    assert arrival == dt.datetime(2024, 11, 30, 8, 0, 0, 250000, tzinfo=dt.UTC)
    assert arrival.tzinfo is dt.UTC
