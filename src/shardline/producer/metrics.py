"""Producer metrics: KPL-style names for Prometheus, and a sliding window for health.

Prometheus families (labels ``producer``, plus ``destination`` where it matters):

- ``UserRecordsReceived`` records accepted by put(); ``UserRecordsPut`` and
  ``UserRecordsDataPut`` (bytes) acknowledged by a stream; ``UserRecordsFailed``
  given up, by ``code`` (``RecordExpired`` for the TTL);
- ``KinesisRecordsPut`` Kinesis records stored (an aggregate counts once);
- ``PutRecordsRequests`` calls by ``result`` (success: the call returned, even with
  failed entries; error: it raised), ``PutRecordsEntries`` Kinesis records sent by
  ``result``, ``ErrorsByCode`` failures by error code, ``Retries`` records sent again;
- gauges ``UserRecordsPending`` (accepted, outcome not yet known) and ``SpoolDepth``.

Rates come from Prometheus (``rate(PutRecordsEntries_total[5m])``) or, in process,
from :meth:`ProducerMetrics.window`: per-second counts kept for 15 minutes, which the
health monitor reads as the error-rate signal of each destination.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge

from shardline.metrics import FamilyCache

WINDOW_HORIZON_S = 900


class _Family:
    def __init__(self, registry: CollectorRegistry) -> None:
        p, pd = ("producer",), ("producer", "destination")
        self.received = Counter(
            "UserRecordsReceived", "Records accepted by put().", p, registry=registry
        )
        self.put = Counter(
            "UserRecordsPut", "User records acknowledged by a stream.", pd, registry=registry
        )
        self.data_put = Counter(
            "UserRecordsDataPut", "Bytes of user records acknowledged.", pd, registry=registry
        )
        self.failed = Counter(
            "UserRecordsFailed", "User records given up, by code.", (*p, "code"), registry=registry
        )
        self.kinesis_put = Counter(
            "KinesisRecordsPut", "Kinesis records stored (aggregates once).", pd, registry=registry
        )
        self.requests = Counter(
            "PutRecordsRequests",
            "PutRecords calls by result (error: the call raised).",
            (*pd, "result"),
            registry=registry,
        )
        self.entries = Counter(
            "PutRecordsEntries",
            "Kinesis records sent in PutRecords calls, by result.",
            (*pd, "result"),
            registry=registry,
        )
        self.errors = Counter(
            "ErrorsByCode", "Failures by error code.", (*pd, "code"), registry=registry
        )
        self.retries = Counter("Retries", "User records sent again.", p, registry=registry)
        self.pending = Gauge(
            "UserRecordsPending", "Records accepted, outcome not yet known.", p, registry=registry
        )
        self.spool = Gauge("SpoolDepth", "Records in the durable spool.", p, registry=registry)


_FAMILIES = FamilyCache(_Family)


@dataclass(frozen=True)
class WindowStats:
    """Counts over a recent window, and the rates derived from them."""

    seconds: float
    calls: int
    failed_calls: int
    entries: int
    failed_entries: int
    throttled_entries: int

    @property
    def error_rate(self) -> float:
        """Failed share of Kinesis records sent (a failed call fails all it carried)."""
        return self.failed_entries / self.entries if self.entries else 0.0

    @property
    def entries_per_s(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


@dataclass(slots=True)
class _Second:
    stamp: int
    destination: str
    calls: int = 0
    failed_calls: int = 0
    entries: int = 0
    failed_entries: int = 0
    throttled_entries: int = 0


class ProducerMetrics:
    """The metrics of one producer (Prometheus families are shared per registry)."""

    def __init__(self, producer: str, registry: CollectorRegistry = DEFAULT_REGISTRY) -> None:
        family = _FAMILIES.get(registry)
        self._f = family
        self._producer = producer
        self._received = family.received.labels(producer)
        self._retries = family.retries.labels(producer)
        self._seconds: deque[_Second] = deque()
        #: Called after every PutRecords call with (destination, call raised): how the
        #: failover monitor's health reports learn of calls without polling.
        self.call_observers: list[Callable[[str, bool], None]] = []

    def track(self, pending: Callable[[], float], spool_depth: Callable[[], float]) -> None:
        """Read the pending count and spool depth from these functions when scraped."""
        self._f.pending.labels(self._producer).set_function(pending)
        self._f.spool.labels(self._producer).set_function(spool_depth)

    def received(self, count: int) -> None:
        self._received.inc(count)

    def retried(self, count: int) -> None:
        self._retries.inc(count)

    def stored(self, destination: str, users: int, data_bytes: int, kinesis_records: int) -> None:
        self._f.put.labels(self._producer, destination).inc(users)
        self._f.data_put.labels(self._producer, destination).inc(data_bytes)
        self._f.kinesis_put.labels(self._producer, destination).inc(kinesis_records)

    def failed(self, code: str, count: int) -> None:
        self._f.failed.labels(self._producer, code).inc(count)

    def call(
        self, destination: str, entries: int, failed_codes: list[str], raised: str | None
    ) -> None:
        """One PutRecords call: ``raised`` is the error code when the call itself failed."""
        result = "error" if raised else "success"
        self._f.requests.labels(self._producer, destination, result).inc()
        failed = entries if raised else len(failed_codes)
        if entries - failed:
            self._f.entries.labels(self._producer, destination, "success").inc(entries - failed)
        if failed:
            self._f.entries.labels(self._producer, destination, "error").inc(failed)
        codes = [raised] * entries if raised else failed_codes
        for code in set(codes):
            self._f.errors.labels(self._producer, destination, code).inc(codes.count(code))
        second = self._second(destination)
        second.calls += 1
        second.failed_calls += 1 if raised else 0
        second.entries += entries
        second.failed_entries += failed
        second.throttled_entries += codes.count("ProvisionedThroughputExceededException")
        for observer in self.call_observers:
            observer(destination, raised is not None)

    def _second(self, destination: str) -> _Second:
        now = int(time.monotonic())
        for second in reversed(self._seconds):
            if second.stamp != now:
                break
            if second.destination == destination:
                return second
        while self._seconds and self._seconds[0].stamp <= now - WINDOW_HORIZON_S:
            self._seconds.popleft()
        second = _Second(now, destination)
        self._seconds.append(second)
        return second

    def window(self, seconds: float = 300.0, destination: str | None = None) -> WindowStats:
        """Counts of the last ``seconds`` (at most 15 minutes), for one or all destinations."""
        since = time.monotonic() - seconds
        picked = [
            s
            for s in self._seconds
            if s.stamp >= since and (destination is None or s.destination == destination)
        ]
        return WindowStats(
            seconds,
            sum(s.calls for s in picked),
            sum(s.failed_calls for s in picked),
            sum(s.entries for s in picked),
            sum(s.failed_entries for s in picked),
            sum(s.throttled_entries for s in picked),
        )
