"""Consumer metrics under the KCL's names, exported for Prometheus.

``MillisBehindLatest`` (per shard), ``RecordsProcessed``, ``CurrentLeases``,
``LeasesTaken``, ``LeasesLost`` and ``ProcessorFailures``, labelled by application
and worker. ``prometheus_client.start_http_server`` (or any exporter) serves them.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge

from shardline.metrics import FamilyCache

_LABELS = ("application", "worker")


class _Family:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.behind = Gauge(
            "MillisBehindLatest",
            "How far the shard's reader is behind the tip (KCL).",
            (*_LABELS, "shard"),
            registry=registry,
        )
        self.processed = Counter(
            "RecordsProcessed",
            "User records handed to record processors (KCL).",
            _LABELS,
            registry=registry,
        )
        self.current = Gauge(
            "CurrentLeases", "Leases this worker holds (KCL).", _LABELS, registry=registry
        )
        self.taken = Counter(
            "LeasesTaken", "Leases taken or stolen by this worker.", _LABELS, registry=registry
        )
        self.lost = Counter("LeasesLost", "Leases this worker lost.", _LABELS, registry=registry)
        self.failures = Counter(
            "ProcessorFailures",
            "Record processor calls that raised.",
            _LABELS,
            registry=registry,
        )
        self.damaged = Counter(
            "DamagedRangesSkipped",
            "Ranges of records the region reported damaged, which the reader skipped.",
            (*_LABELS, "shard"),
            registry=registry,
        )


_FAMILIES = FamilyCache(_Family)


class ConsumerMetrics:
    """The metrics of one worker (families are shared per registry)."""

    def __init__(
        self, application: str, worker: str, registry: CollectorRegistry = DEFAULT_REGISTRY
    ) -> None:
        self._family = _FAMILIES.get(registry)
        self._labels = (application, worker)
        #: What the worker reports to the control store, which failover and failback
        #: read: the newest MillisBehindLatest per shard; per shard the wall-clock
        #: instant every record that arrived up to it has been processed (see
        #: :meth:`processed_through`); and the records processed.
        self.millis_behind: dict[str, int] = {}
        self.caught_up_to: dict[str, float] = {}
        self.processed_total = 0
        #: Called with ``ok`` after every read (GetRecords answer or error, fan-out
        #: event or error): how the failover monitor's health reports learn of reads.
        self.read_observers: list[Callable[[bool], None]] = []

    def behind(self, shard_id: str, millis: int) -> None:
        self._family.behind.labels(*self._labels, shard_id).set(millis)
        self.millis_behind[shard_id] = millis

    def read(self, ok: bool) -> None:
        for observer in self.read_observers:
            observer(ok)

    def processed_through(self, shard_id: str, arrival: float) -> None:
        """Every record of the shard that arrived up to ``arrival`` is processed.

        A GetRecords answer's MillisBehindLatest is how far its last record lies
        behind the tip (0 when it reached the tip), so once its records are
        processed, everything that arrived up to "answer time − MillisBehindLatest"
        is (answer time: :attr:`~shardline.consumer.retrieval.Fetched.as_of`). A
        failover starts the standby's consumers before the oldest such instant, and
        a failback stops them only once it passes the last write there, so nothing
        unprocessed is skipped.
        """
        self.caught_up_to[shard_id] = max(arrival, self.caught_up_to.get(shard_id, 0.0))

    def processed(self, count: int) -> None:
        self._family.processed.labels(*self._labels).inc(count)
        self.processed_total += count

    def set_current_leases(self, count: int) -> None:
        self._family.current.labels(*self._labels).set(count)

    def lease_taken(self) -> None:
        self._family.taken.labels(*self._labels).inc()

    def lease_lost(self) -> None:
        self._family.lost.labels(*self._labels).inc()

    def processor_failed(self) -> None:
        self._family.failures.labels(*self._labels).inc()

    def damaged_range_skipped(self, shard_id: str) -> None:
        self._family.damaged.labels(*self._labels, shard_id).inc()
