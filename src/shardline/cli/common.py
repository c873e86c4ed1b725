"""Options and helpers shared by the commands.

- ``endpoint_options``: ``--endpoint-url`` and ``--region`` for Kinesis clients.
- ``config_default``: a command's default comes from the config class it fills, so
  the CLI and the library cannot disagree.
- ``seconds_option``: every duration is given in seconds and spelled ``--…-s``;
  older spellings (``--create-delay-ms``, ``--poll-interval``) keep working as
  hidden aliases, converted to seconds.
- ``fail``: end a command with one line saying what is wrong and what to do, and
  no traceback.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

DEFAULT_ENDPOINT = "http://127.0.0.1:4567"
_F = TypeVar("_F", bound=Callable[..., Any])


def endpoint_options(command: _F) -> _F:
    """``--endpoint-url`` and ``--region`` for a command that uses the Kinesis API."""
    command = click.option(
        "--region",
        default=lambda: os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        show_default="$AWS_DEFAULT_REGION or us-east-1",
        help="Region name used to sign requests.",
    )(command)
    return click.option(
        "--endpoint-url",
        default=lambda: os.environ.get("SHARDLINE_ENDPOINT", DEFAULT_ENDPOINT),
        show_default=f"$SHARDLINE_ENDPOINT or {DEFAULT_ENDPOINT}",
        help="Kinesis endpoint: a `shardline serve` region, or an AWS endpoint.",
    )(command)


def config_default(cls: type[Any], name: str) -> Any:
    """The default of field ``name`` of the dataclass ``cls`` (its factory's value)."""
    for item in dataclasses.fields(cls):
        if item.name == name:
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
            if item.default is dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{name} has no default")
            return item.default
    raise TypeError(f"{cls.__name__} has no field {name!r}")


def _alias_key(dest: str) -> str:
    return f"shardline.alias.{dest}"


def _alias(flag: str, dest: str, scale: float) -> Callable[[_F], _F]:
    """A hidden option that sets ``dest`` (in seconds) when given on the command line."""

    def store(ctx: click.Context, param: click.Parameter, value: float | None) -> None:
        if value is not None:
            ctx.meta[_alias_key(dest)] = value * scale

    return click.option(
        flag, type=float, default=None, hidden=True, expose_value=False, callback=store
    )


def seconds_option(
    flag: str,
    *,
    default: float | None,
    help: str,
    minimum: float = 0.0,
    aliases: tuple[str, ...] = (),
    ms_aliases: tuple[str, ...] = (),
) -> Callable[[_F], _F]:
    """A duration option in seconds (``--…-s``), with hidden older spellings.

    ``aliases`` take seconds, ``ms_aliases`` milliseconds. An alias counts only when
    the ``--…-s`` option itself was not given.
    """
    dest = flag.lstrip("-").replace("-", "_")

    def resolve(ctx: click.Context, param: click.Parameter, value: float | None) -> Any:
        key = _alias_key(dest)
        if key in ctx.meta and ctx.get_parameter_source(dest) is ParameterSource.DEFAULT:
            return ctx.meta[key]
        return value

    def decorate(command: _F) -> _F:
        for alias in aliases:
            command = _alias(alias, dest, 1.0)(command)
        for alias in ms_aliases:
            command = _alias(alias, dest, 0.001)(command)
        return click.option(
            flag,
            type=click.FloatRange(min=minimum),
            default=default,
            show_default=default is not None,
            help=help,
            callback=resolve,
        )(command)

    return decorate


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``shardline: MESSAGE`` on standard error and exit (no traceback)."""
    click.echo(f"shardline: {message}", err=True)
    sys.exit(code)
