"""Enhanced fan-out consumers: registration, lookup by ARN, and subscription slots.

A consumer belongs to a stream and is persisted in the stream's document. Its ARN is
``<stream ARN>/consumer/<name>:<creation epoch seconds>``; the timestamp makes an ARN
of a deleted-and-recreated consumer stop working, as on AWS.
"""

from __future__ import annotations

import asyncio
import time

from shardline.errors import (
    InvalidArgumentException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from shardline.storage.catalog import Catalog, Consumer, Stream
from shardline.storage.config import RegionConfig
from shardline.storage.tags import check_tags
from shardline.storage.tasks import BackgroundTasks

#: AWS refuses a new subscription this soon after the last one on the same shard.
RESUBSCRIBE_WINDOW_S = 5.0


class Consumers:
    """The region's stream consumers and their active SubscribeToShard slots.

    Consumers live in their stream's document: they are found and persisted through
    the ``catalog``; their CREATING and DELETING periods (``config``'s delays) end in
    the region's background ``tasks``.
    """

    def __init__(self, catalog: Catalog, tasks: BackgroundTasks, config: RegionConfig) -> None:
        self._catalog = catalog
        self._tasks = tasks
        self._config = config
        self._subscriptions: dict[tuple[str, int], tuple[float, asyncio.Event]] = {}

    def _not_found(self, what: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"Consumer {what} under account {self._catalog.account} not found."
        )

    async def register(self, stream_name: str, name: str, tags: dict[str, str]) -> Consumer:
        check_tags(tags)
        catalog, config = self._catalog, self._config
        stream = catalog.readable(stream_name)
        if name in stream.consumers:
            raise ResourceInUseException(
                f"Consumer {stream.consumers[name].arn(stream.arn)} under account "
                f"{catalog.account} already exists."
            )
        if len(stream.consumers) >= config.consumer_limit:
            raise LimitExceededException(
                f"Stream {stream.name} under account {catalog.account} has reached the limit of "
                f"{config.consumer_limit} registered consumers."
            )
        consumer = Consumer(name=name, created_s=int(time.time()), tags=dict(tags))
        delay = config.create_delay_s
        if delay <= 0:
            consumer.status = "ACTIVE"
        stream.consumers[name] = consumer
        await catalog.persist(stream)
        if consumer.status == "CREATING":
            self._tasks.after(delay, lambda: self._activate(stream, consumer))
        return consumer

    async def _activate(self, stream: Stream, consumer: Consumer) -> None:
        if stream.consumers.get(consumer.name) is consumer and consumer.status == "CREATING":
            consumer.status = "ACTIVE"
            await self._catalog.persist(stream)

    def find(
        self,
        consumer_arn: str | None = None,
        stream_arn: str | None = None,
        name: str | None = None,
    ) -> tuple[Stream, Consumer]:
        """A consumer by its ARN, or by stream ARN + consumer name (exactly one way)."""
        catalog = self._catalog
        if consumer_arn is not None:
            if stream_arn is not None or name is not None:
                raise InvalidArgumentException(
                    "Either ConsumerARN or both StreamARN and ConsumerName must be provided."
                )
            stream_part, _, consumer_part = consumer_arn.partition("/consumer/")
            consumer_name, _, created = consumer_part.rpartition(":")
            stream = catalog.streams.get(catalog.name_in_arn(stream_part))
            consumer = stream.consumers.get(consumer_name) if stream is not None else None
            if stream is None or consumer is None or str(consumer.created_s) != created:
                raise self._not_found(consumer_arn)
            return stream, consumer
        if stream_arn is None or name is None:
            raise InvalidArgumentException(
                "Either ConsumerARN or both StreamARN and ConsumerName must be provided."
            )
        stream = catalog.describe(catalog.name_in_arn(stream_arn))
        consumer = stream.consumers.get(name)
        if consumer is None:
            raise self._not_found(f"{stream_arn}/consumer/{name}")
        return stream, consumer

    async def deregister(self, stream: Stream, consumer: Consumer) -> None:
        catalog = self._catalog
        if consumer.status == "DELETING":
            return
        consumer.status = "DELETING"
        await catalog.persist(stream)

        async def remove() -> None:
            if stream.consumers.get(consumer.name) is consumer:
                del stream.consumers[consumer.name]
                await catalog.persist(stream)

        delay = self._config.delete_delay_s
        if delay <= 0:
            await remove()
        else:
            self._tasks.after(delay, remove)

    def claim(self, consumer_arn: str, shard_index: int) -> asyncio.Event:
        """Take the one subscription slot a consumer has on a shard.

        As on AWS, a second SubscribeToShard within 5 seconds of the last successful
        one is refused (ResourceInUseException); a later one takes the slot over and
        the returned event of the older subscription is set, so it ends.
        """
        slot = (consumer_arn, shard_index)
        now = time.monotonic()
        held = self._subscriptions.get(slot)
        if held is not None:
            started, superseded = held
            if now - started < RESUBSCRIBE_WINDOW_S:
                raise ResourceInUseException(
                    f"Another active subscription exists for consumer {consumer_arn} on shard "
                    f"shardId-{shard_index:012d}."
                )
            superseded.set()
        ended = asyncio.Event()
        self._subscriptions[slot] = (now, ended)
        return ended

    def release(self, consumer_arn: str, shard_index: int, ended: asyncio.Event) -> None:
        """Free the slot, unless a newer subscription has taken it over."""
        slot = (consumer_arn, shard_index)
        held = self._subscriptions.get(slot)
        if held is not None and held[1] is ended:
            del self._subscriptions[slot]
