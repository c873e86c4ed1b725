"""What a Kinesis call acts on: the account that serves it and the resource ARN.

AWS routes a call by the ARN it names (``ConsumerARN``, ``ResourceARN``,
``StreamARN``): that is how one account reaches another's stream once a resource
policy allows it. A call that names a stream only by ``StreamName`` (or nothing)
acts in the caller's own account. An ARN of an account this server does not keep
is answered by the caller's account, which then reports the stream as not found,
as before accounts existed.

The resource is what authorization checks, as AWS's action table has it: a stream
ARN for stream operations, a consumer ARN for consumer operations, ``*`` for
account-level ones (ListStreams, DescribeLimits, ...). GetRecords, and a listing
continued with a NextToken, act on the stream their token names, whatever stream
the call also names (a garbled or expired token is refused here with its usual
error).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from shardline.errors import KinesisError
from shardline.server.accounts import Accounts
from shardline.server.auth.access import Caller, Target
from shardline.server.auth.policy import Policy, PolicyError, parse_policy
from shardline.storage.region import Region

log = logging.getLogger(__name__)

_BY_CONSUMER_NAME = frozenset({"DescribeStreamConsumer", "DeregisterStreamConsumer"})
_CONTINUED = frozenset({"ListShards", "ListStreamConsumers"})


@dataclass(frozen=True)
class Routed:
    """The account's region that serves a call, and what the call acts on."""

    region: Region
    target: Target


def arn_account(arn: str) -> str | None:
    """The account field of a Kinesis ARN (None when it is not one)."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "kinesis":
        return parts[4]
    return None


def route(accounts: Accounts, caller: Caller, operation: str, params: dict[str, Any]) -> Routed:
    """The serving region and the target of one validated call (module docstring)."""
    arn = params.get("ConsumerARN") or params.get("ResourceARN") or params.get("StreamARN")
    account = arn_account(arn) if isinstance(arn, str) else None
    region = accounts.get(account) if account is not None else None
    if region is None:
        region = accounts.get(caller.account)
    assert region is not None, "every caller's account has a region"
    resource = _resource(region, operation, params)
    return Routed(region, Target(region.account, resource, resource_policy(region, resource)))


def _resource(region: Region, operation: str, params: dict[str, Any]) -> str:
    # A token names the stream the handler will act on, whatever else the call names.
    if operation == "GetRecords":
        state = region.signer.open_iterator(params["ShardIterator"].strip('"'))
        return region.config.stream_arn(state.stream_name)
    if operation in _CONTINUED and "NextToken" in params:
        stream_name = region.signer.open_next_token(operation, params["NextToken"])[0]
        return region.config.stream_arn(stream_name)
    for member in ("ConsumerARN", "ResourceARN"):
        if member in params:
            return str(params[member])
    stream_arn = params.get("StreamARN")
    if stream_arn is None and "StreamName" in params:
        stream_arn = region.config.stream_arn(params["StreamName"])
    if stream_arn is not None:
        name = params.get("ConsumerName")
        if name is not None and operation in _BY_CONSUMER_NAME:
            return _consumer_arn(region, str(stream_arn), str(name))
        return str(stream_arn)
    return "*"


def _consumer_arn(region: Region, stream_arn: str, name: str) -> str:
    try:
        stream, consumer = region.consumers.find(stream_arn=stream_arn, name=name)
    except KinesisError:
        return f"{stream_arn}/consumer/{name}"
    return consumer.arn(stream.arn)


def resource_policy(region: Region, resource: str) -> Policy | None:
    """The resource policy of the stream or consumer ``resource`` names, if any."""
    if resource == "*":
        return None
    try:
        if "/consumer/" in resource:
            _, consumer = region.consumers.find(consumer_arn=resource)
            text = consumer.resource_policy
        else:
            stream = region.streams.get(region.catalog.name_in_arn(resource))
            text = stream.resource_policy if stream is not None else None
    except KinesisError:
        return None
    return stored_policy(text) if text is not None else None


@functools.lru_cache(maxsize=1024)
def stored_policy(text: str) -> Policy | None:
    """A stored resource policy, parsed once. One stored before policies were checked
    and now unreadable grants nothing (and is logged): fix it with PutResourcePolicy."""
    try:
        return parse_policy(text, "resource")
    except PolicyError as exc:
        log.warning("ignoring a stored resource policy that is not valid (%s): %.80s", exc, text)
        return None
