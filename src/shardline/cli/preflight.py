"""Check that a stream answers before a command relies on it, and say why not.

``put`` and ``tail`` call :func:`check_stream` first, so the common mistakes end in
one line with the fix instead of a retry loop or a traceback: nothing listening at
the endpoint (after waiting up to the command's timeout, since a region may be
starting), a stream that does not exist, credentials the endpoint refuses.
"""

from __future__ import annotations

import asyncio
import time

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from shardline.errors import ShardlineError
from shardline.kinesis import Endpoint, connect, quick_config

#: Pause between tries while nothing listens at the endpoint.
_RETRY_S = 0.5


class PreflightError(ShardlineError):
    """The stream cannot be used; the message says why and what to do."""


def _missing(stream: str, endpoint_url: str | None) -> PreflightError:
    where = f" --endpoint-url {endpoint_url}" if endpoint_url else ""
    return PreflightError(
        f"stream {stream!r} does not exist at {endpoint_url or 'AWS'}; create it first, e.g. "
        f"`aws kinesis create-stream --stream-name {stream} --shard-count 1{where}`"
    )


async def check_stream(
    stream: str, endpoint_url: str | None, region: str, timeout_s: float
) -> None:
    """Return once ``stream`` is ACTIVE or UPDATING; raise PreflightError otherwise.

    Waits up to ``timeout_s`` while nothing answers at the endpoint or the stream
    is still CREATING; a missing stream or a refused request fails at once.
    """
    deadline = time.monotonic() + timeout_s
    config = quick_config(2, 10)
    async with connect(Endpoint(region, endpoint_url), config=config) as client:
        while True:
            hint = "wait for it, or pass --timeout-s to wait longer"
            try:
                summary = await client.describe_stream_summary(StreamName=stream)
                status = summary["StreamDescriptionSummary"]["StreamStatus"]
                if status in ("ACTIVE", "UPDATING"):
                    return
                problem = f"stream {stream!r} is {status}"
            except EndpointConnectionError:
                problem = f"nothing is listening at {endpoint_url}"
                hint = "start a region with `shardline serve`, or pass --endpoint-url"
            except ClientError as exc:
                error = exc.response.get("Error", {})
                if error.get("Code") == "ResourceNotFoundException":
                    raise _missing(stream, endpoint_url) from None
                raise PreflightError(
                    f"{endpoint_url or 'AWS'} refused DescribeStreamSummary: "
                    f"{error.get('Code')}: {error.get('Message')}"
                ) from None
            except (BotoCoreError, OSError, TimeoutError) as exc:
                problem = f"{endpoint_url or 'AWS'} does not answer ({exc})"
            if time.monotonic() >= deadline:
                raise PreflightError(f"{problem} (waited {timeout_s:g} s); {hint}")
            await asyncio.sleep(_RETRY_S)
