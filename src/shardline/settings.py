"""Validated settings: every config dataclass checks its values where they enter.

A config class calls :func:`validate` first thing in ``__post_init__``. Each field
is checked against

1. its annotation: a ``Literal`` mode must be one of its values; ``int``,
   ``float``, ``bool`` and ``str`` must be of that type (``True`` is not a number,
   ``"2"`` is not an integer); ``X | None`` also admits None; a ``Path`` may be
   given as a string and is stored as a ``Path``, a tuple as a list;
2. the range in its metadata, declared with :func:`setting`
   (``max_connections: int = setting(24, ge=1)``).

The first violation raises :class:`ConfigError` naming the key, the bad value and
what is allowed, before any process or connection starts. Rules that tie fields
together (``backoff_max_s >= backoff_initial_s``) stay in the class's
``__post_init__``, after :func:`validate`, and raise :class:`ConfigError` too.

Example::

    @dataclass(frozen=True)
    class PollConfig:
        interval_s: float = setting(1.0, gt=0)
        mode: Literal["fast", "slow"] = "fast"

        def __post_init__(self) -> None:
            validate(self)

    PollConfig(interval_s=-1)
    # ConfigError: PollConfig.interval_s = -1 is not allowed: it must be a number > 0
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import types
import typing
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, cast, get_args, get_origin
from urllib.parse import urlsplit

from shardline.errors import ConfigError

_MISSING: Any = dataclasses.MISSING


@dataclass(frozen=True)
class Bounds:
    """An allowed numeric range: ``gt`` / ``ge`` below, ``le`` above (None: open)."""

    gt: float | None = None
    ge: float | None = None
    le: float | None = None

    def admits(self, value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        return (
            (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
            and (self.le is None or value <= self.le)
        )

    def __str__(self) -> str:
        parts = [
            f"{sign} {_number(limit)}"
            for sign, limit in ((">", self.gt), (">=", self.ge), ("<=", self.le))
            if limit is not None
        ]
        return " and ".join(parts)


def _number(value: float) -> str:
    """``5242880`` rather than ``5.24288e+06``; ``0.2`` stays ``0.2``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def setting(
    default: Any = _MISSING,
    *,
    default_factory: Any = _MISSING,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> Any:
    """A dataclass field with an allowed range (checked by :func:`validate`)."""
    bounds = Bounds(gt, ge, le)
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={"bounds": bounds}
    )


def bounds_of(item: dataclasses.Field[Any]) -> Bounds | None:
    """The range declared for a field with :func:`setting`, if any."""
    bounds = item.metadata.get("bounds")
    return bounds if isinstance(bounds, Bounds) else None


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional_members(hint: Any) -> tuple[Any, ...] | None:
    if get_origin(hint) in (Union, types.UnionType):
        return get_args(hint)
    return None


def describe(hint: Any) -> str:
    """What a value of type ``hint`` may be, in words (for error messages and docs)."""
    members = _optional_members(hint)
    if members is not None:
        named = [describe(m) for m in members if m is not type(None)]
        return " or ".join(named) + (" or none" if type(None) in members else "")
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(hint))
    simple = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a path",
    }
    if hint in simple:
        return simple[hint]
    origin = get_origin(hint) or hint
    if origin is dict:
        return "a table"
    if origin in (tuple, list):
        return "a list"
    return f"a {getattr(hint, '__name__', str(hint))}"


def allowed(hint: Any, bounds: Bounds | None) -> str:
    """``describe(hint)`` with the range after the number it bounds ("a number > 0 or none")."""
    if bounds is None:
        return describe(hint)
    members = _optional_members(hint)
    if members is not None and type(None) in members:
        rest = [m for m in members if m is not type(None)]
        return " or ".join(describe(m) for m in rest) + f" {bounds} or none"
    return f"{describe(hint)} {bounds}"


def _admits(hint: Any, value: Any) -> bool:
    members = _optional_members(hint)
    if members is not None:
        return any(_admits(m, value) for m in members)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if get_origin(hint) is Literal:
        return any(type(value) is type(v) and value == v for v in get_args(hint))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    origin = get_origin(hint) or hint
    return isinstance(value, origin)


def _coerce(hint: Any, value: Any) -> Any:
    """A string for a Path field becomes a Path; a list for a tuple field, a tuple."""
    members = _optional_members(hint) or (hint,)
    if isinstance(value, str | os.PathLike) and Path in members and not isinstance(value, Path):
        return Path(value)
    if isinstance(value, list) and any(get_origin(m) is tuple for m in members):
        return tuple(value)
    return value


def check_endpoint_url(url: str, key: str) -> None:
    """Raise :class:`ConfigError` unless ``url`` is ``http(s)://host[:port]``, port 1..65535."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port in (-1, 0):
        raise ConfigError(
            f"{key} = {url!r} is not allowed: it must be an http:// or https:// URL with a "
            "host and, if given, a port in 1..65535 (e.g. http://127.0.0.1:4567)"
        )


def validate(instance: Any, where: str | None = None) -> None:
    """Check every field of the dataclass ``instance`` (see the module docstring).

    ``where`` prefixes the key in messages (default: the class name and a dot).
    Raises :class:`ConfigError` on the first field that is not allowed.
    """
    cls = type(instance)
    prefix = f"{cls.__name__}." if where is None else where
    hints = _hints(cast(Hashable, cls))
    for item in dataclasses.fields(instance):
        value = getattr(instance, item.name)
        hint = hints[item.name]
        coerced = _coerce(hint, value)
        if coerced is not value:
            object.__setattr__(instance, item.name, coerced)
            value = coerced
        bounds = bounds_of(item)
        what = allowed(hint, bounds)
        if not _admits(hint, value):
            raise ConfigError.invalid(prefix, item.name, value, what)
        if bounds is not None and isinstance(value, int | float) and not bounds.admits(value):
            raise ConfigError.invalid(prefix, item.name, value, what)
