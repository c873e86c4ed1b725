"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

SubscribeToShard answers with a stream of messages, each framed as::

    u32 total length | u32 headers length | u32 CRC32(prelude)
    headers: (u8 name length, name, u8 type = 7 (string), u16 value length, value)*
    payload
    u32 CRC32(everything before)

This is exactly what botocore's ``EventStream`` and the other AWS SDKs decode.
"""

from __future__ import annotations

import struct
import zlib

_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")
_STRING = 7


def _headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        out += bytes((len(raw_name),)) + raw_name + bytes((_STRING,))
        out += struct.pack(">H", len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One framed message with string-valued ``headers`` and ``payload``."""
    head = _headers(headers)
    total = _PRELUDE.size + _CRC.size + len(head) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total, len(head))
    prelude_crc = _CRC.pack(zlib.crc32(prelude))
    # The message CRC runs over the parts in turn: a fan-out event's payload is
    # megabytes, not worth copying into one buffer only to checksum it.
    crc = zlib.crc32(prelude_crc, zlib.crc32(prelude))
    crc = zlib.crc32(payload, zlib.crc32(head, crc))
    return b"".join((prelude, prelude_crc, head, payload, _CRC.pack(crc)))


def event(event_type: str, payload: bytes, content_type: str) -> bytes:
    return encode_message(
        {":message-type": "event", ":event-type": event_type, ":content-type": content_type},
        payload,
    )


def exception(code: str, payload: bytes, content_type: str) -> bytes:
    return encode_message(
        {":message-type": "exception", ":exception-type": code, ":content-type": content_type},
        payload,
    )
