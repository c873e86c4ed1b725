"""Credentials for AWS clients when none are configured.

Shardline's clients (producer, consumer, stores, the CLI) talk to a local region
as readily as to AWS. A local region does not check signatures, but botocore will
not send an unsigned request: without credentials it fails with NoCredentialsError,
after probing the EC2 metadata address for seconds. So when the AWS credential
chain has nothing to offer, placeholder keys are used instead; against AWS itself
they fail fast with a clear UnrecognizedClientException.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


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
