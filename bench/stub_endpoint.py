"""A Kinesis JSON-protocol endpoint that stores nothing.

It answers just enough of the API (CreateStream, DescribeStreamSummary,
DescribeStream, ListStreams, ListShards, PutRecord, PutRecords,
GetShardIterator, GetRecords, DeleteStream) with minimal valid responses, so
the benchmark can measure the client-side ceiling: the cost of boto3
serialising requests and parsing responses over a loopback HTTP/1.1
keep-alive connection, with a server that does (almost) no work.

Standard library only (raw asyncio), so it runs under any Python 3.9+.

    python bench/stub_endpoint.py --port 4567 [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import time
import uuid
from typing import Any

SHARD_COUNT = 4
SHARD_IDS = [f"shardId-{i:012d}" for i in range(SHARD_COUNT)]
HASH_SPAN = 2**128 // SHARD_COUNT
MAX_BODY = 64 * 1024 * 1024
CONTENT_TYPE = "application/x-amz-json-1.1"


class Stub:
    def __init__(self) -> None:
        self.seq = 49_000_000_000_000_000_000_000_000_000_000_000_000_000_000
        self.account = "000000000000"

    def _next_seq(self) -> str:
        self.seq += 1
        return str(self.seq)

    def _arn(self, name: str) -> str:
        return f"arn:aws:kinesis:us-east-1:{self.account}:stream/{name}"

    def _shards(self) -> list[Any]:
        shards = []
        for i, sid in enumerate(SHARD_IDS):
            lo = i * HASH_SPAN
            hi = (2**128 - 1) if i == SHARD_COUNT - 1 else (i + 1) * HASH_SPAN - 1
            shards.append(
                {
                    "ShardId": sid,
                    "HashKeyRange": {"StartingHashKey": str(lo), "EndingHashKey": str(hi)},
                    "SequenceNumberRange": {"StartingSequenceNumber": "0"},
                }
            )
        return shards

    @staticmethod
    def _shard_of(entry: dict[str, Any]) -> str:
        """The shard a real server routes ``entry`` to (MD5 of the partition key, or
        the explicit hash key), so that a producer's shard prediction holds."""
        explicit = entry.get("ExplicitHashKey")
        if explicit is not None:
            value = int(explicit)
        else:
            key = str(entry.get("PartitionKey", "")).encode()
            value = int.from_bytes(hashlib.md5(key).digest(), "big")
        return SHARD_IDS[min(value // HASH_SPAN, SHARD_COUNT - 1)]

    def handle(self, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Return (status, payload) for the operation named by X-Amz-Target."""
        op = target.rsplit(".", 1)[-1]
        name = body.get("StreamName") or "stub"
        if op == "PutRecords":
            recs = body.get("Records") or []
            out = [{"SequenceNumber": self._next_seq(), "ShardId": self._shard_of(r)} for r in recs]
            return 200, {"FailedRecordCount": 0, "Records": out}
        if op == "PutRecord":
            return 200, {"ShardId": self._shard_of(body), "SequenceNumber": self._next_seq()}
        if op == "GetRecords":
            return 200, {
                "Records": [],
                "NextShardIterator": body.get("ShardIterator") or uuid.uuid4().hex,
                "MillisBehindLatest": 0,
            }
        if op == "GetShardIterator":
            return 200, {
                "ShardIterator": "stub-{}-{}".format(body.get("ShardId", ""), uuid.uuid4().hex)
            }
        if op in (
            "CreateStream",
            "DeleteStream",
            "IncreaseStreamRetentionPeriod",
            "DecreaseStreamRetentionPeriod",
            "AddTagsToStream",
        ):
            return 200, {}
        if op == "DescribeStreamSummary":
            return 200, {
                "StreamDescriptionSummary": {
                    "StreamName": name,
                    "StreamARN": self._arn(name),
                    "StreamStatus": "ACTIVE",
                    "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                    "RetentionPeriodHours": 24,
                    "StreamCreationTimestamp": time.time(),
                    "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                    "EncryptionType": "NONE",
                    "OpenShardCount": SHARD_COUNT,
                    "ConsumerCount": 0,
                }
            }
        if op == "DescribeStream":
            return 200, {
                "StreamDescription": {
                    "StreamName": name,
                    "StreamARN": self._arn(name),
                    "StreamStatus": "ACTIVE",
                    "Shards": self._shards(),
                    "HasMoreShards": False,
                    "RetentionPeriodHours": 24,
                    "StreamCreationTimestamp": time.time(),
                    "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                    "EncryptionType": "NONE",
                }
            }
        if op == "ListShards":
            return 200, {"Shards": self._shards()}
        if op == "ListStreams":
            return 200, {"StreamNames": [], "HasMoreStreams": False, "StreamSummaries": []}
        return 400, {
            "__type": "UnknownOperationException",
            "message": f"stub does not implement {op}",
        }


async def _serve_conn(
    stub: Stub, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length") or 0)
            if length > MAX_BODY:
                return
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            raw = await reader.readexactly(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
                status, payload = stub.handle(headers.get("x-amz-target", ""), body)
            except Exception as exc:  # malformed input: answer, don't die
                status, payload = 400, {"__type": "SerializationException", "message": str(exc)}
            out = json.dumps(payload, separators=(",", ":")).encode()
            reason = b"OK" if status == 200 else b"Bad Request"
            writer.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                b"x-amzn-RequestId: %s\r\n\r\n"
                % (status, reason, CONTENT_TYPE.encode(), len(out), uuid.uuid4().hex.encode())
                + out
            )
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def main_async(host: str, port: int) -> None:
    stub = Stub()
    server = await asyncio.start_server(
        lambda r, w: _serve_conn(stub, r, w), host, port, limit=MAX_BODY
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"stub listening on http://{host}:{port}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=4567)
    args = ap.parse_args()
    asyncio.run(main_async(args.host, args.port))


if __name__ == "__main__":
    main()
