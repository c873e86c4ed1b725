"""The replicator's Prometheus metrics, read from the running replication at scrape.

Per source shard (labels ``stream``, ``source``, ``target``, ``shard``):

- ``shardline_replication_lag_seconds``: MillisBehindLatest of the last source read
  (how far the copy trails the source's tip);
- ``shardline_replication_watermark_timestamp_seconds``: arrival time in the source
  of the newest record the target acknowledged (producers release held records up
  to the watermark);
- ``shardline_replication_records_copied_total`` and ``..._skipped_total`` (records
  not copied back to the region they came from).

Per run: ``shardline_replication_generation`` (the epoch the run began at) and
``shardline_replication_retention_gaps_total``; ``shardline_replication_running``
is 0 while no run is active (replication off after a failover).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shardline.replication.replicator import Replicator

_SHARD = ["stream", "source", "target", "shard"]
_RUN = ["stream", "source", "target"]


class ReplicationCollector(Collector):
    """Renders :class:`Replicator`'s current run (module docstring)."""

    def __init__(self, replicator: Replicator) -> None:
        self.replicator = replicator

    def collect(self) -> Iterable[Metric]:
        progress = self.replicator.progress
        running = GaugeMetricFamily(
            "shardline_replication_running", "1 while a replication run is active.", labels=[]
        )
        running.add_metric([], 0 if progress is None or progress.stopped.is_set() else 1)
        lag = GaugeMetricFamily(
            "shardline_replication_lag_seconds", "Source MillisBehindLatest.", labels=_SHARD
        )
        watermark = GaugeMetricFamily(
            "shardline_replication_watermark_timestamp_seconds",
            "Source arrival time of the newest record the target acknowledged.",
            labels=_SHARD,
        )
        copied = CounterMetricFamily(
            "shardline_replication_records_copied", "Records copied.", labels=_SHARD
        )
        skipped = CounterMetricFamily(
            "shardline_replication_records_skipped",
            "Records not copied back to their origin region.",
            labels=_SHARD,
        )
        generation = GaugeMetricFamily(
            "shardline_replication_generation", "Epoch the run began at.", labels=_RUN
        )
        gaps = CounterMetricFamily(
            "shardline_replication_retention_gaps",
            "Checkpointed records the source no longer had.",
            labels=_RUN,
        )
        if progress is not None:
            run = [progress.stream, progress.source_region, progress.target_region]
            generation.add_metric(run, progress.generation)
            gaps.add_metric(run, len(progress.gaps))
            for shard_id, shard in sorted(progress.shards.items()):
                labels = [*run, shard_id]
                lag.add_metric(labels, shard.millis_behind / 1000)
                if shard.sequence_number is not None:
                    watermark.add_metric(labels, shard.arrival)
                copied.add_metric(labels, shard.copied)
                skipped.add_metric(labels, shard.skipped)
        return [running, lag, watermark, copied, skipped, generation, gaps]
