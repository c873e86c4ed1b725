"""A region's stream, shard and storage metrics, counted with plain integers.

Why plain integers: a PutRecords call is answered in well under a millisecond of
Python work, so a metrics library call per record (a lock and a label lookup each)
would cost more than the budget allows (≤ 3 % of throughput, ``bench/metrics_bench.py``).
The data plane therefore adds to ``__slots__`` integers of the stream's
:class:`StreamMetrics` once per call (per shard only for the streams whose
shard-level metrics ``EnableEnhancedMonitoring`` turned on), and the server renders
them in Prometheus's text format only when ``/metrics`` is scraped
(:mod:`shardline.server.metrics`).

The fields keep CloudWatch's meaning (AWS/Kinesis namespace): sizes are data plus
partition key, as the record size limit counts them; latencies are measured from
the moment the call reached the stream until its answer was ready.

Threading: everything here is written on the event loop thread, except
:class:`CommitStats`, which only the storage writer thread writes; a scrape reads
both without locks (a torn read can miss one observation, never corrupt a count).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence

#: Bucket bounds (seconds) of every latency histogram: 1 ms to 10 s.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
#: Bucket bounds of the commit group size (jobs per transaction).
GROUP_SIZE_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)

#: The shard-level metric names of EnableEnhancedMonitoring, in AWS's order.
SHARD_LEVEL_METRICS: tuple[str, ...] = (
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
)


class Histogram:
    """Counts per bucket and a running sum; cumulative buckets are made on scrape."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        self.bounds = tuple(bounds)
        #: One count per bound, plus the last for values above every bound (+Inf).
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus's cumulative ``(le, count)`` pairs, +Inf last.

        Made from a snapshot of the counts, so an observation landing meanwhile is in the
        next scrape rather than in some buckets of this one.
        """
        counts = list(self.counts)
        bounds = [*(repr(float(b)) for b in self.bounds), "+Inf"]
        cumulative, out = 0, []
        for bound, count in zip(bounds, counts, strict=True):
            cumulative += count
            out.append((bound, float(cumulative)))
        return out


class ShardMetrics:
    """The shard-level metrics of one shard (counted only while enabled)."""

    __slots__ = (
        "incoming_bytes",
        "incoming_records",
        "outgoing_bytes",
        "outgoing_records",
        "write_throttled",
        "read_throttled",
        "iterator_age_ms",
    )

    def __init__(self) -> None:
        self.incoming_bytes = 0
        self.incoming_records = 0
        self.outgoing_bytes = 0
        self.outgoing_records = 0
        self.write_throttled = 0
        self.read_throttled = 0
        self.iterator_age_ms = 0


class StreamMetrics:
    """The stream-level metrics of one stream, and its shards' when enabled."""

    __slots__ = (
        "incoming_bytes",
        "incoming_records",
        "put_record_bytes",
        "put_record_success",
        "put_record_latency",
        "put_records_bytes",
        "put_records_records",
        "put_records_success",
        "put_records_throttled",
        "put_records_failed",
        "put_records_total",
        "put_records_latency",
        "get_records_bytes",
        "get_records_records",
        "get_records_success",
        "get_records_latency",
        "get_records_iterator_age_ms",
        "read_throttled",
        "write_throttled",
        "subscribe_rate_exceeded",
        "event_bytes",
        "event_records",
        "event_success",
        "event_millis_behind",
        "shards",
    )

    def __init__(self) -> None:
        self.incoming_bytes = self.incoming_records = 0
        self.put_record_bytes = self.put_record_success = 0
        self.put_record_latency = Histogram()
        self.put_records_bytes = self.put_records_records = self.put_records_success = 0
        self.put_records_throttled = self.put_records_failed = self.put_records_total = 0
        self.put_records_latency = Histogram()
        self.get_records_bytes = self.get_records_records = self.get_records_success = 0
        self.get_records_latency = Histogram()
        self.get_records_iterator_age_ms = 0
        self.read_throttled = self.write_throttled = 0
        self.subscribe_rate_exceeded = 0
        self.event_bytes = self.event_records = self.event_success = 0
        self.event_millis_behind = 0
        #: Created on first use by :meth:`shard`; readers use ``.get``.
        self.shards: defaultdict[int, ShardMetrics] = defaultdict(ShardMetrics)

    def shard(self, index: int) -> ShardMetrics:
        return self.shards[index]

    def put(
        self, single: bool, stored: int, size: int, throttled: int, failed: int, seconds: float
    ) -> None:
        """One PutRecord or PutRecords call that reached the stream.

        ``stored`` records of ``size`` bytes were committed; ``throttled`` were refused
        by the shard limits and ``failed`` by a storage failure.
        """
        self.incoming_records += stored
        self.incoming_bytes += size
        self.write_throttled += throttled
        if single:
            self.put_record_bytes += size
            self.put_record_success += stored
            self.put_record_latency.observe(seconds)
            return
        self.put_records_total += stored + throttled + failed
        self.put_records_records += stored
        self.put_records_bytes += size
        self.put_records_throttled += throttled
        self.put_records_failed += failed
        if stored:
            self.put_records_success += 1
        self.put_records_latency.observe(seconds)

    def get_records(self, records: int, size: int, millis_behind: int, seconds: float) -> None:
        """One GetRecords call answered with ``records`` records of ``size`` bytes."""
        self.get_records_records += records
        self.get_records_bytes += size
        self.get_records_success += 1
        self.get_records_iterator_age_ms = millis_behind
        self.get_records_latency.observe(seconds)

    def subscribe_event(self, records: int, size: int, millis_behind: int) -> None:
        """One SubscribeToShardEvent sent (heartbeats included, as on AWS)."""
        self.event_records += records
        self.event_bytes += size
        self.event_success += 1
        self.event_millis_behind = millis_behind

    def read_out(self, shard_index: int, records: int, size: int, millis_behind: int) -> None:
        """A shard's records went out (GetRecords or fan-out): shard-level counts."""
        shard = self.shard(shard_index)
        shard.outgoing_records += records
        shard.outgoing_bytes += size
        shard.iterator_age_ms = millis_behind


class CommitStats:
    """The storage writer's transactions: how long each took and how many jobs it held."""

    __slots__ = ("latency", "group_size")

    def __init__(self) -> None:
        self.latency = Histogram()
        self.group_size = Histogram(GROUP_SIZE_BUCKETS)

    def observe(self, seconds: float, jobs: int) -> None:
        self.latency.observe(seconds)
        self.group_size.observe(jobs)


class RegionMetrics:
    """Every stream's :class:`StreamMetrics`, by stream name."""

    def __init__(self) -> None:
        #: Created on first use by :meth:`stream`; readers use ``.get``.
        self.streams: defaultdict[str, StreamMetrics] = defaultdict(StreamMetrics)

    def stream(self, name: str) -> StreamMetrics:
        return self.streams[name]

    def forget(self, name: str) -> None:
        """Drop a deleted stream's metrics (a stream created again starts from zero)."""
        self.streams.pop(name, None)
