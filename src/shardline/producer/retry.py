"""What a failure means for the records it hit: try again or give up, and when.

Two questions per failure:

1. *Retriable?* The one registry answers (:func:`shardline.errors.is_retriable`):
   throttling (the stream's or KMS's), internal failures and service
   unavailability are retried; a missing stream, denied access or a KMS key or
   subscription problem is not (retrying cannot help, so the records are given up).
   Network failures are retried; client-side configuration errors (no credentials)
   are not. Anything unexpected is retried too: keeping records is safer than
   dropping them.
2. *Ambiguous?* A call that failed before the request left (connection refused) or
   that the server answered with a 4xx stored nothing. A call that timed out, lost
   its connection mid-way or got a 5xx may have stored its records: they are sent
   again (at-least-once) and the attempt is marked ``ambiguous``.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from shardline.errors import is_retriable, is_retriable_code


@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    message: str
    retriable: bool
    ambiguous: bool = False


def entry_failure(code: str, message: str) -> Failure:
    """A per-record failure inside a PutRecords response (the call itself succeeded)."""
    return Failure(code, message, is_retriable_code(code))


def call_failure(exc: BaseException) -> Failure:
    """A PutRecords call that raised: what it means for every record it carried."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return Failure(code, str(error.get("Message", exc)), is_retriable(exc), status >= 500)
    name = type(exc).__name__
    if isinstance(exc, BotoCoreError) and not is_retriable(exc):
        return Failure(name, str(exc), False)  # configuration: credentials, parameters
    if isinstance(exc, EndpointConnectionError):
        # Only a failed connect proves the request never left this process.
        never_sent = isinstance(exc.kwargs.get("error"), aiohttp.ClientConnectorError)
        return Failure(name, str(exc), True, ambiguous=not never_sent)
    # A lost connection, a timeout, or anything unexpected: keeping the records (and
    # retrying) is safer than dropping them, and the producer logs the error with
    # its traceback.
    return Failure(name, str(exc), True, ambiguous=True)
