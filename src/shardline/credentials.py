"""Credentials for one Kinesis endpoint: a region of the topology, or an admin call.

A region that runs ``shardline serve --credentials`` verifies every signature, so
each client of it must sign with a key it knows. ``StaticCredentials`` carries one
key pair (or resolves a named AWS profile into one) and renders the arguments a
boto3/aiobotocore client takes. The secret never appears in a ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
