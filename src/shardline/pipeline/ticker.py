"""The stock-ticker example: a price producer and a consumer writing ``ticker-prices``.

Modelled on the AWS blog's reference pipeline. Each record is one price tick::

    {"symbol": "AMZN", "price": 178.25, "event_time": 1700000000123}

partitioned by symbol, with a producer-assigned record id (the envelope), so the
consumer's idempotent sink can recognise re-sends and the copies read after a
failover. The consumer writes each tick to the sink's ``ticker-prices`` items
(latest price per symbol wins by event time) with ``last_updated_region`` = the
region whose consumer applied it.

Both sides follow the control state: the producer through
:class:`~shardline.failover.producer.FailoverProducer`, the consumer through
:class:`~shardline.failover.consumer.RegionConsumer` (one process per region).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from shardline.consumer.processor import ProcessRecordsInput, RecordProcessor
from shardline.failover.consumer import RegionConsumer
from shardline.failover.metrics import FollowerCollector
from shardline.failover.producer import FailoverProducer
from shardline.metrics.http import serving_metrics
from shardline.pipeline.acked import AckedLedger
from shardline.producer import ProducerConfig, PutOutcome
from shardline.sinks import SinkCounts, SinkRecord, SQLiteSink
from shardline.sinks.exceptions import MissingRecordIdError
from shardline.sinks.metrics import SinkCollector
from shardline.stores.control import ControlStore
from shardline.stores.reports import SinkFigures
from shardline.topology import Topology

log = logging.getLogger(__name__)

TABLE = "ticker-prices"
SYMBOLS = (
    "AMZN", "AAPL", "MSFT", "GOOG", "META", "NVDA", "TSLA", "NFLX", "ORCL", "IBM",
    "INTC", "AMD", "CSCO", "ADBE", "CRM", "QCOM", "TXN", "AVGO", "SAP", "SONY",
)  # fmt: skip


def symbols(count: int) -> list[str]:
    """``count`` ticker symbols (the well-known ones first, then numbered ones)."""
    names = list(SYMBOLS[:count])
    names += [f"SYM{i:03d}" for i in range(len(names), count)]
    return names


def encode_tick(symbol: str, price: float, event_time_ms: int) -> bytes:
    return orjson.dumps({"symbol": symbol, "price": price, "event_time": event_time_ms})


def parse_tick(payload: bytes) -> tuple[str, int, Mapping[str, Any]]:
    """A tick as the sink wants it: (item key, event time ms, attributes)."""
    tick = orjson.loads(payload)
    return tick["symbol"], int(tick["event_time"]), {"price": tick["price"]}


def _producer_config(spool: Path) -> ProducerConfig:
    """The ticker's producer: record ids (the sink deduplicates by them), a spool, and
    short call timeouts."""
    return ProducerConfig(
        name="ticker-producer",
        record_ids=True,
        spool_path=spool,
        request_timeout_s=2.0,
        connect_timeout_s=1.0,
    )


def _next_tick(prices: dict[str, float], symbol: str) -> tuple[bytes, int]:
    """The symbol's next tick and its event time (ms): the price moves by up to 0.5 %,
    never below 1.0."""
    prices[symbol] = round(max(1.0, prices[symbol] * random.uniform(0.995, 1.005)), 2)
    event_time = int(time.time() * 1000)
    return encode_tick(symbol, prices[symbol], event_time), event_time


async def produce(
    topology: Topology,
    store: ControlStore,
    stop: asyncio.Event,
    *,
    spool: Path,
    acked: Path,
    rate: float | None = None,
    count: int | None = None,
) -> None:
    """Put ticks at ``rate`` per second until ``stop`` is set (or ``count`` ticks).

    Every acknowledged tick goes to the acked ledger. On stop, outstanding ticks get
    up to 30 s to be acknowledged; the rest stay in the spool.
    """
    spec = topology.pipeline
    rate = rate or spec.rate
    names = symbols(spec.symbols)
    prices = {name: round(random.uniform(20, 500), 2) for name in names}
    ledger = await AckedLedger(acked).open()
    producer = FailoverProducer(topology, store, _producer_config(spool))
    await producer.start()
    ports = topology.metrics
    exporter = serving_metrics(
        ports.host, ports.producer, [FollowerCollector(producer)], _announce("producer")
    )

    def acknowledged(future: asyncio.Future[PutOutcome], *, symbol: str, at: int) -> None:
        outcome = future.result()
        if outcome.succeeded:
            region = producer.state.active_region if producer.state else "?"
            ledger.add(outcome.record_id, symbol, at, region)

    try:
        async with exporter:
            begin = time.monotonic()
            sent = 0
            while not stop.is_set() and (count is None or sent < count):
                symbol = names[sent % len(names)]
                tick, event_time = _next_tick(prices, symbol)
                future = await producer.put(tick, symbol)
                future.add_done_callback(
                    functools.partial(acknowledged, symbol=symbol, at=event_time)
                )
                sent += 1
                delay = begin + sent / rate - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
    finally:
        await producer.close(30.0)
        await ledger.close()


class SinkWriter(RecordProcessor):
    """Writes each batch to the idempotent sink, then checkpoints."""

    def __init__(self, sink: SQLiteSink, region: str) -> None:
        self.sink = sink
        self.region = region

    async def process_records(self, batch: ProcessRecordsInput) -> None:
        records = []
        for record in batch.records:
            try:
                records.append(SinkRecord.from_consumer_record(record, self.region, parse_tick))
            except (MissingRecordIdError, orjson.JSONDecodeError, KeyError) as exc:
                log.warning("skipping record %s: %s", record.sequence_number, exc)
        if records:
            await self.sink.write(records)
        if batch.records:
            await batch.checkpointer.checkpoint()


async def consume(
    topology: Topology, store: ControlStore, region: str, sink_path: Path, stop: asyncio.Event
) -> None:
    """Run the ticker consumer in ``region`` (as the control state says) until ``stop``."""
    spec = topology.pipeline
    async with SQLiteSink(sink_path, TABLE) as sink:
        consumer = RegionConsumer(
            topology,
            store,
            region,
            spec.application,
            lambda: SinkWriter(sink, region),
            config_overrides={
                "failover_time_s": spec.lease_failover_s,
                "idle_time_between_reads_s": 0.2,
            },
            report_interval_s=0.5,
            sink_figures=lambda: _figures(sink.counts),
        )
        ports = topology.metrics
        collectors = [SinkCollector(sink, TABLE), FollowerCollector(consumer)]
        port = ports.consumers.get(region)
        async with serving_metrics(ports.host, port, collectors, _announce(f"consumer {region}")):
            runner = asyncio.create_task(consumer.run())
            await stop.wait()
            consumer.stop()
            await runner


def _announce(component: str) -> Callable[[str], None]:
    return lambda url: log.info("%s serves metrics at %s", component, url)


def _figures(counts: SinkCounts) -> SinkFigures:
    """The sink's outcome counts as its consumer reports them."""
    return SinkFigures(counts.applied, counts.stale, counts.duplicates)
