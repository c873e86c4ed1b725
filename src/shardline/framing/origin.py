"""The origin marker: which region a replicated record was first written to.

Kinesis records have no headers, so, like the record-id envelope
(:mod:`shardline.framing.envelope`), the marker travels in the data. The
replicator wraps each record it copies::

    8F 53 4C 02  ||  origin name length (1 byte)  ||  origin name (UTF-8)  ||  data
    magic "\\x8fSL" + version 2

``data`` is the source record's data unchanged (a plain payload, a record-id
envelope or a whole KPL aggregate). A record that already carries a marker keeps its
first origin when copied on, and a replicator never copies a record into the region
named by its marker: that is the loop prevention that bidirectional replication
(for example a reverse replication during failback) needs. Pulsar's
``replicated_from`` and MSK Replicator's ``__mskmr`` header do the same job.

Shardline's consumer strips the marker and reports it as
``ConsumerRecord.origin_region``. Readers that do not know the marker see it
before the payload, which is why the topology can turn marking off
(``[replication] mark_origin = false``) for one-way replication.
"""

from __future__ import annotations

MAGIC = b"\x8fSL\x02"
MAX_NAME_BYTES = 255


def mark(origin: str, data: bytes) -> bytes:
    """Wrap ``data`` with its origin region. Raises ValueError for an over-long name."""
    name = origin.encode()
    if not name or len(name) > MAX_NAME_BYTES:
        raise ValueError(f"an origin region name is 1..{MAX_NAME_BYTES} bytes, got {origin!r}")
    return MAGIC + bytes([len(name)]) + name + data


def unwrap(data: bytes) -> tuple[str | None, bytes]:
    """``(origin, inner data)``; ``(None, data)`` for data without a whole marker."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 1:
        return None, data
    length = data[len(MAGIC)]
    start = len(MAGIC) + 1
    if length == 0 or len(data) < start + length:
        return None, data
    try:
        origin = data[start : start + length].decode()
    except UnicodeDecodeError:
        return None, data
    return origin, data[start + length :]
