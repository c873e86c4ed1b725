"""Shard iterators and pagination tokens: opaque, tamper-proof, expiring.

An iterator carries everything GetRecords needs (stream, stream incarnation, shard,
next sequence key, issue time), sealed with an HMAC whose secret lives in the data
directory. So iterators survive a server restart, a forged or garbled one is an
``InvalidArgumentException`` rather than a crash, and one older than five minutes is
an ``ExpiredIteratorException``, as on AWS.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import struct
from dataclasses import dataclass

from shardline.errors import (
    ExpiredIteratorException,
    ExpiredNextTokenException,
    InvalidArgumentException,
)
from shardline.storage.sequence import now_ms

ITERATOR_TTL_MS = 300_000
_MAC = 16
_ITERATOR = struct.Struct(">BqqIq")  # version, stream created ms, position key, shard, issued ms
_VERSION = 1


@dataclass(frozen=True)
class IteratorState:
    stream_name: str
    stream_created_ms: int
    shard_index: int
    position: int
    issued_ms: int


class TokenSigner:
    """Seals and opens iterators and NextTokens with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC]

    def _seal(self, payload: bytes) -> str:
        return base64.b64encode(payload + self._mac(payload)).decode("ascii")

    def _open(self, token: str) -> bytes | None:
        try:
            raw = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            return None
        payload, mac = raw[:-_MAC], raw[-_MAC:]
        if len(raw) <= _MAC or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        return payload

    def iterator(self, stream_name: str, created_ms: int, shard_index: int, position: int) -> str:
        head = _ITERATOR.pack(_VERSION, created_ms, position, shard_index, now_ms())
        return self._seal(head + stream_name.encode("utf-8"))

    def open_iterator(self, token: str) -> IteratorState:
        """Error handling: garbled or forged → InvalidArgumentException; too old → Expired."""
        payload = self._open(token)
        if payload is None or len(payload) < _ITERATOR.size or payload[0] != _VERSION:
            raise InvalidArgumentException("Invalid ShardIterator.")
        _, created, position, shard, issued = _ITERATOR.unpack_from(payload)
        age = now_ms() - issued
        if age > ITERATOR_TTL_MS:
            raise ExpiredIteratorException(
                f"Iterator expired. The iterator was created at time {java_date(issued)} "
                f"while right now it is {java_date(now_ms())} which is further in the future "
                f"than the tolerated delay of {ITERATOR_TTL_MS} milliseconds."
            )
        name = payload[_ITERATOR.size :].decode("utf-8")
        return IteratorState(name, created, shard, position, issued)

    def next_token(self, kind: str, *parts: str) -> str:
        """A pagination token for ``kind`` (e.g. ListShards) that expires in 5 minutes."""
        body = "\x00".join((kind, str(now_ms()), *parts))
        return self._seal(body.encode("utf-8"))

    def open_next_token(self, kind: str, token: str) -> list[str]:
        payload = self._open(token)
        fields = payload.decode("utf-8").split("\x00") if payload is not None else []
        if len(fields) < 2 or fields[0] != kind or not fields[1].isdigit():
            raise InvalidArgumentException("Invalid NextToken.")
        if now_ms() - int(fields[1]) > ITERATOR_TTL_MS:
            raise ExpiredNextTokenException(
                f"The timestamp of the NextToken is older than {ITERATOR_TTL_MS // 1000} seconds."
            )
        return fields[2:]


def java_date(epoch_ms: int) -> str:
    """An instant as Java's ``Date.toString()`` prints it in UTC, which is how AWS's
    messages show it: ``Mon Nov 30 05:17:55 UTC 2026``."""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC)
    return moment.strftime(
        f"{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} %d %H:%M:%S UTC %Y"
    )


# English names whatever the locale, as Java prints them.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
