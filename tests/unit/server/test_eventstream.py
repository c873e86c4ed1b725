"""Event-stream framing, checked by botocore's own decoder (it verifies both CRCs)."""

from __future__ import annotations

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer, EventStreamMessage

from shardline.server import eventstream


def _decode(data: bytes) -> list[EventStreamMessage]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


@pytest.mark.parametrize("size", [0, 1, 70_000, 3_000_000])
def test_events_of_any_size_decode_with_their_headers_and_payload(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    (message,) = _decode(eventstream.event("SubscribeToShardEvent", payload, "application/json"))
    assert message.headers == {
        ":message-type": "event",
        ":event-type": "SubscribeToShardEvent",
        ":content-type": "application/json",
    }
    assert message.payload == payload


def test_a_flipped_payload_bit_fails_the_message_checksum() -> None:
    data = bytearray(eventstream.exception("InternalFailure", b'{"message":"x"}', "a/b"))
    data[-6] ^= 1
    with pytest.raises(ChecksumMismatch):
        _decode(bytes(data))
