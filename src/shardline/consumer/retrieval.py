"""Getting a shard's records: GetRecords polling or SubscribeToShard (fan-out).

Both retrievers start at a checkpoint and yield :class:`Fetched` batches of raw
Kinesis records; the shard consumer de-aggregates and filters them. They resume
from a sequence number with ``AT_SEQUENCE_NUMBER`` (never ``AFTER_…``), so a KPL
aggregate that was checkpointed half-way is read again and its already-processed
user records are dropped by sub-sequence number.

Error handling: expired iterators are renewed from the last record seen; throttling
and transient errors back off and retry; a fan-out subscription that ends (every
5 minutes on AWS) is renewed from its continuation sequence number. Records a
Shardline region reports damaged (``DamagedRecords``) are skipped with an error in
the log, unless ``on_damaged_records`` is "retry".
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shardline.backoff import Backoff
from shardline.consumer.config import ConsumerConfig
from shardline.consumer.metrics import ConsumerMetrics
from shardline.consumer.positions import Position
from shardline.errors import DamagedRecords, error_code, is_retriable

log = logging.getLogger(__name__)


@dataclass
class Fetched:
    """One batch of a shard's records and what the service said about the tip.

    ``as_of`` is the wall-clock instant the answer is taken to reflect: every record
    that arrived before ``as_of`` − MillisBehindLatest is in this batch or an earlier
    one. Polling uses the instant the GetRecords call was *sent*, a lower bound of
    when the service read the shard, so the claim is never early. A fan-out event
    carries no send time; its receipt time is used, early by the event's delivery
    time (well under a millisecond on one host).
    """

    records: list[dict[str, Any]]
    millis_behind_latest: int | None
    shard_end: bool = False
    children: list[dict[str, Any]] = field(default_factory=list)
    as_of: float = field(default_factory=time.time)


def _start_arguments(start: Position, config: ConsumerConfig) -> dict[str, Any]:
    if start.sequence == "AT_TIMESTAMP":
        timestamp = config.initial_timestamp or dt.datetime.now(dt.UTC)
        return {"Type": "AT_TIMESTAMP", "Timestamp": timestamp}
    if start.is_sentinel:
        return {"Type": start.sequence}
    return {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": start.sequence}


#: Codes a reader recovers from by starting over rather than by asking again: an
#: expired iterator gets a fresh one from the last record seen, and a shard whose
#: subscription another call still holds (ResourceInUseException on
#: SubscribeToShard) is subscribed again after the back-off.
_RESTARTABLE_CODES = frozenset({"ExpiredIteratorException", "ResourceInUseException"})


def _retriable(exc: Exception) -> bool:
    """Worth reading on after a back-off: the one registry's answer, or a restart code."""
    return is_retriable(exc) or error_code(exc) in _RESTARTABLE_CODES


def _skippable_damage(
    exc: Exception, config: ConsumerConfig, metrics: ConsumerMetrics | None
) -> DamagedRecords | None:
    """The damage a region reported, if the reader should read on past it (logged)."""
    if config.on_damaged_records != "skip" or not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    if error.get("Code") not in ("InternalFailure", "InternalFailureException"):
        return None
    damage = DamagedRecords.parse(str(error.get("Message", "")))
    if damage is not None:
        log.error(
            "%s of stream %s: records %s to %s are damaged on the region (%s) and are "
            "skipped; reading on after them",
            damage.shard_id,
            damage.stream,
            damage.first_sequence,
            damage.last_sequence,
            damage.cause,
        )
        if metrics is not None:
            metrics.damaged_range_skipped(damage.shard_id)
    return damage


class PollingRetriever:
    """GetRecords in a loop, pausing ``idle_time_between_reads_s`` after empty reads."""

    def __init__(
        self,
        client: Any,
        config: ConsumerConfig,
        shard_id: str,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._shard_id = shard_id
        self._metrics = metrics

    async def _iterator(self, start: Position, after: bool = False) -> str:
        arguments = _start_arguments(start, self._config)
        if after:
            arguments["Type"] = "AFTER_SEQUENCE_NUMBER"
        params: dict[str, Any] = {
            "StreamName": self._config.stream_name,
            "ShardId": self._shard_id,
            "ShardIteratorType": arguments.pop("Type"),
        }
        if "SequenceNumber" in arguments:
            params["StartingSequenceNumber"] = arguments["SequenceNumber"]
        if "Timestamp" in arguments:
            params["Timestamp"] = arguments["Timestamp"]
        result = await self._client.get_shard_iterator(**params)
        return str(result["ShardIterator"])

    async def batches(self, start: Position) -> AsyncIterator[Fetched]:
        backoff = Backoff(self._config.task_backoff_s, self._config.max_backoff_s)
        resume = start
        iterator: str | None = None
        past = False  # the next iterator starts after ``resume`` (past damaged records)
        while True:
            try:
                if iterator is None:
                    iterator = await self._iterator(resume, after=past)
                    past = False
                asked_at = time.time()
                result = await self._client.get_records(
                    ShardIterator=iterator, Limit=self._config.max_records
                )
            except Exception as exc:
                if self._metrics is not None:
                    self._metrics.read(ok=False)
                damage = _skippable_damage(exc, self._config, self._metrics)
                if damage is not None:
                    resume, iterator, past = Position(damage.last_sequence), None, True
                    continue
                if not _retriable(exc):
                    raise
                log.warning("GetRecords on %s: %s; backing off", self._shard_id, exc)
                iterator = None
                await backoff.sleep()
                continue
            backoff.reset()
            if self._metrics is not None:
                self._metrics.read(ok=True)
            records = result.get("Records", [])
            if records:
                resume = Position(records[-1]["SequenceNumber"])
            iterator = result.get("NextShardIterator")
            if iterator is None:
                yield Fetched(
                    records,
                    result.get("MillisBehindLatest"),
                    True,
                    result.get("ChildShards", []),
                    asked_at,
                )
                return
            yield Fetched(records, result.get("MillisBehindLatest"), as_of=asked_at)
            if not records:
                await asyncio.sleep(self._config.idle_time_between_reads_s)


class FanOutRetriever:
    """SubscribeToShard for a registered consumer, renewed whenever a stream ends."""

    def __init__(
        self,
        client: Any,
        config: ConsumerConfig,
        shard_id: str,
        consumer_arn: str,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._shard_id = shard_id
        self._consumer_arn = consumer_arn
        self._metrics = metrics

    async def batches(self, start: Position) -> AsyncIterator[Fetched]:
        """Events as batches; events that arrived while the last batch was processed
        are merged into one (up to ``max_records``).

        Why merge: the service pushes an event per commit, so a processor slower than
        the commit rate would otherwise fall further behind one small batch at a
        time, paying its per-batch cost (a checkpoint, a PutRecords) per event.
        """
        events: asyncio.Queue[Fetched | BaseException] = asyncio.Queue(_EVENT_BUFFER)
        reader = asyncio.create_task(self._read(start, events))
        try:
            while True:
                pending = [await events.get()]
                count = _size(pending[0])
                while (
                    not events.empty()
                    and isinstance(pending[-1], Fetched)
                    and not pending[-1].shard_end
                    and count < self._config.max_records
                ):
                    pending.append(events.get_nowait())
                    count += _size(pending[-1])
                merged = _merge(pending)
                if merged is not None:
                    yield merged
                    if merged.shard_end:
                        return
                failure = pending[-1]
                if isinstance(failure, BaseException):
                    raise failure
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self, start: Position, events: asyncio.Queue[Fetched | BaseException]) -> None:
        """Subscribe (and renew) until the shard ends; every event goes to ``events``."""
        backoff = Backoff(self._config.task_backoff_s, self._config.max_backoff_s)
        position = _start_arguments(start, self._config)
        while True:
            try:
                response = await self._client.subscribe_to_shard(
                    ConsumerARN=self._consumer_arn,
                    ShardId=self._shard_id,
                    StartingPosition=position,
                )
                async for event in response["EventStream"]:
                    body = event.get("SubscribeToShardEvent")
                    if body is None:
                        continue
                    backoff.reset()
                    if self._metrics is not None:
                        self._metrics.read(ok=True)
                    records = body.get("Records", [])
                    continuation = body.get("ContinuationSequenceNumber")
                    if continuation is None:
                        await events.put(
                            Fetched(
                                records,
                                body.get("MillisBehindLatest"),
                                True,
                                body.get("ChildShards", []),
                            )
                        )
                        return
                    # Renewal resumes right after what this stream has covered.
                    position = {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": continuation}
                    await events.put(Fetched(records, body.get("MillisBehindLatest")))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._metrics is not None:
                    self._metrics.read(ok=False)
                damage = _skippable_damage(exc, self._config, self._metrics)
                if damage is not None:
                    position = {
                        "Type": "AFTER_SEQUENCE_NUMBER",
                        "SequenceNumber": damage.last_sequence,
                    }
                    continue
                if not _retriable(exc):
                    await events.put(exc)
                    return
                log.warning("SubscribeToShard on %s: %s; resubscribing", self._shard_id, exc)
                await backoff.sleep()


#: Fan-out events buffered ahead of the processor (back-pressure beyond that).
_EVENT_BUFFER = 64


def _size(item: Fetched | BaseException) -> int:
    return len(item.records) if isinstance(item, Fetched) else 0


def _merge(items: list[Fetched | BaseException]) -> Fetched | None:
    """One batch from consecutive events (the last one's lag and end); None if none."""
    fetched = [item for item in items if isinstance(item, Fetched)]
    if not fetched:
        return None
    last = fetched[-1]
    records = [record for item in fetched for record in item.records]
    return Fetched(records, last.millis_behind_latest, last.shard_end, last.children, last.as_of)
