"""``GET /metrics``: the region's metrics in Prometheus's text format, made on scrape.

The data plane counts with plain integers (:mod:`shardline.storage.metrics`); this
module turns them into metric families only when Prometheus asks, through a
``prometheus_client`` custom collector, so a scrape costs work proportional to the
number of streams and a PutRecords call costs a few integer additions.

Names: Kinesis's CloudWatch metrics (AWS/Kinesis namespace) under Prometheus's
conventions: ``kinesis_`` prefix, snake_case, ``_total`` on counters, seconds for
times. ``IncomingBytes`` is ``kinesis_incoming_bytes_total{stream}``,
``PutRecords.Latency`` is the histogram ``kinesis_put_records_latency_seconds``,
``GetRecords.IteratorAgeMilliseconds`` is the gauge
``kinesis_get_records_iterator_age_seconds``; ``docs/metrics.md`` has the whole
table. Shard-level metrics (``kinesis_shard_*{stream,shard}``) appear only for the
streams and metric names ``EnableEnhancedMonitoring`` turned on, as on AWS.
Process metrics are ``shardline_*`` plus prometheus-client's ``process_*``.

Who may scrape is decided by one hook, :func:`shardline.server.access.operator_access`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from shardline.server.access import AccessRule, operator_access
from shardline.storage.catalog import shard_id
from shardline.storage.metrics import Histogram, ShardMetrics, StreamMetrics
from shardline.storage.region import Region

PATH = "/metrics"

#: Stream-level counters: (Prometheus name without ``_total``, CloudWatch name, field).
STREAM_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("kinesis_incoming_bytes", "IncomingBytes", "incoming_bytes"),
    ("kinesis_incoming_records", "IncomingRecords", "incoming_records"),
    ("kinesis_put_record_bytes", "PutRecord.Bytes", "put_record_bytes"),
    ("kinesis_put_record_success", "PutRecord.Success", "put_record_success"),
    ("kinesis_put_records_bytes", "PutRecords.Bytes", "put_records_bytes"),
    ("kinesis_put_records_records", "PutRecords.Records", "put_records_records"),
    ("kinesis_put_records_success", "PutRecords.Success", "put_records_success"),
    ("kinesis_put_records_entries", "PutRecords.TotalRecords", "put_records_total"),
    (
        "kinesis_put_records_throttled_records",
        "PutRecords.ThrottledRecords",
        "put_records_throttled",
    ),
    ("kinesis_put_records_failed_records", "PutRecords.FailedRecords", "put_records_failed"),
    ("kinesis_get_records_bytes", "GetRecords.Bytes", "get_records_bytes"),
    ("kinesis_get_records_records", "GetRecords.Records", "get_records_records"),
    ("kinesis_get_records_success", "GetRecords.Success", "get_records_success"),
    (
        "kinesis_read_provisioned_throughput_exceeded",
        "ReadProvisionedThroughputExceeded",
        "read_throttled",
    ),
    (
        "kinesis_write_provisioned_throughput_exceeded",
        "WriteProvisionedThroughputExceeded",
        "write_throttled",
    ),
    (
        "kinesis_subscribe_to_shard_rate_exceeded",
        "SubscribeToShard.RateExceeded",
        "subscribe_rate_exceeded",
    ),
    ("kinesis_subscribe_to_shard_event_bytes", "SubscribeToShardEvent.Bytes", "event_bytes"),
    ("kinesis_subscribe_to_shard_event_records", "SubscribeToShardEvent.Records", "event_records"),
    ("kinesis_subscribe_to_shard_event_success", "SubscribeToShardEvent.Success", "event_success"),
)

#: Stream-level gauges kept in milliseconds, exported in seconds.
STREAM_AGES: tuple[tuple[str, str, str], ...] = (
    (
        "kinesis_get_records_iterator_age_seconds",
        "GetRecords.IteratorAgeMilliseconds",
        "get_records_iterator_age_ms",
    ),
    (
        "kinesis_subscribe_to_shard_event_behind_latest_seconds",
        "SubscribeToShardEvent.MillisBehindLatest",
        "event_millis_behind",
    ),
)

STREAM_LATENCIES: tuple[tuple[str, str, str], ...] = (
    ("kinesis_put_record_latency_seconds", "PutRecord.Latency", "put_record_latency"),
    ("kinesis_put_records_latency_seconds", "PutRecords.Latency", "put_records_latency"),
    ("kinesis_get_records_latency_seconds", "GetRecords.Latency", "get_records_latency"),
)

#: Shard-level metrics: CloudWatch name → (Prometheus name, field, kind).
SHARD_METRICS: dict[str, tuple[str, str, str]] = {
    "IncomingBytes": ("kinesis_shard_incoming_bytes", "incoming_bytes", "counter"),
    "IncomingRecords": ("kinesis_shard_incoming_records", "incoming_records", "counter"),
    "OutgoingBytes": ("kinesis_shard_outgoing_bytes", "outgoing_bytes", "counter"),
    "OutgoingRecords": ("kinesis_shard_outgoing_records", "outgoing_records", "counter"),
    "WriteProvisionedThroughputExceeded": (
        "kinesis_shard_write_provisioned_throughput_exceeded",
        "write_throttled",
        "counter",
    ),
    "ReadProvisionedThroughputExceeded": (
        "kinesis_shard_read_provisioned_throughput_exceeded",
        "read_throttled",
        "counter",
    ),
    "IteratorAgeMilliseconds": ("kinesis_shard_iterator_age_seconds", "iterator_age_ms", "age"),
}


def _histogram(name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=labels)


class RegionCollector(Collector):
    """Renders one region's metrics on each scrape (module docstring)."""

    def __init__(self, region: Region, held_body_bytes: Callable[[], int]) -> None:
        self.region = region
        self.held_body_bytes = held_body_bytes
        #: Open connections by protocol; the runner sets it once it has its servers.
        self.open_connections: Callable[[], Mapping[str, int]] = dict

    def collect(self) -> Iterable[Metric]:
        metrics = self.region.metrics
        if metrics is not None:
            # Every stream the region has, zero until it counts something.
            zero = StreamMetrics()
            names = sorted(set(metrics.streams) | set(self.region.streams))
            streams = [(name, metrics.streams.get(name, zero)) for name in names]
            yield from self._stream_families(streams)
            yield from self._shard_families(streams)
        yield from self._process_families()

    def _stream_families(self, streams: list[tuple[str, StreamMetrics]]) -> Iterator[Metric]:
        for name, cloudwatch, field in STREAM_COUNTERS:
            family = CounterMetricFamily(name, f"{cloudwatch} (CloudWatch).", labels=["stream"])
            for stream, counts in streams:
                family.add_metric([stream], getattr(counts, field))
            yield family
        for name, cloudwatch, field in STREAM_AGES:
            gauge = GaugeMetricFamily(name, f"{cloudwatch} (CloudWatch).", labels=["stream"])
            for stream, counts in streams:
                gauge.add_metric([stream], getattr(counts, field) / 1000)
            yield gauge
        for name, cloudwatch, field in STREAM_LATENCIES:
            histogram = _histogram(name, f"{cloudwatch} (CloudWatch).", ["stream"])
            for stream, counts in streams:
                latency: Histogram = getattr(counts, field)
                histogram.add_metric([stream], latency.cumulative(), latency.total)
            yield histogram

    def _shard_families(self, streams: list[tuple[str, StreamMetrics]]) -> Iterator[Metric]:
        """Every shard of the streams that enabled a metric, zero until it counts."""
        zero = ShardMetrics()
        for cloudwatch, (name, field, kind) in SHARD_METRICS.items():
            doc = f"{cloudwatch} per shard (CloudWatch enhanced monitoring)."
            labels = ["stream", "shard"]
            family: CounterMetricFamily | GaugeMetricFamily = (
                CounterMetricFamily(name, doc, labels=labels)
                if kind == "counter"
                else GaugeMetricFamily(name, doc, labels=labels)
            )
            for stream_name, counts in streams:
                stream = self.region.streams.get(stream_name)
                if stream is None or cloudwatch not in stream.shard_level_metrics:
                    continue
                for index in sorted(stream.shards):
                    value: int = getattr(counts.shards.get(index, zero), field)
                    family.add_metric(
                        [stream_name, shard_id(index)], value / 1000 if kind == "age" else value
                    )
            yield family

    def _process_families(self) -> Iterator[Metric]:
        commits = self.region.engine.commits
        latency = _histogram(
            "shardline_storage_commit_seconds", "Storage transaction (group commit) duration.", []
        )
        latency.add_metric([], commits.latency.cumulative(), commits.latency.total)
        yield latency
        group = _histogram("shardline_storage_commit_jobs", "Writes committed per transaction.", [])
        group.add_metric([], commits.group_size.cumulative(), commits.group_size.total)
        yield group
        path = self.region.engine.path
        yield GaugeMetricFamily(
            "shardline_storage_database_bytes",
            "Size of the database and its write-ahead log on disk.",
            value=_database_bytes(path),
        )
        disk = os.statvfs(path.parent)
        yield GaugeMetricFamily(
            "shardline_storage_disk_free_bytes",
            "Space left for the database on its filesystem (for unprivileged users).",
            value=disk.f_bavail * disk.f_frsize,
        )
        yield GaugeMetricFamily(
            "shardline_storage_disk_size_bytes",
            "Size of the database's filesystem.",
            value=disk.f_blocks * disk.f_frsize,
        )
        connections = GaugeMetricFamily(
            "shardline_http_open_connections", "Open client connections.", labels=["protocol"]
        )
        for protocol, count in sorted(self.open_connections().items()):
            connections.add_metric([protocol], count)
        yield connections
        yield GaugeMetricFamily(
            "shardline_http_request_body_bytes",
            "Request bodies held in memory by calls being received or answered.",
            value=self.held_body_bytes(),
        )


def _database_bytes(path: Path) -> float:
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += path.with_name(path.name + suffix).stat().st_size
        except FileNotFoundError:
            continue
    return float(total)


def metrics_registry(collector: RegionCollector) -> CollectorRegistry:
    """A registry with the region's collector and the process's CPU and memory."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    return registry


def metrics_handler(
    registry: CollectorRegistry, allowed: AccessRule = operator_access
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``GET /metrics`` handler; callers the access rule refuses get a 403."""

    async def handle(request: web.Request) -> web.Response:
        if request.method != "GET":
            return web.Response(status=405, text="use GET\n")
        if not allowed(request):
            return web.Response(
                status=403,
                text="metrics are served only to operators (loopback callers for now)\n",
            )
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle
