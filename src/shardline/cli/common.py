"""Options and helpers shared by the commands that talk to a region as clients."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
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


def client_options() -> dict[str, Any]:
    """Credentials for the Kinesis client.

    The AWS credential chain is used when it is configured (environment variables,
    a profile, a credentials file); otherwise placeholder keys are passed, which a
    local region accepts. This also keeps botocore from probing the EC2 metadata
    address for credentials when there are none.
    """
    configured = (
        "AWS_ACCESS_KEY_ID" in os.environ
        or "AWS_PROFILE" in os.environ
        or Path(
            os.environ.get("AWS_SHARED_CREDENTIALS_FILE", Path.home() / ".aws" / "credentials")
        ).exists()
    )
    if configured:
        return {}
    return {"aws_access_key_id": "shardline", "aws_secret_access_key": "shardline"}
