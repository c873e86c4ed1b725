"""A minimal consumer: print every record of a stream, checkpointing each batch.

    shardline serve &                       # a local region on 127.0.0.1:4567
    python examples/consumer_print.py orders

Start it twice (or more) and the workers share the shards; stop one with Ctrl-C and
the others take its shards at once; kill one with ``kill -9`` and they take them
after the failover time (10 s).
"""

from __future__ import annotations

import sys

from shardline.consumer import ConsumerConfig, ProcessRecordsInput, RecordProcessor, run


class PrintProcessor(RecordProcessor):
    async def process_records(self, batch: ProcessRecordsInput) -> None:
        for record in batch.records:
            print(f"{batch.shard_id} {record.sequence_number} {record.partition_key} "
                  f"{record.data!r}")
        await batch.checkpointer.checkpoint()


if __name__ == "__main__":
    stream = sys.argv[1] if len(sys.argv) > 1 else "orders"
    config = ConsumerConfig(
        application_name=f"{stream}-printer",
        stream_name=stream,
        endpoint_url="http://127.0.0.1:4567",  # no credentials needed for a local region
        initial_position="TRIM_HORIZON",
    )
    run(config, PrintProcessor)
