"""The envelope a producer wraps around each record: its id in front of the payload."""

from __future__ import annotations

import pytest

from shardline.framing import envelope


def test_envelope_carries_the_id_in_front_of_the_payload() -> None:
    record_id = "0123456789abcdef" * 2
    data = envelope.encode(record_id, b'{"v": 1}')
    assert data[:4] == envelope.MAGIC and len(data) == envelope.HEADER_BYTES + 8
    assert envelope.decode(data) == envelope.Enveloped(record_id, b'{"v": 1}')


@pytest.mark.parametrize(
    "data", [b"", b"plain", '{"json": "ü"}'.encode(), envelope.MAGIC + b"short"]
)
def test_data_without_an_envelope_decodes_to_no_id(data: bytes) -> None:
    assert envelope.decode(data) == envelope.Enveloped(None, data)


def test_envelope_refuses_ids_of_the_wrong_length() -> None:
    with pytest.raises(ValueError):
        envelope.encode("abcd", b"x")
