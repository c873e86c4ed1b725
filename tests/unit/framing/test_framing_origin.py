"""The origin marker a replicator wraps around each copied record."""

from __future__ import annotations

import pytest

from shardline.framing import origin


@pytest.mark.parametrize("data", [b"", b"payload", origin.MAGIC + b"looks like a marker"])
def test_unwrap_returns_what_mark_wrapped(data: bytes) -> None:
    assert origin.unwrap(origin.mark("us-east-1", data)) == ("us-east-1", data)


def test_a_name_of_the_longest_length_round_trips() -> None:
    name = "r" * origin.MAX_NAME_BYTES
    assert origin.unwrap(origin.mark(name, b"x")) == (name, b"x")


@pytest.mark.parametrize("data", [b"", b"plain payload", b"\x8fSL\x01old version"])
def test_data_without_a_marker_passes_through(data: bytes) -> None:
    assert origin.unwrap(data) == (None, data)


@pytest.mark.parametrize("name", ["", "r" * (origin.MAX_NAME_BYTES + 1), "é" * 128])
def test_names_that_do_not_fit_in_a_marker_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="origin region name"):
        origin.mark(name, b"data")


@pytest.mark.parametrize(
    "truncated",
    [
        origin.MAGIC,  # no length byte
        origin.MAGIC + bytes([9]) + b"us-ea",  # name shorter than its length
        origin.MAGIC + bytes([0]) + b"data",  # empty name
        origin.MAGIC + bytes([2]) + b"\xff\xfe",  # not UTF-8
    ],
)
def test_an_incomplete_marker_passes_through_unchanged(truncated: bytes) -> None:
    assert origin.unwrap(truncated) == (None, truncated)
