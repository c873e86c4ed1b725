"""Request parameters that name a stream, read as AWS reads them.

Most operations take the stream by ``StreamName``, ``StreamARN`` or both; storage
takes a name, so the reading happens here, at the wire's edge. A bare ARN (a
``ResourceARN``, a consumer's stream) is read by ``Catalog.name_in_arn``.
"""

from __future__ import annotations

from typing import Any

from shardline.errors import InvalidArgumentException, ValidationException
from shardline.storage.region import Region


def stream_name(region: Region, params: dict[str, Any]) -> str:
    """The stream a request names, by StreamName or StreamARN (as AWS accepts both).

    Error handling, in AWS's order: an ARN of another region or account names no
    stream here (``ResourceNotFoundException``); an ARN and a name that disagree are
    ``InvalidArgumentException``; neither given is ``ValidationException``.
    """
    name = params.get("StreamName")
    arn = params.get("StreamARN")
    if arn is not None:
        arn_name = region.catalog.name_in_arn(arn)
        if name is not None and name != arn_name:
            raise InvalidArgumentException(
                "StreamARN and StreamName must refer to the same stream."
            )
        return arn_name
    if name is None:
        raise ValidationException("Either StreamName or StreamARN should be provided.")
    return str(name)
