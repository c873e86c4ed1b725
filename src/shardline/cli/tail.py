"""``shardline tail STREAM``: print records as they arrive, from a chosen position.

A thin layer over :func:`shardline.consumer.tail.tail_records` (GetRecords on every
shard, lineage followed, KPL aggregates split, record-id envelope and replication
origin shown when present).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from typing import Any

import click

from shardline.cli.common import endpoint_options, fail, seconds_option
from shardline.cli.preflight import PreflightError, check_stream
from shardline.consumer.config import ConsumerConfig, InitialPosition
from shardline.consumer.positions import Position
from shardline.consumer.tail import TailedRecord, tail_records
from shardline.sessions import reader_session


def _render(record: TailedRecord, as_json: bool) -> str:
    if not as_json:
        text = record.payload.decode("utf-8", errors="replace")
        return f"[{record.record_id}] {text}" if record.record_id else text
    try:
        data: dict[str, Any] = {"data": record.payload.decode("utf-8")}
    except UnicodeDecodeError:
        data = {"data_base64": base64.b64encode(record.payload).decode()}
    if record.origin_region is not None:
        data["origin_region"] = record.origin_region
    return json.dumps(
        {
            "shard_id": record.shard_id,
            "sequence_number": record.sequence_number,
            "sub_sequence_number": record.sub_sequence_number,
            "partition_key": record.partition_key,
            "record_id": record.record_id,
            "arrival": record.arrival.isoformat(),
            **data,
        }
    )


async def _tail(config: ConsumerConfig, start: Position, count: int | None, as_json: bool) -> int:
    printed = 0
    async with reader_session().create_client(
        "kinesis",
        endpoint_url=config.endpoint_url,
        region_name=config.region_name,
        **config.client_options,
    ) as client:
        records = tail_records(client, config, start)
        try:
            async for record in records:
                click.echo(_render(record, as_json))
                printed += 1
                if count is not None and printed >= count:
                    break
        finally:
            await records.aclose()
    return printed


def _parse_timestamp(
    context: click.Context, parameter: click.Parameter, value: str | None
) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo is not None else moment.astimezone()


_POSITIONS: dict[str, InitialPosition] = {
    "latest": "LATEST",
    "trim-horizon": "TRIM_HORIZON",
    "at-timestamp": "AT_TIMESTAMP",
}


@click.command("tail")
@click.argument("stream")
@endpoint_options
@click.option(
    "--from",
    "start",
    type=click.Choice(sorted(_POSITIONS)),
    default="latest",
    show_default=True,
    help="Where to start: new records only, the oldest record kept, or --timestamp.",
)
@click.option(
    "--timestamp",
    callback=_parse_timestamp,
    default=None,
    help="Start time for --from at-timestamp, ISO 8601 (e.g. 2024-05-01T12:00:00Z); "
    "local time unless it has an offset.",
)
@click.option(
    "--count",
    "-n",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after printing this many records (default: run until interrupted).",
)
@seconds_option(
    "--poll-interval-s",
    default=0.5,
    minimum=0.2,
    help="Pause after an empty read of a shard (floor 0.2, as in the KCL).",
    aliases=("--poll-interval",),
)
@seconds_option(
    "--timeout-s",
    default=10.0,
    help="How long to wait for the endpoint to answer before giving up.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per record: shard, sequence and sub-sequence numbers, "
    "partition key, record id, arrival time and data (or data_base64).",
)
def tail(
    stream: str,
    endpoint_url: str,
    region: str,
    start: str,
    timestamp: dt.datetime | None,
    count: int | None,
    poll_interval_s: float,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Print STREAM's records as they arrive, one line per user record.

    KPL aggregates are split into their user records; records carrying the
    record-id envelope print as ``[record id] payload``.
    """
    position = _POSITIONS[start]
    if position == "AT_TIMESTAMP" and timestamp is None:
        raise click.UsageError("--from at-timestamp needs --timestamp")
    config = ConsumerConfig(
        "shardline-tail",
        stream,
        endpoint_url=endpoint_url,
        region_name=region,
        initial_position=position,
        initial_timestamp=timestamp,
        idle_time_between_reads_s=poll_interval_s,
    )

    async def main() -> None:
        await check_stream(stream, endpoint_url, region, timeout_s)
        await _tail(config, Position(position), count, as_json)

    try:
        asyncio.run(main())
    except PreflightError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
