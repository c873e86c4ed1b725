"""The two wire encodings Kinesis speaks: AWS JSON 1.1 and CBOR 1.1.

Handlers build responses from plain Python values: ``bytes`` for blobs and
:class:`Timestamp` for instants. Each codec turns those into its own form:

- JSON: blobs as base64 strings, timestamps as epoch seconds (a JSON number).
- CBOR (AWS Java SDK v2's default for Kinesis): blobs as byte strings, timestamps as
  tag 1 wrapping *epoch milliseconds* as an integer, which is what the SDK writes and
  reads (not the seconds of RFC 8949).
"""

from __future__ import annotations

import abc
import base64
import datetime as dt
from typing import Any, Literal

import cbor2
import orjson

from shardline.errors import SerializationException

Protocol = Literal["json", "cbor"]

JSON_TYPE = "application/x-amz-json-1.1"
CBOR_TYPE = "application/x-amz-cbor-1.1"
_CONTENT_TYPES: dict[str, Protocol] = {JSON_TYPE: "json", CBOR_TYPE: "cbor"}


class Timestamp(float):
    """Epoch seconds that the codecs encode as a timestamp (a JSON number as is)."""

    __slots__ = ()

    @classmethod
    def from_ms(cls, epoch_ms: int) -> Timestamp:
        return cls(epoch_ms / 1000)


class LazyList(abc.ABC):
    """A list a handler renders late, once it knows the codec.

    Why: GetRecords returns up to 10,000 records. Building dicts of ``bytes`` and
    ``Timestamp`` would make the JSON codec call back into Python twice per record;
    a lazy list renders plain strings and floats for JSON in one pass, which orjson
    then serializes at C speed.
    """

    @abc.abstractmethod
    def as_dicts(self, binary: bool) -> list[dict[str, Any]]:
        """The items; ``binary`` (CBOR) wants ``bytes`` and ``Timestamp`` values, JSON
        wants base64 text and epoch-second floats."""

    def as_json(self) -> bytes | None:
        """The whole list already written as JSON, when the list can write it faster
        than orjson can serialize ``as_dicts``; None: use ``as_dicts``."""
        return None


def media_type(content_type: str | None) -> str:
    """A Content-Type without its parameters, lower-cased (``""`` when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def protocol_for(content_type: str | None) -> Protocol | None:
    """The codec a Content-Type names; ``None`` for any other (``application/json``
    included: AWS answers it in an older envelope, see ``server.app``)."""
    return _CONTENT_TYPES.get(media_type(content_type))


def content_type(protocol: Protocol) -> str:
    return CBOR_TYPE if protocol == "cbor" else JSON_TYPE


def _keep_epoch_tag(value: Any, immutable: bool) -> cbor2.CBORTag:
    """Keep tag 1 raw: the SDK puts milliseconds in it, which cbor2 would read as seconds."""
    return cbor2.CBORTag(1, value)


def _refuse_tag(value: Any, immutable: bool) -> Any:
    """A tag no Kinesis shape uses and that costs the server to honour.

    Bignums (tags 2, 3) become integers of any size, which cost quadratic time to
    print in a message; shared values (tags 28, 29) can build a structure that
    contains itself. AWS's deserializer knows neither, so the body is unreadable.
    """
    raise ValueError("unsupported CBOR tag")


_CBOR_DECODERS = {
    1: _keep_epoch_tag,
    2: _refuse_tag,
    3: _refuse_tag,
    28: _refuse_tag,
    29: _refuse_tag,
}


def decode(protocol: Protocol, body: bytes) -> Any:
    """Parse a request body; an unreadable body is a ``SerializationException``.

    Error handling: whatever a hostile body makes the decoder raise (a timestamp
    past year 9999, a refused tag, nesting too deep) is the client's error, a 400
    with nothing logged, never a 500 with a traceback.
    """
    if not body:
        return {}
    try:
        if protocol == "json":
            return orjson.loads(body)
        return _from_cbor(cbor2.loads(body, semantic_decoders=_CBOR_DECODERS))
    except (
        orjson.JSONDecodeError,
        cbor2.CBORDecodeError,
        ValueError,
        OverflowError,
        OSError,
    ):
        raise SerializationException() from None


def _from_cbor(value: Any) -> Any:
    """Turn the SDK's tag-1 epoch-millisecond timestamps into datetimes."""
    if isinstance(value, dict):
        return {k: _from_cbor(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_cbor(v) for v in value]
    if isinstance(value, cbor2.CBORTag):
        if value.tag == 1 and isinstance(value.value, int | float):
            # Out of datetime's range raises OverflowError/OSError/ValueError: see decode.
            return dt.datetime.fromtimestamp(value.value / 1000, dt.UTC)
        return value.value
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, LazyList):
        rendered = value.as_json()
        return value.as_dicts(binary=False) if rendered is None else orjson.Fragment(rendered)
    if isinstance(value, Timestamp):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__}")


def _to_cbor(value: Any) -> Any:
    if isinstance(value, LazyList):
        return _to_cbor(value.as_dicts(binary=True))
    if isinstance(value, Timestamp):
        return cbor2.CBORTag(1, round(value * 1000))
    if isinstance(value, dict):
        return {k: _to_cbor(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cbor(v) for v in value]
    return value


def encode(protocol: Protocol, payload: Any) -> bytes:
    if protocol == "json":
        return orjson.dumps(payload, default=_json_default)
    return cbor2.dumps(_to_cbor(payload))
