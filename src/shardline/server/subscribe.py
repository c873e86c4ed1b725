"""SubscribeToShard: push a shard's records to an enhanced fan-out consumer.

Protocol, as numbered steps:

1. Check the consumer (must be ACTIVE), the shard and the starting position exactly
   as GetShardIterator would; failures are ordinary error responses.
2. Claim the (consumer, shard) slot: one live subscription each, else
   ``ResourceInUseException``.
3. Answer 200 with an event stream and send the ``initial-response`` event.
4. Loop until the subscription's lifetime (5 minutes, as on AWS) runs out:
   read what is committed after the position and send it as a
   ``SubscribeToShardEvent`` (Records, ContinuationSequenceNumber,
   MillisBehindLatest); when nothing is there, wait for the shard's next commit,
   with no polling delay, sending an empty event as a heartbeat every few seconds.
5. At the end of a closed shard send one last event with ``ChildShards`` and no
   ContinuationSequenceNumber, and end the stream.

Error handling: a failure after step 3 is sent as an exception event; a client that
disconnects only ends its own subscription. The slot is released in every case.
The event's ``:exception-type`` is a member of the model's SubscribeToShardEventStream,
which names an internal failure ``InternalFailureException`` (the JSON error code is
``InternalFailure``); SDKs read the code and message of members only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from shardline.errors import (
    InternalFailure,
    KinesisError,
    ResourceInUseException,
    ResourceNotFoundException,
)
from shardline.server import eventstream, protocol
from shardline.server.handlers.records import RecordList
from shardline.server.handlers.shapes import child_shape
from shardline.storage.catalog import Shard, Stream, parse_shard_id
from shardline.storage.records import ReadResult
from shardline.storage.region import Region
from shardline.storage.sequence import format_sequence

log = logging.getLogger(__name__)

EVENT_STREAM_TYPE = "application/vnd.amazon.eventstream"
MAX_RECORDS_PER_EVENT = 10_000
#: While idle, how often to look whether the subscriber has disconnected.
DISCONNECT_CHECK_S = 0.5


class Subscription:
    """One SubscribeToShard call being served."""

    def __init__(
        self,
        region: Region,
        codec: protocol.Protocol,
        lifetime_s: float,
        heartbeat_s: float,
    ) -> None:
        self.region = region
        self.codec = codec
        self.lifetime_s = lifetime_s
        self.heartbeat_s = heartbeat_s
        self.content_type = "application/json" if codec == "json" else protocol.CBOR_TYPE

    def _resolve(self, params: dict[str, Any]) -> tuple[Stream, Shard, str, int]:
        region = self.region
        stream, consumer = region.consumers.find(consumer_arn=params["ConsumerARN"])
        consumer_arn = consumer.arn(stream.arn)
        if consumer.status != "ACTIVE":
            raise ResourceInUseException(
                f"Consumer {consumer_arn} under account {region.account} is not ACTIVE."
            )
        index = parse_shard_id(params["ShardId"])
        shard = stream.shards.get(index) if index is not None else None
        if shard is None or stream.status not in ("ACTIVE", "UPDATING"):
            raise ResourceNotFoundException(
                f"Shard {params['ShardId']} in stream {stream.name} under account "
                f"{region.account} does not exist"
            )
        start = params["StartingPosition"]
        position = region.records.position(
            stream, shard, start["Type"], start.get("SequenceNumber"), start.get("Timestamp")
        )
        return stream, shard, consumer_arn, position

    def open(self, params: dict[str, Any]) -> OpenSubscription:
        """Steps 1 and 2: check the call and claim the slot.

        Errors raised here are ordinary error responses; once this returns, the
        caller owes the returned subscription a ``serve`` (which frees the slot).
        """
        stream, shard, consumer_arn, position = self._resolve(params)
        try:
            superseded = self.region.consumers.claim(consumer_arn, shard.index)
        except ResourceInUseException:
            if self.region.metrics is not None:
                self.region.metrics.stream(stream.name).subscribe_rate_exceeded += 1
            raise
        return OpenSubscription(self, stream, shard, consumer_arn, position, superseded)

    def _encode(self, payload: dict[str, Any]) -> bytes:
        return protocol.encode(self.codec, payload)

    async def stream_events(
        self,
        channel: EventChannel,
        stream: Stream,
        shard: Shard,
        position: int,
        superseded: asyncio.Event,
    ) -> None:
        """Steps 3-5: the ``initial-response`` event, then records until the end."""
        await channel.send(
            eventstream.event("initial-response", self._encode({}), self.content_type)
        )
        region = self.region
        deadline = time.monotonic() + self.lifetime_s
        last_sent = 0.0
        while time.monotonic() < deadline and not superseded.is_set():
            if channel.is_gone():
                return  # the subscriber went away
            if region.streams.get(stream.name) is not stream:
                await self._fail(
                    channel,
                    ResourceNotFoundException(
                        f"Stream {stream.name} under account {region.account} not found."
                    ),
                )
                return
            tip = region.records.tip_changed(shard)
            try:
                result = await region.records.read(stream, shard, position, MAX_RECORDS_PER_EVENT)
            except KinesisError as exc:
                await self._fail(channel, exc)
                return
            except Exception:
                log.exception("subscription read failed")
                await self._fail(channel, InternalFailure("Internal service failure."))
                return
            if result.next_position is None:
                await channel.send(self._event(result, shard, None))
                region.records.count_read(stream, shard, result, None)
                return
            now = time.monotonic()
            if result.records or now - last_sent >= self.heartbeat_s:
                position = result.next_position
                await channel.send(self._event(result, shard, max(position - 1, shard.created_key)))
                region.records.count_read(stream, shard, result, None)
                last_sent = now
                if result.records:
                    continue
            wait = min(
                self.heartbeat_s - (time.monotonic() - last_sent),
                deadline - time.monotonic(),
                DISCONNECT_CHECK_S,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tip.wait(), max(wait, 0.0))

    def _event(self, result: ReadResult, shard: Shard, continuation: int | None) -> bytes:
        index = shard.index
        records = RecordList(result.records, index)
        payload: dict[str, Any] = {
            "Records": records,
            "MillisBehindLatest": result.millis_behind,
        }
        if continuation is None:
            payload["ChildShards"] = [child_shape(c) for c in result.children]
        else:
            payload["ContinuationSequenceNumber"] = format_sequence(continuation, index)
        return eventstream.event("SubscribeToShardEvent", self._encode(payload), self.content_type)

    async def _fail(self, channel: EventChannel, error: KinesisError) -> None:
        body = self._encode({"message": error.message})
        code = error.event_stream_code or error.code
        await channel.send(eventstream.exception(code, body, self.content_type))


class EventChannel(Protocol):
    """Where a subscription's events go: one HTTP/1.1 or HTTP/2 response body."""

    def is_gone(self) -> bool:
        """Whether the subscriber has disconnected or reset the stream."""

    async def send(self, data: bytes) -> None:
        """Send one encoded event; raises ``ConnectionError`` once the peer is gone."""


@dataclass(frozen=True)
class OpenSubscription:
    """A checked SubscribeToShard call holding its slot, ready to stream (steps 3-5)."""

    subscription: Subscription
    stream: Stream
    shard: Shard
    consumer_arn: str
    position: int
    #: Set when a newer subscription takes the slot over.
    superseded: asyncio.Event
    #: The response headers; the envelope adds the request ids to them.
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": EVENT_STREAM_TYPE})

    async def serve(self, channel: EventChannel) -> None:
        """Send the events until the subscription ends; the slot is freed in every case."""
        try:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await self.subscription.stream_events(
                    channel, self.stream, self.shard, self.position, self.superseded
                )
        finally:
            self.subscription.region.consumers.release(
                self.consumer_arn, self.shard.index, self.superseded
            )
