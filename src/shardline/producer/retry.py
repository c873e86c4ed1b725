"""What a failure means for the records it hit: try again or give up, and when.

Two questions per failure:

1. *Retriable?* Kinesis error codes answer through the one registry
   (:func:`shardline.errors.error_class_for`): throttling, internal failures and
   service unavailability are retried; a missing stream, denied access or a KMS
   problem is not (retrying cannot help, so the records are given up). Network
   failures are retried; client-side configuration errors (no credentials) are not.
2. *Ambiguous?* A call that failed before the request left (connection refused) or
   that the server answered with a 4xx stored nothing. A call that timed out, lost
   its connection mid-way or got a 5xx may have stored its records: they are sent
   again (at-least-once) and the attempt is marked ``ambiguous``.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    HTTPClientError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from shardline.errors import error_class_for


@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    message: str
    retriable: bool
    ambiguous: bool = False


def entry_failure(code: str, message: str) -> Failure:
    """A per-record failure inside a PutRecords response (the call itself succeeded)."""
    return Failure(code, message, error_class_for(code).retriable)


def call_failure(exc: BaseException) -> Failure:
    """A PutRecords call that raised: what it means for every record it carried."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        retriable = error_class_for(code).retriable or status >= 500
        return Failure(code, str(error.get("Message", exc)), retriable, ambiguous=status >= 500)
    if isinstance(exc, EndpointConnectionError):
        # Only a failed connect proves the request never left this process.
        never_sent = isinstance(exc.kwargs.get("error"), aiohttp.ClientConnectorError)
        return Failure("EndpointConnectionError", str(exc), True, ambiguous=not never_sent)
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return Failure(type(exc).__name__, str(exc), True, ambiguous=True)
    if isinstance(exc, BotoCoreError):  # configuration: credentials, parameters
        return Failure(type(exc).__name__, str(exc), False)
    if isinstance(exc, OSError | asyncio.TimeoutError | aiohttp.ClientError):
        return Failure(type(exc).__name__, str(exc), True, ambiguous=True)
    # Anything else is unexpected; keeping the records (and retrying) is safer than
    # dropping them, and the producer logs the error with its traceback.
    return Failure(type(exc).__name__, str(exc), True, ambiguous=True)


class Backoff:
    """Pause before a shard is tried again: doubles per consecutive failure, jittered.

    The delay for the n-th consecutive failure is drawn from [b/2, b] with
    b = min(max_s, initial_s · 2ⁿ⁻¹) ("equal jitter"): retries of many shards spread
    out instead of arriving together, and no retry comes sooner than half the step.
    """

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self._rng = rng or random.Random()

    def delay(self, failures: int) -> float:
        step = min(self.max_s, self.initial_s * 2.0 ** max(failures - 1, 0))
        return step / 2 + self._rng.uniform(0, step / 2)
