"""``shardline up``'s own metrics: the processes it supervises.

``shardline_process_up{process}`` (1 while alive) and
``shardline_process_restarts_total{process}`` (restarts after a crash, as an Auto
Scaling group would replace an instance). Served on the console's port.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shardline.pipeline.supervisor import Supervisor


class SupervisorCollector(Collector):
    """Renders the supervisor's children (module docstring)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterable[Metric]:
        alive = GaugeMetricFamily(
            "shardline_process_up", "1 while the process is alive.", labels=["process"]
        )
        restarts = CounterMetricFamily(
            "shardline_process_restarts", "Restarts after the process died.", labels=["process"]
        )
        for name, child in sorted(self.supervisor.children.items()):
            alive.add_metric([name], int(child.alive))
            restarts.add_metric([name], child.restarts)
        return [alive, restarts]
