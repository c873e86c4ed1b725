"""Request decoding and validation driven by botocore's shipped Kinesis service model.

Why the model: it is the authoritative list of operations, member names, types and
constraints, the same one every AWS SDK is generated from. Reading it instead of
restating it keeps Shardline's validation in step with AWS as the model evolves.

Each operation's input shape is compiled once into a tree of small converter
functions. A converter does two jobs in one walk, in the order AWS does them:

1. *Deserialize*: check the wire type of every member and convert it (base64 → bytes
   for JSON blobs, epoch numbers → float seconds for timestamps). A wrong type stops
   everything with ``SerializationException``, as Coral's deserializer does.
2. *Validate*: collect every constraint violation (required, length, range, pattern,
   enum) with AWS's message format, and raise one ``ValidationException`` listing
   them all ("2 validation errors detected: …; …").

Patterns are matched with RE2, never Python's backtracking ``re``: the model's ARN
patterns (``arn:aws.*:kinesis:.*:\\d{12}:.*(stream|channel)/\\S+``) take cubic time
in a backtracking engine, so one 19 KiB ``ResourceARN`` held the event loop, and
every other caller, for most of a minute. RE2 matches in time linear in the input,
so a 100 KiB member is refused in well under a millisecond. RE2's ``\\d`` and
``\\s`` are ASCII, as in AWS's Java validator.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import math
import zlib
from collections.abc import Callable
from typing import Any, Literal

import botocore.session
import orjson
import re2
from botocore.model import OperationModel, ServiceModel, Shape

from shardline.errors import SerializationException, ValidationException
from shardline.server._recordwire import decode_entries
from shardline.storage.entries import PutEntries

Protocol = Literal["json", "cbor"]
Errors = list[str]
Converter = Callable[[Any, str, Errors], Any]

#: AWS stops listing violations after ten.
MAX_REPORTED_ERRORS = 10


@functools.cache
def service_model() -> ServiceModel:
    """The Kinesis service model shipped with botocore (loaded once)."""
    session = botocore.session.get_session()
    return session.get_service_model("kinesis")


def operation_names() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def operation(name: str) -> OperationModel:
    return service_model().operation_model(name)


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def render_value(value: Any) -> str:
    """Render a value the way AWS's Java validator prints it in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, list):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={render_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _violation(value: Any, path: str, constraint: str) -> str:
    rendered = "null" if value is None else f"'{render_value(value)}'"
    return f"Value {rendered} at '{path}' failed to satisfy constraint: {constraint}"


_JAVA_CLASS = {
    str: "java.lang.String",
    bool: "java.lang.Boolean",
    int: "com.amazon.coral.value.json.numbers.TruncatingBigNumber",
    float: "com.amazon.coral.value.json.numbers.TruncatingBigNumber",
}
_TARGET = {
    "string": "an String",
    "integer": "an Integer",
    "long": "an Long",
    "boolean": "an Boolean",
    "blob": "a Blob",
    "timestamp": "milliseconds since epoch",
}


def _serialization_error(shape: Shape, value: Any) -> SerializationException:
    """Coral's wording for a member whose JSON type does not fit its shape.

    An object or array is named for what was *found*, whatever the target; a scalar
    where a container belongs is named for what was *expected*.
    """
    kind = shape.type_name
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected.")
    if isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    if kind == "list":
        return SerializationException("Expected list or null")
    if kind == "map":
        return SerializationException("Expected map or null")
    if kind == "structure":
        return SerializationException("Expected null")
    if kind == "boolean" and isinstance(value, str):
        return SerializationException(f"'{value.upper()}' can not be converted to an Boolean")
    java = _JAVA_CLASS.get(type(value), "java.lang.Object")
    return SerializationException(f"class {java} can not be converted to {_TARGET.get(kind, kind)}")


def _constraint_phrases(shape: Shape) -> list[str]:
    """Every constraint of a scalar shape, as AWS lists them for list items and map keys."""
    phrases = []
    if shape.metadata.get("max") is not None:
        phrases.append(f"Member must have length less than or equal to {shape.metadata['max']}")
    if shape.metadata.get("min") is not None:
        phrases.append(f"Member must have length greater than or equal to {shape.metadata['min']}")
    if shape.metadata.get("pattern"):
        phrases.append(
            f"Member must satisfy regular expression pattern: {shape.metadata['pattern']}"
        )
    if getattr(shape, "enum", None):
        phrases.append(f"Member must satisfy enum value set: [{', '.join(_enum_order(shape))}]")
    return phrases


#: Enums whose values AWS prints in an order of its own, not the model's.
_ENUM_DISPLAY = {
    "ShardIteratorType": [
        "AFTER_SEQUENCE_NUMBER",
        "LATEST",
        "AT_TIMESTAMP",
        "AT_SEQUENCE_NUMBER",
        "TRIM_HORIZON",
    ],
}


def _enum_order(shape: Shape) -> list[str]:
    return _ENUM_DISPLAY.get(shape.name, list(shape.enum))


def _range_checks(
    shape: Shape, measure: Literal["length", "value"] = "length"
) -> Callable[[Any, int, str, Errors], None]:
    """A check of the shape's ``min``/``max`` against what a member measures: its
    ``"length"`` (strings, blobs, lists) or its ``"value"`` (numbers)."""
    low = shape.metadata.get("min")
    high = shape.metadata.get("max")

    def check(value: Any, measured: int, path: str, errors: Errors) -> None:
        if low is not None and measured < low:
            errors.append(
                _violation(
                    value, path, f"Member must have {measure} greater than or equal to {low}"
                )
            )
        if high is not None and measured > high:
            errors.append(
                _violation(value, path, f"Member must have {measure} less than or equal to {high}")
            )

    return check


def linear_pattern(pattern: str) -> Any:
    """``pattern`` compiled for RE2, which matches in linear time (module docstring).

    Error handling: a pattern RE2 cannot express (a backreference, a lookaround)
    raises ``re2.error`` when the converters are built, at the first call of the
    operation, never silently falls back to a backtracking engine.
    """
    return re2.compile(pattern)


def _string_converter(shape: Shape) -> Converter:
    length = _range_checks(shape)
    pattern = shape.metadata.get("pattern")
    regex = linear_pattern(pattern) if pattern else None
    enum = shape.enum or None

    def convert(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, str):
            raise _serialization_error(shape, value)
        # Type, then length, then pattern; AWS lists a pattern violation first.
        length_errors: Errors = []
        length(value, len(value), path, length_errors)
        if regex is not None and regex.fullmatch(value) is None:
            errors.append(
                _violation(
                    value, path, f"Member must satisfy regular expression pattern: {pattern}"
                )
            )
        errors.extend(length_errors)
        if enum is not None and value not in enum:
            allowed = ", ".join(_enum_order(shape))
            errors.append(
                _violation(value, path, f"Member must satisfy enum value set: [{allowed}]")
            )
        return value

    return convert


def _number_converter(shape: Shape) -> Converter:
    in_range = _range_checks(shape, "value")

    def convert(value: Any, path: str, errors: Errors) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _serialization_error(shape, value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _serialization_error(shape, str(value))
            value = math.floor(value)
        in_range(value, value, path, errors)
        return value

    return convert


def _boolean_converter(shape: Shape) -> Converter:
    def convert(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, bool):
            raise _serialization_error(shape, value)
        return value

    return convert


def _decode_base64(text: str) -> bytes:
    if len(text) % 4:
        raise SerializationException(
            f"'{text}' can not be converted to a Blob: Base64 encoded length is expected a "
            f"multiple of 4 bytes but found: {len(text)}"
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        bad = next((c for c in text.rstrip("=") if c not in _B64_ALPHABET), "=")
        raise SerializationException(
            f"'{text}' can not be converted to a Blob: Invalid Base64 character: '{bad}'"
        ) from None
    if text.endswith("=") and base64.b64encode(data).decode("ascii") != text:
        # Padding hides unused bits; AWS refuses them when they are not zero.
        raise SerializationException(
            f"'{text}' can not be converted to a Blob: Invalid last non-pad Base64 character "
            "dectected"
        )
    return data


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _blob_converter(shape: Shape, protocol: Protocol) -> Converter:
    length = _range_checks(shape)

    def convert(value: Any, path: str, errors: Errors) -> Any:
        if protocol == "json":
            if not isinstance(value, str):
                raise _serialization_error(shape, value)
            value = _decode_base64(value)
        elif not isinstance(value, bytes | bytearray):
            raise _serialization_error(shape, value)
        length(value, len(value), path, errors)
        return bytes(value)

    return convert


def _timestamp_converter(shape: Shape) -> Converter:
    def convert(value: Any, path: str, errors: Errors) -> Any:
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):
                try:
                    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
                except ValueError:
                    pass
            raise _serialization_error(shape, value)
        if not math.isfinite(value):
            raise _serialization_error(shape, str(value))
        return float(value)

    return convert


def _java_list_render(shape: Shape, value: list[Any]) -> str:
    """A list as AWS prints it in messages: structures as Java's ``Object.toString()``.

    That is the class name and the object's ``hashCode()`` in hex. AWS's model classes
    compute the hash from their content, so equal entries print alike; here it is the
    CRC-32 of the entry's canonical JSON (AWS's own digits cannot be reproduced).
    """
    if shape.member.type_name != "structure":
        return render_value(value)
    cls = f"com.amazonaws.kinesis.v20131202.{shape.member.name}"
    return "[" + ", ".join(f"{cls}@{_content_hash(item):x}" for item in value) + "]"


def _content_hash(item: Any) -> int:
    """A 32-bit hash of a decoded JSON/CBOR value that only its content decides."""
    try:
        canonical = orjson.dumps(
            item,
            option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
            default=lambda v: v.hex() if isinstance(v, bytes | bytearray) else repr(v),
        )
    except TypeError:  # not representable (e.g. an integer beyond 64 bits)
        canonical = repr(item).encode("utf-8", "surrogatepass")
    return zlib.crc32(canonical)


def _list_converter(shape: Shape, protocol: Protocol) -> Converter:
    low = shape.metadata.get("min")
    high = shape.metadata.get("max")
    member = compile_shape(shape.member, protocol)
    scalar_items = shape.member.type_name not in ("structure", "list", "map")
    item_constraint = (
        "Member must satisfy constraint: [" + ", ".join(_constraint_phrases(shape.member)) + "]"
    )

    def convert(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, list):
            raise _serialization_error(shape, value)
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            shown = f"'{_java_list_render(shape, value)}'"
            bound = (
                f"greater than or equal to {low}"
                if low is not None and len(value) < low
                else f"less than or equal to {high}"
            )
            errors.append(
                f"Value {shown} at '{path}' failed to satisfy constraint: "
                f"Member must have length {bound}"
            )
        out: list[Any] = []
        item_errors: Errors = [] if scalar_items else errors
        for index, item in enumerate(value, 1):
            item_path = f"{path}.{index}.member"
            if item is None:
                errors.append(_violation(None, item_path, "Member must not be null"))
                out.append(None)
            else:
                out.append(member(item, item_path, item_errors))
        if scalar_items and item_errors:
            # AWS reports bad scalar items once, on the list, with all item constraints.
            errors.append(_violation(value, path, item_constraint))
        return out

    return convert


def _map_converter(shape: Shape, protocol: Protocol) -> Converter:
    length = _range_checks(shape)
    key_conv = compile_shape(shape.key, protocol)
    value_conv = compile_shape(shape.value, protocol)
    key_constraint = (
        "Map keys must satisfy constraint: [" + ", ".join(_constraint_phrases(shape.key)) + "]"
    )
    value_constraint = (
        "Map value must satisfy constraint: [" + ", ".join(_constraint_phrases(shape.value)) + "]"
    )

    def convert(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, dict):
            raise _serialization_error(shape, value)
        length(value, len(value), path, errors)
        out = {}
        key_errors: Errors = []
        value_errors: Errors = []
        for key, item in value.items():
            converted_key = key_conv(key, path, key_errors)
            if item is None:
                errors.append(_violation(None, f"{path}.value", "Member must not be null"))
                continue
            out[converted_key] = value_conv(item, path, value_errors)
        if key_errors:
            errors.append(_violation(value, path, key_constraint))
        if value_errors:
            errors.append(_violation(value, path, value_constraint))
        return out

    return convert


#: Members the current model leaves optional but that Shardline requires: its streams
#: distribute records by partition key (``USER_PARTITION_KEY``), as every stream did
#: before AWS added the ``AUTO`` strategy, and older models mark them required.
_ALSO_REQUIRED = {
    "PutRecordInput": {"PartitionKey"},
    "PutRecordsRequestEntry": {"PartitionKey"},
}


def _structure_converter(
    shape: Shape, protocol: Protocol, overrides: dict[str, Converter] | None = None
) -> Converter:
    required = set(shape.required_members) | _ALSO_REQUIRED.get(shape.name, set())
    overrides = overrides or {}
    members = [
        (
            name,
            _lower_camel(name),
            overrides.get(name) or compile_shape(member, protocol),
            name in required,
        )
        for name, member in shape.members.items()
    ]

    def convert(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, dict):
            raise _serialization_error(shape, value)
        prefix = f"{path}." if path else ""
        out: dict[str, Any] = {}
        for name, lower, conv, is_required in members:
            item = value.get(name)
            if item is None:
                if is_required:
                    errors.append(_violation(None, prefix + lower, "Member must not be null"))
                continue
            out[name] = conv(item, prefix + lower, errors)
        return out

    return convert


def compile_shape(shape: Shape, protocol: Protocol) -> Converter:
    """Build the converter for ``shape``; recursive shapes are not used by Kinesis."""
    kind = shape.type_name
    if kind == "structure":
        return _structure_converter(shape, protocol)
    if kind == "list":
        return _list_converter(shape, protocol)
    if kind == "map":
        return _map_converter(shape, protocol)
    if kind == "string":
        return _string_converter(shape)
    if kind in ("integer", "long", "double", "float"):
        return _number_converter(shape)
    if kind == "boolean":
        return _boolean_converter(shape)
    if kind == "blob":
        return _blob_converter(shape, protocol)
    if kind == "timestamp":
        return _timestamp_converter(shape)
    raise TypeError(f"unsupported shape type {kind}")


def _entries(records: Any) -> PutEntries:
    """PutRecords' validated record dicts as the record log's parallel lists."""
    explicit = [r.get("ExplicitHashKey") for r in records]
    return PutEntries(
        datas=[r["Data"] for r in records],
        keys=[r["PartitionKey"] for r in records],
        explicit_hashes=explicit if any(h is not None for h in explicit) else None,
    )


def _put_entries(generic: Converter, shape: Shape, protocol: Protocol) -> Converter:
    """PutRecords' record list as :class:`PutEntries`, checked and decoded in C
    (``_recordwire.decode_entries``) for the common well-formed JSON case.

    Why: a 500-record request would otherwise cost ~2,000 converter calls and 500
    dicts taken apart again by the handler. Anything unusual (an explicit hash key, a
    wrong type, a violated limit, bad or non-canonical base64) falls back to the
    model-driven converter, which produces AWS's exact errors; CBOR always takes that
    path.
    """
    entry = shape.member
    data_max = entry.members["Data"].metadata.get("max", 1 << 62)
    key_shape = entry.members["PartitionKey"]
    key_min = key_shape.metadata.get("min", 0)
    key_max = key_shape.metadata.get("max", 1 << 62)
    list_min = shape.metadata.get("min", 0)
    list_max = shape.metadata.get("max", 1 << 62)

    def fallback(value: Any, path: str, errors: Errors) -> Any:
        out = generic(value, path, errors)
        # With errors, parse_input raises before anyone reads the entries.
        return out if errors else _entries(out)

    def convert(value: Any, path: str, errors: Errors) -> Any:
        if type(value) is list and list_min <= len(value) <= list_max:
            decoded = decode_entries(value, key_min, key_max, data_max)
            if decoded is not None:
                return PutEntries(datas=decoded[0], keys=decoded[1])
        return fallback(value, path, errors)

    return convert if protocol == "json" else fallback


@functools.cache
def _input_converter(operation_name: str, protocol: Protocol) -> Converter | None:
    shape = operation(operation_name).input_shape
    if shape is None:
        return None
    if operation_name == "PutRecords":
        records = shape.members["Records"]
        entries = _put_entries(compile_shape(records, protocol), records, protocol)
        return _structure_converter(shape, protocol, {"Records": entries})
    return compile_shape(shape, protocol)


def parse_input(operation_name: str, body: Any, protocol: Protocol) -> dict[str, Any]:
    """Decode and validate an operation's input.

    Error handling: raises ``SerializationException`` for the first wrong wire type and
    ``ValidationException`` listing every constraint violation, as AWS does.
    """
    converter = _input_converter(operation_name, protocol)
    if converter is None:
        return {}
    if body is None:
        body = {}
    errors: Errors = []
    params: dict[str, Any] = converter(body, "", errors)
    if errors:
        errors = errors[:MAX_REPORTED_ERRORS]
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {noun} detected: " + "; ".join(errors))
    return params


def violation_message(value: Any, path: str, constraint: str) -> str:
    """A single-violation ValidationException message for checks the model cannot express."""
    return "1 validation error detected: " + _violation(value, path, constraint)
