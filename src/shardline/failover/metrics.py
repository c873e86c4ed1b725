"""The monitor/controller's Prometheus metrics, read from its last check at scrape.

- ``shardline_region_health_state{region, state}``: 1 for the region's current
  hysteresis state (HEALTHY, PRE_FAIL, FAILED, PRE_RECOVER), 0 for the others;
- ``shardline_region_error_rate{region}`` and ``shardline_region_window_calls{region,
  result}``: the error-rate window the verdicts come from;
- ``shardline_canary_rounds_total{region, result}``: synthetic put+get rounds;
- ``shardline_control_epoch``, ``shardline_active_region{region}`` (1 for the active
  one) and ``shardline_control_changed_timestamp_seconds``: the control state;
- ``shardline_failover_decisions_total{to}``: automatic and manual failovers this
  monitor decided (an alert on ``changes(shardline_control_epoch[5m])`` also sees the
  decisions of other processes, such as a failback).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shardline.failover.consumer import RegionConsumer
from shardline.failover.monitor import Monitor
from shardline.failover.producer import FailoverProducer
from shardline.stores.reports import HealthState


class MonitorCollector(Collector):
    """Renders a :class:`Monitor`'s view (module docstring)."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterable[Metric]:
        yield from self._regions()
        yield from self._control()

    def _regions(self) -> Iterable[Metric]:
        health = GaugeMetricFamily(
            "shardline_region_health_state",
            "1 for the region's current health state.",
            labels=["region", "state"],
        )
        rate = GaugeMetricFamily(
            "shardline_region_error_rate", "Failed share of calls in the window.", labels=["region"]
        )
        calls = GaugeMetricFamily(
            "shardline_region_window_calls", "Calls in the window.", labels=["region", "result"]
        )
        canary = CounterMetricFamily(
            "shardline_canary_rounds", "Canary put+get rounds.", labels=["region", "result"]
        )
        for name, watch in sorted(self.monitor.regions.items()):
            for state in HealthState:
                health.add_metric([name, state.value], int(watch.health.state is state))
            rate.add_metric([name], watch.stats.error_rate)
            calls.add_metric([name, "ok"], watch.stats.ok)
            calls.add_metric([name, "error"], watch.stats.errors)
            for result, count in sorted(watch.canary_rounds.items()):
                canary.add_metric([name, result], count)
        return [health, rate, calls, canary]

    def _control(self) -> Iterable[Metric]:
        state = self.monitor.state
        epoch = GaugeMetricFamily("shardline_control_epoch", "Epoch of the control state.")
        changed = GaugeMetricFamily(
            "shardline_control_changed_timestamp_seconds", "When the control state last changed."
        )
        active = GaugeMetricFamily(
            "shardline_active_region", "1 for the active region.", labels=["region"]
        )
        decisions = CounterMetricFamily(
            "shardline_failover_decisions", "Failovers this monitor decided.", labels=["to"]
        )
        if state is not None:
            epoch.add_metric([], state.epoch)
            changed.add_metric([], state.changed_at)
        for name in sorted(self.monitor.regions):
            active.add_metric([name], int(state is not None and state.active_region == name))
            taken = sum(1 for d in self.monitor.decisions if d.to == name)
            decisions.add_metric([name], taken)
        return [epoch, changed, active, decisions]


class FollowerCollector(Collector):
    """What a region-following producer or consumer has carried out of the control state.

    ``shardline_follower_epoch{component}``: the newest decision it acts on;
    ``shardline_follower_generation{component, region}`` (consumers): the generation its
    workers run, absent while stopped.
    """

    def __init__(self, follower: FailoverProducer | RegionConsumer) -> None:
        self.follower = follower

    def collect(self) -> Iterable[Metric]:
        follower = self.follower
        if isinstance(follower, FailoverProducer):
            label, state = follower.config.name, follower.state
        else:
            label, state = follower.component, follower.watcher.latest
        epoch = GaugeMetricFamily(
            "shardline_follower_epoch",
            "Epoch of the newest decision this component carries out.",
            labels=["component"],
        )
        if state is not None:
            epoch.add_metric([label], state.epoch)
        yield epoch
        if isinstance(follower, RegionConsumer):
            generation = GaugeMetricFamily(
                "shardline_follower_generation",
                "Generation this region's consumers run (absent: stopped).",
                labels=["component", "region"],
            )
            if follower.generation is not None:
                generation.add_metric([label, follower.region.name], follower.generation.epoch)
            yield generation
