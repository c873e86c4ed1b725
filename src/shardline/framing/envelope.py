"""The record-id envelope: how a producer-assigned id travels with a record.

Kinesis records have no headers, only data, a partition key and an explicit hash
key, and the last two route the record, so the id has to travel in the data. With
``ProducerConfig(record_ids=True)`` each record's data becomes::

    8F 53 4C 01  ||  record id (16 bytes)  ||  payload
    magic "\\x8fSL" + version 1

The 16-byte id is the producer session's 8 random bytes followed by a 64-bit counter,
shown as 32 lowercase hex digits. It is assigned when put() accepts the record and
is stored in the spool with it, so every re-send (after throttling, a producer crash
or a destination switch) carries the same id. The envelope is applied per user
record, *inside* a KPL aggregate, and replication copies data unchanged, so the id
reaches every region and every consumer.

Why this shape: 20 fixed bytes cost little and need no parser; the first byte 0x8F
can never start UTF-8 text (JSON, CSV, logs), so text payloads are never mistaken for
enveloped ones. The trade-off: readers that do not know the envelope see 20 extra
bytes before the payload, which is why it is opt-in per producer. Idempotent sinks
call :func:`decode` and use ``record_id`` (plus event time) in their conditional
writes; a record without an envelope decodes to ``record_id=None``.
"""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"\x8fSL\x01"
ID_BYTES = 16
HEADER_BYTES = len(MAGIC) + ID_BYTES


@dataclass(frozen=True, slots=True)
class Enveloped:
    """A decoded record: its producer-assigned id (None without envelope) and payload."""

    record_id: str | None
    payload: bytes


def encode(record_id: str, payload: bytes) -> bytes:
    """Wrap ``payload`` with ``record_id`` (32 hex digits). Raises ValueError otherwise."""
    raw = bytes.fromhex(record_id)
    if len(raw) != ID_BYTES:
        raise ValueError(f"a record id is {ID_BYTES} bytes (32 hex digits), got {record_id!r}")
    return MAGIC + raw + payload


def has_envelope(data: bytes) -> bool:
    """True when ``data`` starts with the envelope's magic and holds a whole header."""
    return len(data) >= HEADER_BYTES and data.startswith(MAGIC)


def decode(data: bytes) -> Enveloped:
    """Split enveloped data into id and payload; other data passes through unchanged."""
    if not has_envelope(data):
        return Enveloped(None, data)
    return Enveloped(data[len(MAGIC) : HEADER_BYTES].hex(), data[HEADER_BYTES:])
