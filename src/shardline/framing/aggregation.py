"""KPL record aggregation: many user records in one Kinesis record, byte-compatible.

The format (KPL ``aggregation-format.md``) is::

    F3 89 9A C2  ||  protobuf AggregatedRecord  ||  MD5(protobuf bytes)   (16 bytes)

    message AggregatedRecord {
      repeated string partition_key_table     = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records                 = 3;
    }
    message Record {
      required uint64 partition_key_index     = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes  data                    = 3;
      repeated Tag    tags                    = 4;
    }
    message Tag { required string key = 1; optional string value = 2; }

The producer writes an aggregate with partition key ``"a"`` and explicit hash key =
the first user record's hash key, as the KPL does, so it lands on the shard its
records were predicted for. Readers (our consumer, the KCL, ``aws-kinesis-agg``)
split it again; user record *i* gets sub-sequence number *i*.

The message classes are built at import from a descriptor in a private pool (no
``protoc`` step), so they never clash with another library's registration of the
same ``aws.kinesis.protobuf`` names in protobuf's default pool.

Error handling: data that only looks like an aggregate (magic present but the MD5
does not match, or the protobuf does not parse) is *not* an aggregate — the KCL
delivers such a record as it is, and so does :func:`deaggregate`. An aggregate whose
tables are inconsistent (an index past the end of a table) raises
:class:`MalformedAggregateError`, as the KCL does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from shardline.errors import ShardlineError

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_SIZE = 16
#: Partition key the KPL gives every aggregate (its records carry their own keys).
AGGREGATE_PARTITION_KEY = "a"
#: Largest hash key: Kinesis hash keys are 128-bit unsigned integers.
MAX_HASH_KEY = 2**128 - 1

_OPTIONAL, _REQUIRED, _REPEATED = 1, 2, 3
_UINT64, _STRING, _BYTES, _MESSAGE = 4, 9, 12, 11


class MalformedAggregateError(ShardlineError):
    """An aggregate passed its MD5 check but refers to table entries it does not have.

    The record cannot be split; the KCL fails on such a record too. It was not
    written by a correct KPL-compatible producer.
    """


def _message_classes() -> tuple[Any, Any]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="shardline/kpl_aggregation.proto", package="aws.kinesis.protobuf", syntax="proto2"
    )
    tag = proto.message_type.add(name="Tag")
    tag.field.add(name="key", number=1, label=_REQUIRED, type=_STRING)
    tag.field.add(name="value", number=2, label=_OPTIONAL, type=_STRING)
    record = proto.message_type.add(name="Record")
    record.field.add(name="partition_key_index", number=1, label=_REQUIRED, type=_UINT64)
    record.field.add(name="explicit_hash_key_index", number=2, label=_OPTIONAL, type=_UINT64)
    record.field.add(name="data", number=3, label=_REQUIRED, type=_BYTES)
    record.field.add(
        name="tags", number=4, label=_REPEATED, type=_MESSAGE, type_name=".aws.kinesis.protobuf.Tag"
    )
    aggregated = proto.message_type.add(name="AggregatedRecord")
    aggregated.field.add(name="partition_key_table", number=1, label=_REPEATED, type=_STRING)
    aggregated.field.add(name="explicit_hash_key_table", number=2, label=_REPEATED, type=_STRING)
    aggregated.field.add(
        name="records",
        number=3,
        label=_REPEATED,
        type=_MESSAGE,
        type_name=".aws.kinesis.protobuf.Record",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    find = pool.FindMessageTypeByName
    return (
        message_factory.GetMessageClass(find("aws.kinesis.protobuf.AggregatedRecord")),
        message_factory.GetMessageClass(find("aws.kinesis.protobuf.Record")),
    )


_AggregatedRecord, _Record = _message_classes()


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One user record, as put by a producer or as found inside an aggregate.

    ``sub_sequence_number`` is the record's index inside its aggregate (0 for a
    record that was not aggregated).
    """

    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None
    sub_sequence_number: int = 0


class _Aggregatable(Protocol):
    @property
    def partition_key(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def explicit_hash_key(self) -> str | None: ...


def hash_key_of(partition_key: str, explicit_hash_key: str | None = None) -> int:
    """The 128-bit hash key Kinesis routes a record by.

    The explicit hash key when there is one, else the MD5 of the UTF-8 partition key
    read as a big-endian unsigned integer (Kinesis's rule).
    """
    if explicit_hash_key is not None:
        return int(explicit_hash_key)
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


def aggregate(records: Sequence[_Aggregatable]) -> bytes:
    """Encode ``records`` (anything with partition_key, data, explicit_hash_key).

    Partition keys and explicit hash keys are stored once each in their tables.
    Raises ``ValueError`` for an empty sequence (an aggregate must hold a record).
    """
    if not records:
        raise ValueError("an aggregate needs at least one record")
    keys: dict[str, int] = {}
    hash_keys: dict[str, int] = {}
    out = _AggregatedRecord()
    entries = out.records
    for record in records:
        entry = entries.add()
        index = keys.get(record.partition_key)
        if index is None:
            index = keys[record.partition_key] = len(keys)
            out.partition_key_table.append(record.partition_key)
        entry.partition_key_index = index
        explicit = record.explicit_hash_key
        if explicit is not None:
            index = hash_keys.get(explicit)
            if index is None:
                index = hash_keys[explicit] = len(hash_keys)
                out.explicit_hash_key_table.append(explicit)
            entry.explicit_hash_key_index = index
        entry.data = record.data
    body: bytes = out.SerializeToString()
    return MAGIC + body + hashlib.md5(body).digest()


def is_aggregated(data: bytes) -> bool:
    """True when ``data`` carries the KPL magic and a matching MD5 digest."""
    if len(data) <= len(MAGIC) + DIGEST_SIZE or not data.startswith(MAGIC):
        return False
    body = memoryview(data)[len(MAGIC) : -DIGEST_SIZE]
    return hashlib.md5(body).digest() == data[-DIGEST_SIZE:]


def deaggregate(
    data: bytes,
    partition_key: str,
    explicit_hash_key: str | None = None,
    *,
    hash_range: tuple[int, int] | None = None,
) -> list[UserRecord]:
    """The user records inside one Kinesis record, with sub-sequence numbers.

    A record that is not an aggregate comes back as a single user record (with the
    partition key and explicit hash key it was read with), as the KCL does.

    ``hash_range`` (the receiving shard's starting and ending hash keys) applies the
    KCL's filter: if any user record's hash key lies outside it, the aggregate was
    written to the wrong shard and the whole aggregate is dropped (``[]``), so the
    copy on the right shard is the only one delivered.
    """
    if not is_aggregated(data):
        return [UserRecord(partition_key, data, explicit_hash_key, 0)]
    parsed = _AggregatedRecord()
    try:
        parsed.ParseFromString(memoryview(data)[len(MAGIC) : -DIGEST_SIZE])
    except message.DecodeError:
        return [UserRecord(partition_key, data, explicit_hash_key, 0)]
    keys = parsed.partition_key_table
    hash_keys = parsed.explicit_hash_key_table
    users: list[UserRecord] = []
    try:
        for index, entry in enumerate(parsed.records):
            explicit = (
                hash_keys[entry.explicit_hash_key_index]
                if entry.HasField("explicit_hash_key_index")
                else None
            )
            users.append(UserRecord(keys[entry.partition_key_index], entry.data, explicit, index))
    except IndexError as exc:
        raise MalformedAggregateError(
            f"aggregate refers to a missing table entry ({len(keys)} partition keys, "
            f"{len(hash_keys)} explicit hash keys)"
        ) from exc
    if hash_range is not None:
        low, high = hash_range
        for user in users:
            if not low <= hash_key_of(user.partition_key, user.explicit_hash_key) <= high:
                return []
    return users


def _varint_size(value: int) -> int:
    return 1 if value < 0x80 else (value.bit_length() + 6) // 7


def _field_size(payload: int) -> int:
    """Size of a length-delimited field with a one-byte tag holding ``payload`` bytes."""
    return 1 + _varint_size(payload) + payload


class AggregateSizer:
    """The exact encoded size of an aggregate as records are added, without encoding.

    The producer uses it to fill aggregates up to a size limit (the KPL's
    ``AggregationMaxSize``) in one pass; :func:`aggregate` produces exactly
    :attr:`size` bytes for the same records. Usage: ``grow = sizer.added_size(...)``,
    then, if the record fits, ``sizer.add(..., grow)``.
    """

    def __init__(self) -> None:
        self._keys: dict[str, int] = {}
        self._hash_keys: dict[str, int] = {}
        self.count = 0
        self.size = len(MAGIC) + DIGEST_SIZE

    def added_size(self, partition_key: str, explicit_hash_key: str | None, data_len: int) -> int:
        """How many bytes adding this record would add (table entries included)."""
        grow = 0
        key_index = self._keys.get(partition_key)
        if key_index is None:
            key_index = len(self._keys)
            grow += _field_size(len(partition_key.encode()))
        inner = 1 + _varint_size(key_index) + _field_size(data_len)
        if explicit_hash_key is not None:
            hash_index = self._hash_keys.get(explicit_hash_key)
            if hash_index is None:
                hash_index = len(self._hash_keys)
                grow += _field_size(len(explicit_hash_key))
            inner += 1 + _varint_size(hash_index)
        return grow + _field_size(inner)

    def add(self, partition_key: str, explicit_hash_key: str | None, grow: int) -> None:
        """Account for one more record whose :meth:`added_size` was ``grow``."""
        self.size += grow
        keys = self._keys
        if partition_key not in keys:
            keys[partition_key] = len(keys)
        if explicit_hash_key is not None and explicit_hash_key not in self._hash_keys:
            self._hash_keys[explicit_hash_key] = len(self._hash_keys)
        self.count += 1
