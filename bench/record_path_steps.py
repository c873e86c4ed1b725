"""What each step of the region's record path costs, in process, per record.

No HTTP and no client: the steps are called directly on a region in a temporary
directory (fsync on), so the figures are the server's own CPU, free of the client's
speed and of the machine's other load as far as a timer can be.

- **validate**: ``parse_input("PutRecords", ...)`` of a 500-record body (checks and
  base64, the C ``decode_entries``), best of 5 × ``--calls``;
- **answer**: the answer's ``Records`` serialized (``PutResults``), best of 5;
- **get JSON**: 500 stored records serialized as GetRecords writes them (``RecordList``);
- **whole put**: ``--calls`` PutRecords through the handler, with the body's parsing
  and the answer's encoding, as process CPU time (every thread, the writer's commit
  included), best of 5.

    python bench/record_path_steps.py             # ~15 s
    python bench/record_path_steps.py --calls 100

docs/performance.md keeps the figures, beside those of the Python these steps
replaced (commit 9002d78, timed the same way).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shardline.server import model, protocol
from shardline.server.handlers.records import PutResults, RecordList, put_records
from shardline.server.handlers.streams import create_stream
from shardline.server.runner import tune_collector
from shardline.storage.config import RegionConfig
from shardline.storage.region import Region

RECORDS = 500
REPEATS = 5


def per_record(step: Callable[[], object], calls: int) -> float:
    """Best-of-``REPEATS`` microseconds per record of ``calls`` runs of ``step``."""
    step()
    return min(timeit.repeat(step, number=calls, repeat=REPEATS)) / calls / RECORDS * 1e6


def request(rng: random.Random) -> dict[str, Any]:
    records = [
        {
            "Data": base64.b64encode(rng.randbytes(100)).decode(),
            "PartitionKey": f"{rng.getrandbits(128):032x}",
        }
        for _ in range(RECORDS)
    ]
    return {"StreamName": "steps", "Records": records}


async def open_region(data_dir: Path) -> Region:
    region = Region(
        RegionConfig(
            data_dir=data_dir, region="us-east-1", account_id="123456789012", create_delay_s=0
        )
    )
    await create_stream(region, {"StreamName": "steps", "ShardCount": 4})
    for _ in range(500):
        if region.catalog.describe("steps").status == "ACTIVE":
            return region
        await asyncio.sleep(0.01)
    raise TimeoutError("the stream did not become ACTIVE")


async def whole_put(region: Region, bodies: list[bytes], calls: int) -> float:
    """Process CPU microseconds per record of ``calls`` PutRecords, best of REPEATS."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for call in range(calls):
            params = model.parse_input(
                "PutRecords", protocol.decode("json", bodies[call % len(bodies)]), "json"
            )
            answer = await put_records(region, params)
            if answer is None or answer["FailedRecordCount"]:
                raise RuntimeError("a record was not stored")
            protocol.encode("json", answer)
        best = min(best, (time.process_time() - started) / calls / RECORDS * 1e6)
    return best


async def measure(calls: int) -> dict[str, float]:
    rng = random.Random(1)
    body = request(rng)
    with tempfile.TemporaryDirectory() as data_dir:
        region = await open_region(Path(data_dir))
        try:
            params = model.parse_input("PutRecords", body, "json")
            receipt, _ = await region.records.put("steps", params["Records"])
            stored = [
                ((1_764_500_000_000 + i) << 16, record["PartitionKey"], rng.randbytes(100), False)
                for i, record in enumerate(body["Records"])
            ]
            bodies = [protocol.encode("json", request(rng)) for _ in range(10)]
            return {
                "validate": per_record(
                    lambda: model.parse_input("PutRecords", body, "json"), calls
                ),
                "answer": per_record(
                    lambda: protocol.encode("json", {"Records": PutResults(receipt)}), calls
                ),
                "get JSON": per_record(
                    lambda: protocol.encode("json", {"Records": RecordList(stored, 1)}), calls
                ),
                "whole put": await whole_put(region, bodies, calls),
            }
        finally:
            await region.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per repeat [300]")
    args = parser.parse_args()
    tune_collector()
    for step, micros in asyncio.run(measure(args.calls)).items():
        print(f"{step:10}  {micros:6.3f} us/record")


if __name__ == "__main__":
    main()
