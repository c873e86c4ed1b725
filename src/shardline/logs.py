"""Logging set-up shared by every command: text for people, JSON lines for machines.

``--log-format json`` (or ``$SHARDLINE_LOG_FORMAT=json``) writes one JSON object
per line with ``time`` (ISO 8601), ``level``, ``logger``, ``message`` and
``process`` (plus ``exc_info`` for exceptions and any ``extra=`` fields), which log
shippers (Loki, CloudWatch Logs, Elasticsearch) index without a parser. The
formatter is python-json-logger's. ``shardline up`` passes the choice on to the
processes it starts through the environment variable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import click
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
ENV_VAR = "SHARDLINE_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_F = TypeVar("_F", bound=Callable[..., Any])


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    return JsonFormatter(
        "{levelname}{name}{message}{process}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def configure(level: int | str = logging.INFO, log_format: LogFormat | None = None) -> None:
    """Log to stderr at ``level`` in ``log_format`` (default: ``$SHARDLINE_LOG_FORMAT``
    or text), replacing any handler set before."""
    chosen = log_format or os.environ.get(ENV_VAR, "text")
    if chosen not in ("text", "json"):
        raise click.BadParameter(f"{ENV_VAR} must be text or json, not {chosen!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(chosen))  # type: ignore[arg-type]
    logging.basicConfig(level=level, handlers=[handler], force=True)


def log_format_option(command: _F) -> _F:
    """``--log-format text|json`` for a command; the choice also goes to the
    environment, so processes the command starts log the same way."""

    def remember(context: click.Context, parameter: click.Parameter, value: str) -> str:
        os.environ[ENV_VAR] = value
        return value

    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        envvar=ENV_VAR,
        show_default=True,
        expose_value=False,
        is_eager=True,
        callback=remember,
        help=f"Log lines as text for people or as JSON objects for log shippers (also ${ENV_VAR}).",
    )(command)
