"""The data plane: PutRecord(s), GetShardIterator, GetRecords."""

from __future__ import annotations

import binascii
import time
from typing import Any

from shardline.errors import (
    InvalidArgumentException,
    ProvisionedThroughputExceededException,
    ResourceNotFoundException,
)
from shardline.server._recordwire import render_put_results, render_records
from shardline.server.handlers.params import stream_name
from shardline.server.handlers.registry import operation
from shardline.server.handlers.shapes import child_shape
from shardline.server.protocol import LazyList, Timestamp
from shardline.storage.catalog import Shard, Stream, shard_id
from shardline.storage.entries import PutEntries
from shardline.storage.records import PutReceipt
from shardline.storage.region import Region
from shardline.storage.sequence import (
    COUNTER_BITS,
    format_sequence,
    sequence_prefix,
    shard_suffix,
)

GET_RECORDS_DEFAULT_LIMIT = 10_000


class RecordList(LazyList):
    """Stored records of one shard, rendered in a single pass for the wire: JSON in C
    (``_recordwire.render_records``), CBOR here."""

    __slots__ = ("records", "shard_index")

    def __init__(self, records: list[tuple[int, str, bytes, bool]], shard_index: int) -> None:
        self.records = records
        self.shard_index = shard_index

    def as_json(self) -> bytes:
        return render_records(self.records, shard_suffix(self.shard_index))

    def as_dicts(self, binary: bool) -> list[dict[str, Any]]:
        prefix, suffix = sequence_prefix(), shard_suffix(self.shard_index)
        to_base64 = binascii.b2a_base64
        out = []
        for key, partition_key, data, encrypted in self.records:
            arrival = (key >> COUNTER_BITS) / 1000
            record: dict[str, Any] = {
                "SequenceNumber": f"{prefix}{key:024d}{suffix}",
                "ApproximateArrivalTimestamp": Timestamp(arrival) if binary else arrival,
                "Data": data if binary else to_base64(data, newline=False).decode("ascii"),
                "PartitionKey": partition_key,
            }
            if encrypted:
                record["EncryptionType"] = "KMS"
            out.append(record)
        return out


def _encryption_type(stream: Stream) -> dict[str, str]:
    """``EncryptionType`` of a put's answer: present for encrypted streams only.

    The model leaves it optional and AWS sends it only when the records were
    encrypted (KMS), as it does for each record GetRecords returns.
    """
    return {"EncryptionType": "KMS"} if stream.encryption == "KMS" else {}


@operation("PutRecord")
async def put_record(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    # SequenceNumberForOrdering: any well-formed number (the model checks that) is
    # accepted, as on AWS; sequence numbers here always grow, so it changes nothing.
    explicit = p.get("ExplicitHashKey")
    entry = PutEntries([p["Data"]], [p["PartitionKey"]], None if explicit is None else [explicit])
    receipt, stream = await region.records.put(stream_name(region, p), entry, single=True)
    (outcome,) = receipt.outcomes()
    if outcome.error_code is not None:
        raise ProvisionedThroughputExceededException(outcome.error_message or "")
    return {
        "ShardId": f"shardId-{outcome.shard_index:012d}",
        "SequenceNumber": format_sequence(outcome.key, outcome.shard_index),
        **_encryption_type(stream),
    }


@operation("PutRecords")
async def put_records(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    name = stream_name(region, p)
    receipt, stream = await region.records.put(name, p["Records"])
    return {
        "FailedRecordCount": receipt.failed,
        "Records": PutResults(receipt),
        **_encryption_type(stream),
    }


class PutResults(LazyList):
    """PutRecords' result entries, rendered once the codec is known.

    JSON, when every record was stored, is written in C in one pass
    (``_recordwire.render_put_results``); CBOR and calls with throttled records build
    the entries here. Each shard's sequence-number tail and id come formatted with the
    route table (``RouteTable``), not per call or per record.
    """

    __slots__ = ("receipt",)

    def __init__(self, receipt: PutReceipt) -> None:
        self.receipt = receipt

    def as_json(self) -> bytes | None:
        receipt = self.receipt
        if receipt.admitted is not None:
            return None
        table = receipt.table
        return render_put_results(
            receipt.routes, receipt.first_key, table.suffixes, table.shard_ids
        )

    def as_dicts(self, binary: bool) -> list[dict[str, Any]]:
        prefix = sequence_prefix()
        shards: dict[int, tuple[str, str]] = {}
        results: list[dict[str, Any]] = []
        append = results.append
        for outcome in self.receipt.outcomes():
            index = outcome.shard_index
            if outcome.error_code is None:
                names = shards.get(index)
                if names is None:
                    names = shards[index] = (shard_suffix(index), shard_id(index))
                append(
                    {"SequenceNumber": f"{prefix}{outcome.key:024d}{names[0]}", "ShardId": names[1]}
                )
            else:
                append({"ErrorCode": outcome.error_code, "ErrorMessage": outcome.error_message})
        return results


def _shard_for_iterator(region: Region, name: str, shard_text: str) -> tuple[Stream, Shard]:
    index = region.shard_index(name, shard_text)
    stream = region.streams.get(name)
    shard = stream.shards.get(index) if stream is not None else None
    if stream is None or shard is None or stream.status in ("CREATING", "DELETING"):
        raise ResourceNotFoundException(
            f"Shard shardId-{index:012d} in stream {name} under account {region.account} "
            "does not exist"
        )
    return stream, shard


@operation("GetShardIterator")
async def get_shard_iterator(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    name = stream_name(region, p)
    stream, shard = _shard_for_iterator(region, name, p["ShardId"])
    position = region.records.position(
        stream, shard, p["ShardIteratorType"], p.get("StartingSequenceNumber"), p.get("Timestamp")
    )
    iterator = region.signer.iterator(name, stream.created_ms, shard.index, position)
    return {"ShardIterator": iterator}


def _check_iterator_stream(region: Region, arn: str | None, iterator_stream: str) -> None:
    """A GetRecords that names a stream must name the iterator's own stream.

    Why: access to a stream is decided on the ARN a request names, so an iterator
    of stream A read with ``StreamARN`` = stream B would let B's permissions read
    A's records. AWS refuses the call; so does Shardline, before reading anything.
    """
    if arn is not None and region.catalog.name_in_arn(arn) != iterator_stream:
        raise InvalidArgumentException(
            f"The shard iterator is for stream {iterator_stream}, not for the stream of "
            f"StreamARN {arn}. Use the StreamARN of the stream the iterator was created for."
        )


@operation("GetRecords")
async def get_records(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    state = region.signer.open_iterator(p["ShardIterator"].strip('"'))
    _check_iterator_stream(region, p.get("StreamARN"), state.stream_name)
    stream = region.streams.get(state.stream_name)
    shard = stream.shards.get(state.shard_index) if stream is not None else None
    if stream is None or shard is None or stream.created_ms != state.stream_created_ms:
        raise ResourceNotFoundException(
            f"Shard shardId-{state.shard_index:012d} in stream {state.stream_name} under account "
            f"{region.account} does not exist"
        )
    limit = p.get("Limit", GET_RECORDS_DEFAULT_LIMIT)
    result = await region.records.read(stream, shard, state.position, limit)
    region.records.count_read(stream, shard, result, started)
    index = shard.index
    records = RecordList(result.records, index)
    out: dict[str, Any] = {"Records": records, "MillisBehindLatest": result.millis_behind}
    if result.next_position is None:
        out["ChildShards"] = [child_shape(c) for c in result.children]
    else:
        out["NextShardIterator"] = region.signer.iterator(
            stream.name, stream.created_ms, index, result.next_position
        )
    return out
