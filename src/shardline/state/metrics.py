"""Checkpoint metrics under Managed Flink's names, exported for Prometheus.

``lastCheckpointDuration`` (milliseconds) and ``lastCheckpointSize`` (bytes) are
the figures Managed Flink publishes; ``numberOfCompletedCheckpoints`` and
``numberOfFailedCheckpoints`` count outcomes; ``lastCheckpointAge`` (seconds) is
computed when scraped, so a checkpointer that stopped shows a growing age. A shard
whose state has not changed since its last checkpoint counts as checkpointed now
(there is nothing newer to lose). Labels: application, worker, shard.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shardline.metrics import FamilyCache

_LABELS = ("application", "worker", "shard")


class _AgeCollector(Collector):
    """Reports now − last checkpoint for every shard being checkpointed."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, str, str], float] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "lastCheckpointAge",
            "Seconds since the shard's state was last covered by a complete checkpoint.",
            labels=_LABELS,
        )
        now = time.monotonic()
        for labels, at in list(self.last.items()):
            family.add_metric(labels, now - at)
        yield family


class _Family:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Gauge(
            "lastCheckpointDuration",
            "Milliseconds the last checkpoint took (capture, seal, write, commit).",
            _LABELS,
            registry=registry,
        )
        self.size = Gauge(
            "lastCheckpointSize",
            "Bytes of the last checkpoint's state.",
            _LABELS,
            registry=registry,
        )
        self.completed = Counter(
            "numberOfCompletedCheckpoints", "Checkpoints committed.", _LABELS, registry=registry
        )
        self.failed = Counter(
            "numberOfFailedCheckpoints", "Checkpoints that failed.", _LABELS, registry=registry
        )
        self.age = _AgeCollector()
        registry.register(self.age)


_FAMILIES = FamilyCache(_Family)


class StateMetrics:
    """The checkpoint metrics of one worker (families are shared per registry)."""

    def __init__(
        self, application: str, worker: str, registry: CollectorRegistry = DEFAULT_REGISTRY
    ) -> None:
        self._family = _FAMILIES.get(registry)
        self._application = application
        self._worker = worker

    def _labels(self, shard_id: str) -> tuple[str, str, str]:
        return (self._application, self._worker, shard_id)

    def completed(self, shard_id: str, seconds: float, size: int) -> None:
        labels = self._labels(shard_id)
        self._family.duration.labels(*labels).set(seconds * 1000)
        self._family.size.labels(*labels).set(size)
        self._family.completed.labels(*labels).inc()
        self._family.age.last[labels] = time.monotonic()

    def unchanged(self, shard_id: str) -> None:
        self._family.age.last[self._labels(shard_id)] = time.monotonic()

    def failed(self, shard_id: str) -> None:
        self._family.failed.labels(*self._labels(shard_id)).inc()

    def age_s(self, shard_id: str) -> float | None:
        at = self._family.age.last.get(self._labels(shard_id))
        return None if at is None else time.monotonic() - at

    def forget(self, shard_id: str) -> None:
        """The shard left this worker: stop reporting its age."""
        self._family.age.last.pop(self._labels(shard_id), None)
