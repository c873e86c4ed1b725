"""An idempotent sink's outcomes for Prometheus, read from its counts at scrape.

``shardline_sink_records_total{table, outcome}``: records this process wrote to the
sink, by outcome: ``applied`` (newer than the stored item), ``stale`` (older:
recorded, item kept) or ``duplicate`` (its record id was already in the ledger,
the replays and re-sends the sink absorbed).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from shardline.sinks.base import IdempotentSink


class SinkCollector(Collector):
    """Renders one sink's :attr:`~IdempotentSink.counts` (module docstring)."""

    def __init__(self, sink: IdempotentSink, table: str) -> None:
        self.sink = sink
        self.table = table

    def collect(self) -> Iterable[Metric]:
        counts = self.sink.counts
        family = CounterMetricFamily(
            "shardline_sink_records", "Records written, by outcome.", labels=["table", "outcome"]
        )
        family.add_metric([self.table, "applied"], counts.applied)
        family.add_metric([self.table, "stale"], counts.stale)
        family.add_metric([self.table, "duplicate"], counts.duplicates)
        return [family]
