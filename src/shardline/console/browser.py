"""The console's stream browser: streams, shards and lineage, and a live tail.

Both speak only the Kinesis API to the topology's regions (any Kinesis endpoint,
AWS included), with short timeouts so an unreachable region answers with an error
instead of holding the page.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from shardline.consumer.config import ConsumerConfig
from shardline.consumer.positions import Position
from shardline.consumer.shard_sync import list_all_shards
from shardline.consumer.tail import TailedRecord, tail_records
from shardline.credentials import default_client_options
from shardline.topology import RegionSpec

#: A region that does not answer within this long is reported unreachable.
TIMEOUT_S = 3.0


def _client_config() -> AioConfig:
    return AioConfig(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=TIMEOUT_S,
        read_timeout=TIMEOUT_S,
    )


def shard_doc(shard: dict[str, Any]) -> dict[str, Any]:
    """One shard as the page shows it: id, parents, hash range, sequence range."""
    sequences = shard["SequenceNumberRange"]
    hashes = shard["HashKeyRange"]
    return {
        "id": shard["ShardId"],
        "parent": shard.get("ParentShardId"),
        "adjacent_parent": shard.get("AdjacentParentShardId"),
        "hash_range": [hashes["StartingHashKey"], hashes["EndingHashKey"]],
        "starting_sequence": sequences["StartingSequenceNumber"],
        "ending_sequence": sequences.get("EndingSequenceNumber"),
        "open": "EndingSequenceNumber" not in sequences,
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
    async with get_session().create_client(
        "kinesis", config=_client_config(), **region.client_kwargs()
    ) as client:
        for name in await _stream_names(client):
            summary = (await client.describe_stream_summary(StreamName=name))[
                "StreamDescriptionSummary"
            ]
            shards = await list_all_shards(client, name, None)
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
    async with get_session().create_client(
        "kinesis", config=_client_config(), **region.client_kwargs()
    ) as client:
        records = tail_records(client, config, Position("LATEST"))
        try:
            async for record in records:
                yield record_doc(record)
        finally:
            await records.aclose()
