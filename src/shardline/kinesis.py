"""The Kinesis wire layer of the toolkit: clients, shard listings, waiting for ACTIVE.

Every part of the toolkit (producer, consumer, replicator, monitor, pipeline, CLI,
console) speaks to a region through the Kinesis API alone, so they share one way
to do the three things each of them needs:

- open a client: :class:`Endpoint` says where a region answers, which keys sign
  for it and which CAs its certificate is checked against; :func:`connect` opens
  an aiobotocore client of it, and :func:`quick_config` is the one-retry,
  short-timeout client configuration of callers that must not wait long;
- list a stream's shards: :func:`list_all_shards` follows ListShards' ``NextToken``
  pages and parses each shard into a :class:`ShardInfo` (parents, hash range as
  integers, open or closed), the one parser of Kinesis's shard shapes;
- wait until a stream (:func:`wait_stream_active`) or an enhanced fan-out consumer
  (:func:`wait_consumer_active`) is ACTIVE, within a bound.

Why here: these were copied into each component (four pagination loops, five shard
parsers, three waits). One copy means one place where a pagination rule or a wire
shape is learnt. This module imports only the ground floor (``credentials``,
``errors``, ``sessions``); the rest of the toolkit imports it.

Error handling: service errors (botocore's ``ClientError``, connection errors) pass
through unchanged, so each caller keeps its own policy (keep the previous shard map,
retry on the next sync, fail a failback with advice). A wait that runs out of time
raises :class:`NotActiveError`, which is also a ``TimeoutError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from shardline.credentials import StaticCredentials, default_client_options
from shardline.errors import ShardlineError
from shardline.sessions import reader_session

#: Pause between DescribeStreamSummary / DescribeStreamConsumer polls while waiting.
POLL_S = 0.1
#: How long a wait for ACTIVE lasts by default: a local region activates a stream in
#: milliseconds, AWS in seconds; a minute means something is wrong.
ACTIVE_TIMEOUT_S = 60.0


class NotActiveError(ShardlineError, TimeoutError):
    """A stream or stream consumer did not become ACTIVE in time (the message says which)."""


@dataclass(frozen=True)
class Endpoint:
    """Where one region's Kinesis API answers, and how a client signs for and trusts it.

    Example::

        Endpoint("us-east-1", "https://127.0.0.1:4567", ca_bundle="certs/ca.pem")

    ``options`` are further client arguments (usually credentials); by default the
    AWS credential chain, or placeholder keys when it has none
    (:func:`shardline.credentials.default_client_options`). ``credentials`` and
    ``ca_bundle``, when given, take precedence over them.
    """

    #: The region requests are signed for (and, without ``endpoint_url``, sent to).
    region_name: str = "us-east-1"
    #: Where the API answers; None: AWS's own endpoint for ``region_name``.
    endpoint_url: str | None = None
    #: Further client arguments (credentials, ``verify``).
    options: Mapping[str, Any] = field(default_factory=default_client_options)
    #: Keys to sign with, over ``options``.
    credentials: StaticCredentials | None = None
    #: PEM file of the CAs an ``https://`` endpoint's certificate is checked against.
    ca_bundle: str | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Arguments for an aiobotocore/boto3 Kinesis client of this endpoint."""
        kwargs: dict[str, Any] = {"region_name": self.region_name, **self.options}
        if self.credentials is not None:
            kwargs.update(self.credentials.client_options())
        if self.endpoint_url is not None:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.ca_bundle is not None:
            kwargs["verify"] = self.ca_bundle
        return kwargs


def quick_config(
    timeout_s: float,
    read_timeout_s: float | None = None,
    *,
    max_connections: int | None = None,
    validate: bool = True,
) -> AioConfig:
    """Client settings for callers that retry on their own terms, or not at all.

    botocore's "standard" mode with ``max_attempts`` 1 (at most one quick retry of a
    throttled or transient failure), a connect timeout of ``timeout_s`` and a read
    timeout of ``read_timeout_s`` (default: the same). ``validate=False`` skips
    botocore's parameter validation (the producer validates records itself).
    """
    options: dict[str, Any] = {
        "retries": {"max_attempts": 1, "mode": "standard"},
        "connect_timeout": timeout_s,
        "read_timeout": timeout_s if read_timeout_s is None else read_timeout_s,
        "parameter_validation": validate,
    }
    if max_connections is not None:
        options["max_pool_connections"] = max_connections
    return AioConfig(**options)


def connect(
    endpoint: Endpoint, *, config: AioConfig | None = None, reader: bool = False
) -> AbstractAsyncContextManager[Any]:
    """An aiobotocore Kinesis client of ``endpoint``, to use in ``async with``.

    ``reader=True`` uses :func:`shardline.sessions.reader_session`, whose fast
    timestamp parsing pays off for clients that read many records (GetRecords).
    """
    session = reader_session() if reader else get_session()
    client: AbstractAsyncContextManager[Any] = session.create_client(
        "kinesis", config=config, **endpoint.client_kwargs()
    )
    return client


@dataclass(frozen=True)
class ShardInfo:
    """One shard as ListShards (``Shard``) or GetRecords (``ChildShard``) describes it.

    A child shard from GetRecords or SubscribeToShard lists no sequence numbers, so
    it counts as open, which it is when it is reported.
    """

    shard_id: str
    #: The shard it was split from or the first of the two it was merged from.
    parent: str | None
    #: The second parent of a merge.
    adjacent_parent: str | None
    starting_hash_key: int
    ending_hash_key: int
    #: None for a child shard from GetRecords (no sequence range is given there).
    starting_sequence: str | None = None
    #: Set once the shard is closed (split, merged or its stream resharded).
    ending_sequence: str | None = None

    @classmethod
    def from_wire(cls, shard: Mapping[str, Any]) -> ShardInfo:
        """Parse a ``Shard`` or ``ChildShard`` (``ParentShards`` list); KeyError if malformed."""
        if "ParentShards" in shard:
            parents = list(shard["ParentShards"]) + [None, None]
            parent, adjacent = parents[0], parents[1]
        else:
            parent, adjacent = shard.get("ParentShardId"), shard.get("AdjacentParentShardId")
        hashes = shard["HashKeyRange"]
        sequences = shard.get("SequenceNumberRange", {})
        return cls(
            shard_id=shard["ShardId"],
            parent=parent,
            adjacent_parent=adjacent,
            starting_hash_key=int(hashes["StartingHashKey"]),
            ending_hash_key=int(hashes["EndingHashKey"]),
            starting_sequence=sequences.get("StartingSequenceNumber"),
            ending_sequence=sequences.get("EndingSequenceNumber"),
        )

    @property
    def parents(self) -> frozenset[str]:
        """The parent shards (none, one for a split, two for a merge)."""
        return frozenset(p for p in (self.parent, self.adjacent_parent) if p is not None)

    @property
    def hash_range(self) -> tuple[int, int]:
        """The inclusive hash key range ``(start, end)``."""
        return self.starting_hash_key, self.ending_hash_key

    @property
    def is_open(self) -> bool:
        """True until the shard is closed (it then has an ending sequence number)."""
        return self.ending_sequence is None


async def list_all_shards(
    client: Any, stream: str, shard_filter: Mapping[str, Any] | None = None
) -> list[ShardInfo]:
    """Every shard of ``stream`` (or those ``shard_filter`` selects), all pages.

    ListShards takes ``StreamName`` and ``ShardFilter`` on the first call only; each
    following call carries just the ``NextToken`` of the page before. The number
    of pages is bounded by the stream's shards (Kinesis returns up to 1,000 a page).
    """
    params: dict[str, Any] = {"StreamName": stream}
    if shard_filter is not None:
        params["ShardFilter"] = dict(shard_filter)
    shards: list[ShardInfo] = []
    while True:
        page = await client.list_shards(**params)
        shards += [ShardInfo.from_wire(shard) for shard in page.get("Shards", [])]
        token = page.get("NextToken")
        if not token:
            return shards
        params = {"NextToken": token}


async def _wait_active(
    status: Callable[[], Awaitable[str]], what: str, timeout_s: float, poll_s: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (current := await status()) != "ACTIVE":
        if loop.time() >= deadline:
            raise NotActiveError(
                f"{what} is still {current} after {timeout_s:g} s; check that the "
                "region is healthy, then try again"
            )
        await asyncio.sleep(poll_s)


async def wait_stream_active(
    client: Any, stream: str, *, timeout_s: float = ACTIVE_TIMEOUT_S, poll_s: float = POLL_S
) -> None:
    """Return once ``stream`` is ACTIVE; :class:`NotActiveError` after ``timeout_s``."""

    async def status() -> str:
        summary = await client.describe_stream_summary(StreamName=stream)
        return str(summary["StreamDescriptionSummary"]["StreamStatus"])

    await _wait_active(status, f"stream {stream}", timeout_s, poll_s)


async def wait_consumer_active(
    client: Any,
    stream_arn: str,
    name: str,
    *,
    timeout_s: float = ACTIVE_TIMEOUT_S,
    poll_s: float = POLL_S,
) -> str:
    """Return the ARN of consumer ``name`` once it is ACTIVE; NotActiveError after ``timeout_s``."""
    arn = ""

    async def status() -> str:
        nonlocal arn
        described = await client.describe_stream_consumer(StreamARN=stream_arn, ConsumerName=name)
        description = described["ConsumerDescription"]
        arn = str(description["ConsumerARN"])
        return str(description["ConsumerStatus"])

    await _wait_active(status, f"stream consumer {name}", timeout_s, poll_s)
    return arn
