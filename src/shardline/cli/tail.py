"""``shardline tail STREAM``: print records as they arrive, from a chosen position.

Every shard is read with GetRecords (the consumer's polling retriever, no leases
and no checkpoints). Lineage is followed: a child shard is read once its parents
have ended, so each partition key's records print in order across a reshard. KPL
aggregates are split (with the KCL's hash-range filter) and the record-id envelope
is shown when present.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import click

from shardline import aggregation
from shardline.cli.common import endpoint_options
from shardline.consumer.config import ConsumerConfig, InitialPosition
from shardline.consumer.positions import Position
from shardline.consumer.retrieval import PollingRetriever
from shardline.producer import envelope
from shardline.sessions import reader_session
from shardline.topology import default_client_options


@dataclass
class _Lineage:
    """Which shards are being read, which ended, and each shard's parents and range."""

    parents: dict[str, set[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)

    def learn(self, shard: dict[str, Any]) -> None:
        shard_id = shard["ShardId"]
        parents = {shard.get("ParentShardId"), shard.get("AdjacentParentShardId")}
        self.parents.setdefault(shard_id, set()).update(p for p in parents if p)
        key_range = shard["HashKeyRange"]
        self.ranges[shard_id] = (int(key_range["StartingHashKey"]), int(key_range["EndingHashKey"]))

    def ready(self) -> list[str]:
        """Shards not started whose listed parents have all ended."""
        return [
            shard
            for shard, parents in self.parents.items()
            if shard not in self.started
            and all(p in self.ended or p not in self.parents for p in parents)
        ]


def _render(
    record: dict[str, Any], shard_id: str, user: aggregation.UserRecord, as_json: bool
) -> str:
    opened = envelope.decode(user.data)
    if not as_json:
        text = opened.payload.decode("utf-8", errors="replace")
        return f"[{opened.record_id}] {text}" if opened.record_id else text
    try:
        data: dict[str, str] = {"data": opened.payload.decode("utf-8")}
    except UnicodeDecodeError:
        data = {"data_base64": base64.b64encode(opened.payload).decode()}
    return json.dumps(
        {
            "shard_id": shard_id,
            "sequence_number": record["SequenceNumber"],
            "sub_sequence_number": user.sub_sequence_number,
            "partition_key": user.partition_key,
            "record_id": opened.record_id,
            "arrival": record["ApproximateArrivalTimestamp"].isoformat(),
            **data,
        }
    )


async def _tail(config: ConsumerConfig, start: Position, count: int | None, as_json: bool) -> int:
    printed = 0
    done = asyncio.Event()
    lineage = _Lineage()
    tasks: set[asyncio.Task[None]] = set()
    async with reader_session().create_client(
        "kinesis",
        endpoint_url=config.endpoint_url,
        region_name=config.region_name,
        **config.client_options,
    ) as client:
        page = await client.list_shards(StreamName=config.stream_name)
        shards = list(page["Shards"])
        while page.get("NextToken"):
            page = await client.list_shards(NextToken=page["NextToken"])
            shards.extend(page["Shards"])
        for shard in shards:
            if (
                start.sequence == "LATEST"
                and "EndingSequenceNumber" in shard["SequenceNumberRange"]
            ):
                continue  # a closed shard gets no new records
            lineage.learn(shard)

        # A child shard found while tailing is read from its start (its parent's
        # records up to the reshard were read already), unless a timestamp applies.
        later = start if start.sequence == "AT_TIMESTAMP" else Position("TRIM_HORIZON")

        async def read(shard_id: str, position: Position) -> None:
            nonlocal printed
            retriever = PollingRetriever(client, config, shard_id)
            async for fetched in retriever.batches(position):
                for record in fetched.records:
                    users = aggregation.deaggregate(
                        record["Data"],
                        record["PartitionKey"],
                        record.get("ExplicitHashKey"),
                        hash_range=lineage.ranges.get(shard_id),
                    )
                    for user in users:
                        click.echo(_render(record, shard_id, user, as_json))
                        printed += 1
                        if count is not None and printed >= count:
                            done.set()
                            return
                if fetched.shard_end:
                    lineage.ended.add(shard_id)
                    for child in fetched.children:
                        lineage.learn(child)
                    launch(later)

        def launch(position: Position) -> None:
            for shard_id in lineage.ready():
                lineage.started.add(shard_id)
                task = asyncio.create_task(read(shard_id, position))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        launch(start)
        try:
            await done.wait()
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
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
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.2),
    default=0.5,
    show_default=True,
    help="Pause after an empty read of a shard, in seconds (floor 0.2, as in the KCL).",
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
    poll_interval: float,
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
        client_options=default_client_options(),
        initial_position=position,
        initial_timestamp=timestamp,
        idle_time_between_reads_s=poll_interval,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_tail(config, Position(position), count, as_json))
