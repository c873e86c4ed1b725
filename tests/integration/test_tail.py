"""``tail_records``: lineage followed across a reshard that happens while tailing."""

from __future__ import annotations

import asyncio
from typing import Any

from shardline.consumer.config import ConsumerConfig
from shardline.consumer.positions import Position
from shardline.consumer.tail import tail_records
from shardline.kinesis import connect, wait_stream_active
from shardline.testing import RegionProcess

#: In the upper shard's range: the key stays in one shard's order before and after.
HASH_KEY = str(2**127 + 5)
#: Records in the upper shard before the merge, read one per GetRecords call, so its
#: reader is still busy long after the (empty) lower shard ends.
BEFORE = 600


async def _put(client: Any, stream: str, payloads: list[bytes]) -> None:
    for start in range(0, len(payloads), 500):
        entries = [
            {"Data": data, "PartitionKey": "k", "ExplicitHashKey": HASH_KEY}
            for data in payloads[start : start + 500]
        ]
        result = await client.put_records(StreamName=stream, Records=entries)
        assert result["FailedRecordCount"] == 0


def test_a_merge_child_found_while_tailing_waits_for_both_parents(
    region: RegionProcess, make_stream: Any
) -> None:
    """The merged shard learnt from GetRecords' ChildShards names both parents, so
    its records come after every record of the parent still being read."""
    stream = make_stream(2)
    config = ConsumerConfig(
        "tail-test", stream, endpoint_url=region.url, max_records=1, idle_time_between_reads_s=0.2
    )
    before = [f"b{i}".encode() for i in range(BEFORE)]

    async def run() -> list[bytes]:
        async with connect(config.endpoint(), reader=True) as client:
            await _put(client, stream, before)
            records = tail_records(client, config, Position("TRIM_HORIZON"))
            try:
                seen = [(await anext(records)).payload]  # the shards are listed now
                await client.merge_shards(
                    StreamName=stream,
                    ShardToMerge="shardId-000000000000",
                    AdjacentShardToMerge="shardId-000000000001",
                )
                await wait_stream_active(client, stream)
                await _put(client, stream, [b"after"])
                async with asyncio.timeout(120):
                    while len(seen) < BEFORE + 1:
                        seen.append((await anext(records)).payload)
            finally:
                await records.aclose()
            return seen

    assert asyncio.run(run()) == [*before, b"after"]
