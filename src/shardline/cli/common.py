"""Options and helpers shared by the commands that talk to a region as clients."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

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
