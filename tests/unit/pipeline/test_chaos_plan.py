"""The chaos drill's schedule and arithmetic: a seed names one schedule."""

from __future__ import annotations

import pytest

from shardline.pipeline.chaos_plan import (
    AppliedFault,
    ChaosShape,
    PlannedFault,
    attribute,
    components,
    plan,
    spread,
)

PRIMARY, STANDBY = "us-east-1", "us-west-2"


def test_a_seed_names_one_schedule_and_another_seed_another() -> None:
    shape = ChaosShape()
    first = plan(7, 600, PRIMARY, STANDBY, shape)
    assert first == plan(7, 600, PRIMARY, STANDBY, shape)
    assert first != plan(8, 600, PRIMARY, STANDBY, shape)


def test_a_long_schedule_draws_every_kind_within_the_shape() -> None:
    shape = ChaosShape()
    faults = plan(3, 3600, PRIMARY, STANDBY, shape)
    assert {f.kind for f in faults} == {"outage", "error-rate", "latency", "kill"}
    assert faults[0].at_s == shape.first_after_s
    gaps = [b.at_s - a.at_s for a, b in zip(faults, faults[1:], strict=False)]
    assert all(shape.gap_s[0] - 0.01 <= gap <= shape.gap_s[1] + 0.01 for gap in gaps)
    for fault in faults:
        if fault.kind == "kill":
            assert fault.target in components(PRIMARY, STANDBY)
            assert fault.duration_s == 0
        else:
            assert fault.target == PRIMARY
            assert 0 < fault.duration_s <= shape.fault_s[1]
    rates = [f.error_rate for f in faults if f.kind == "error-rate"]
    assert all(0.3 <= r <= 0.6 for r in rates)
    latencies = [f.latency_ms for f in faults if f.kind == "latency"]
    assert all(200 <= ms <= 800 for ms in latencies)
    # Both region servers and the monitor get killed somewhere in an hour.
    killed = {f.target for f in faults if f.kind == "kill"}
    assert {f"region-{PRIMARY}", f"region-{STANDBY}", "monitor"} <= killed


def test_network_faults_end_before_the_next_one_and_before_the_chaos_ends() -> None:
    shape = ChaosShape(gap_s=(2.0, 4.0), fault_s=(5.0, 10.0))
    faults = plan(11, 60, PRIMARY, STANDBY, shape)
    network = [f for f in faults if f.kind != "kill"]
    assert len(network) > 3
    for current, following in zip(network, network[1:], strict=False):
        assert current.at_s + current.duration_s <= following.at_s + 0.01
    assert network[-1].at_s + network[-1].duration_s <= 60 + 0.01


def test_bodies_are_what_the_fault_endpoint_takes() -> None:
    assert PlannedFault(0, "outage", PRIMARY, 5).body() == {"outage": True}
    assert PlannedFault(0, "error-rate", PRIMARY, 5, error_rate=0.4).body() == {
        "error_rate": 0.4,
        "status": 500,
    }
    assert PlannedFault(0, "latency", PRIMARY, 5, latency_ms=300).body() == {"latency_ms": 300}
    with pytest.raises(ValueError):
        PlannedFault(0, "kill", "monitor").body()


def test_a_bad_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="gap_s"):
        ChaosShape(gap_s=(10.0, 5.0))
    with pytest.raises(ValueError, match="positive"):
        ChaosShape(gap_s=(0.0, 5.0))


def applied(kind: str, target: str, began: float, duration: float = 0.0) -> AppliedFault:
    return AppliedFault(PlannedFault(0, kind, target, duration), began)  # type: ignore[arg-type]


def test_a_failover_answers_the_latest_fault_that_could_fail_the_primary() -> None:
    faults = [
        applied("outage", PRIMARY, 100, 8),
        applied("kill", "replicator", 104),  # cannot fail the primary
        applied("latency", PRIMARY, 105, 5),  # delays, never fails
    ]
    chosen = attribute(faults, 106, PRIMARY, detection_window_s=18)
    assert chosen is faults[0]
    # A kill of the primary's server counts, for the time it takes to restart.
    server = applied("kill", f"region-{PRIMARY}", 200)
    assert attribute([*faults, server], 210, PRIMARY, 18) is server


def test_a_failover_with_no_fault_in_its_window_is_false() -> None:
    faults = [applied("error-rate", PRIMARY, 100, 5), applied("kill", "monitor", 150)]
    assert attribute(faults, 160, PRIMARY, detection_window_s=18) is None
    # ... and a fault that began after the decision does not explain it.
    assert attribute([applied("outage", PRIMARY, 170, 5)], 160, PRIMARY, 18) is None


def test_spread_reports_median_p99_and_max() -> None:
    assert spread([]) == {"p50": None, "p99": None, "max": None}
    values = [float(v) for v in range(1, 101)]
    assert spread(values) == {"p50": 50.5, "p99": 99.0, "max": 100.0}
