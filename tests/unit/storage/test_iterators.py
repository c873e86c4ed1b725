"""Shard iterators and NextTokens: opaque, tamper-proof, expiring after 5 minutes."""

from __future__ import annotations

import pytest

from shardline.errors import (
    ExpiredIteratorException,
    ExpiredNextTokenException,
    InvalidArgumentException,
)
from shardline.storage import iterators


def test_iterator_round_trips_and_rejects_tampering() -> None:
    signer = iterators.TokenSigner(b"s" * 32)
    token = signer.iterator("orders", 1_700_000_000_000, 3, 12345)
    state = signer.open_iterator(token)
    assert (state.stream_name, state.shard_index, state.position) == ("orders", 3, 12345)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidArgumentException):
        signer.open_iterator(forged)
    with pytest.raises(InvalidArgumentException):
        iterators.TokenSigner(b"x" * 32).open_iterator(token)  # another server's secret
    with pytest.raises(InvalidArgumentException):
        signer.open_iterator("not base64 at all!")


def test_iterator_expires_after_five_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_700_000_000_000]
    monkeypatch.setattr(iterators, "now_ms", lambda: clock[0])
    signer = iterators.TokenSigner(b"s" * 32)
    token = signer.iterator("orders", 1, 0, 0)
    clock[0] += 300_000
    signer.open_iterator(token)  # exactly five minutes: still valid
    clock[0] += 1
    with pytest.raises(ExpiredIteratorException) as exc:
        signer.open_iterator(token)
    assert "tolerated delay of 300000 milliseconds" in str(exc.value)


def test_next_tokens_are_bound_to_their_operation_and_expire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1_700_000_000_000]
    monkeypatch.setattr(iterators, "now_ms", lambda: clock[0])
    signer = iterators.TokenSigner(b"s" * 32)
    token = signer.next_token("ListShards", "orders", "7")
    assert signer.open_next_token("ListShards", token) == ["orders", "7"]
    with pytest.raises(InvalidArgumentException):
        signer.open_next_token("ListStreams", token)
    clock[0] += 300_001
    with pytest.raises(ExpiredNextTokenException):
        signer.open_next_token("ListShards", token)
