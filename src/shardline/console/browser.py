"""The console's stream browser: streams, shards and lineage, and a live tail.

Both speak only the Kinesis API to the topology's regions (any Kinesis endpoint,
AWS included), with short timeouts so an unreachable region answers with an error
instead of holding the page.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator
from typing import Any

from shardline.consumer.config import ConsumerConfig
from shardline.consumer.positions import Position
from shardline.consumer.tail import TailedRecord, tail_records
from shardline.credentials import default_client_options
from shardline.kinesis import ShardInfo, connect, list_all_shards, quick_config
from shardline.topology import RegionSpec

#: A region that does not answer within this long is reported unreachable.
TIMEOUT_S = 3.0


def shard_doc(shard: ShardInfo) -> dict[str, Any]:
    """One shard as the page shows it: id, parents, hash range, sequence range."""
    return {
        "id": shard.shard_id,
        "parent": shard.parent,
        "adjacent_parent": shard.adjacent_parent,
        "hash_range": [str(shard.starting_hash_key), str(shard.ending_hash_key)],
        "starting_sequence": shard.starting_sequence,
        "ending_sequence": shard.ending_sequence,
        "open": shard.is_open,
    }


async def _stream_names(client: Any) -> list[str]:
    names: list[str] = []
    params: dict[str, Any] = {}
    while True:
        page = await client.list_streams(**params)
        names += page["StreamNames"]
        if not page.get("HasMoreStreams") or not page["StreamNames"]:
            return names
        params = {"ExclusiveStartStreamName": page["StreamNames"][-1]}


async def describe_region(region: RegionSpec) -> dict[str, Any]:
    """Every stream of ``region`` with its shards (raises on an unreachable region)."""
    streams = []
    async with connect(region.endpoint(), config=quick_config(TIMEOUT_S)) as client:
        for name in await _stream_names(client):
            summary = (await client.describe_stream_summary(StreamName=name))[
                "StreamDescriptionSummary"
            ]
            shards = await list_all_shards(client, name)
            streams.append(
                {
                    "name": name,
                    "status": summary["StreamStatus"],
                    "mode": summary.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED"),
                    "retention_hours": summary["RetentionPeriodHours"],
                    "encryption": summary.get("EncryptionType", "NONE"),
                    "shards": [shard_doc(shard) for shard in shards],
                }
            )
    return {"region": region.name, "streams": streams}


def record_doc(record: TailedRecord) -> dict[str, Any]:
    """One tailed user record for the page: text when it is UTF-8, else base64."""
    doc: dict[str, Any] = {
        "shard": record.shard_id,
        "sequence_number": record.sequence_number,
        "sub_sequence_number": record.sub_sequence_number,
        "partition_key": record.partition_key,
        "arrival": record.arrival.timestamp(),
        "record_id": record.record_id,
        "origin_region": record.origin_region,
        "aggregated": record.aggregated,
    }
    try:
        doc["text"] = record.payload.decode("utf-8")
    except UnicodeDecodeError:
        doc["base64"] = base64.b64encode(record.payload).decode()
    return doc


async def tail(region: RegionSpec, stream: str) -> AsyncGenerator[dict[str, Any], None]:
    """``stream``'s new records in ``region`` as they arrive, until the caller stops."""
    config = ConsumerConfig(
        "shardline-console",
        stream,
        endpoint_url=region.endpoint_url,
        region_name=region.region_name,
        client_options=default_client_options(),
        idle_time_between_reads_s=0.5,
    )
    async with connect(region.endpoint(), config=quick_config(TIMEOUT_S)) as client:
        records = tail_records(client, config, Position("LATEST"))
        try:
            async for record in records:
                yield record_doc(record)
        finally:
            await records.aclose()
