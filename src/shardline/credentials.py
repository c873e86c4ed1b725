"""Credentials for Kinesis clients: given ones, or placeholders when none are configured.

A region that runs ``shardline serve --credentials`` verifies every signature, so
each client of it must sign with a key it knows. ``StaticCredentials`` carries one
key pair (or resolves a named AWS profile into one) and renders the arguments a
boto3/aiobotocore client takes. The secret never appears in a ``repr``.

A region without ``--credentials`` does not check signatures, but botocore will not
send an unsigned request: without credentials it fails with NoCredentialsError, after
probing the EC2 metadata address for seconds. So when the AWS credential chain has
nothing to offer, Shardline's clients (producer, consumer, stores, the CLI) use
placeholder keys (:func:`default_client_options`); against AWS itself they fail
fast with a clear UnrecognizedClientException.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
import botocore.session

from shardline.errors import ShardlineError


class CredentialsNotFound(ShardlineError):
    """A named profile has no credentials (fix ~/.aws/credentials or the profile name)."""


@dataclass(frozen=True)
class StaticCredentials:
    """One access key pair. Example::

    StaticCredentials("AKSLQ7ZP2WN4MEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_profile(cls, profile: str) -> StaticCredentials:
        """The keys of a named profile in the AWS config and credentials files."""
        try:
            found = botocore.session.Session(profile=profile).get_credentials()
        except botocore.exceptions.ProfileNotFound:
            found = None
        if found is None:
            raise CredentialsNotFound(f"the AWS profile {profile!r} has no credentials")
        frozen = found.get_frozen_credentials()
        return cls(frozen.access_key, frozen.secret_key, frozen.token)

    def client_options(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client`` / ``session.create_client``."""
        options = {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }
        if self.session_token is not None:
            options["aws_session_token"] = self.session_token
        return options


def default_client_options() -> dict[str, Any]:
    """Client arguments: {} when the AWS chain is configured, else placeholder keys.

    "Configured" means ``AWS_ACCESS_KEY_ID`` or ``AWS_PROFILE`` is set, or a shared
    credentials file exists (``$AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials``).
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
