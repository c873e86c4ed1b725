"""Region health: the verdict of one window, the buckets behind it, the hysteresis."""

from __future__ import annotations

import pytest

from shardline.failover.health import (
    KEEP_SECONDS,
    HealthCounts,
    RegionHealth,
    Verdict,
    WindowStats,
    verdict,
    window_totals,
)
from shardline.stores.reports import CallBucket, HealthState

# -- verdict -----------------------------------------------------------------------------


def test_an_error_rate_exactly_at_the_threshold_is_unhealthy() -> None:
    assert verdict(WindowStats(ok=99, errors=1), threshold=0.01, min_samples=20) == "unhealthy"


def test_an_error_rate_just_under_the_threshold_is_healthy() -> None:
    assert verdict(WindowStats(ok=100, errors=1), threshold=0.01, min_samples=20) == "healthy"


def test_fewer_samples_than_min_samples_decide_nothing() -> None:
    assert verdict(WindowStats(ok=0, errors=19), threshold=0.01, min_samples=20) == "unknown"


def test_exactly_min_samples_decide() -> None:
    assert verdict(WindowStats(ok=0, errors=20), threshold=0.01, min_samples=20) == "unhealthy"
    assert verdict(WindowStats(ok=20, errors=0), threshold=0.01, min_samples=20) == "healthy"


def test_an_empty_window_has_error_rate_zero() -> None:
    assert WindowStats(0, 0).error_rate == 0.0


# -- buckets -----------------------------------------------------------------------------


def test_calls_in_the_same_second_share_a_bucket() -> None:
    counts = HealthCounts()
    counts.record(ok=2, now=100.2)
    counts.record(errors=1, now=100.9)
    counts.record(ok=5, errors=3, now=101.0)
    assert counts.buckets() == ((100, 2, 1), (101, 5, 3))


def test_buckets_are_kept_from_since_on() -> None:
    counts = HealthCounts()
    for second in (100, 101, 102):
        counts.record(ok=1, now=second)
    assert counts.buckets(since=101) == ((101, 1, 0), (102, 1, 0))


def test_totals_count_only_buckets_at_or_after_since() -> None:
    counts = HealthCounts()
    counts.record(ok=10, errors=10, now=99)
    counts.record(ok=3, errors=1, now=100)
    counts.record(ok=4, errors=2, now=105)
    assert counts.totals(since=100) == (7, 3)


def test_buckets_older_than_keep_seconds_are_dropped() -> None:
    counts = HealthCounts()
    counts.record(ok=1, now=1000)
    counts.record(ok=1, now=1000 + KEEP_SECONDS + 1)
    assert [bucket.second for bucket in counts.buckets()] == [1000 + KEEP_SECONDS + 1]


def test_window_totals_sum_every_report_from_since_on() -> None:
    reporter_a = [CallBucket(99, 50, 50), CallBucket(100, 3, 1), CallBucket(101, 2, 0)]
    reporter_b = [CallBucket(100, 10, 5), CallBucket(102, 1, 1)]
    assert window_totals([reporter_a, reporter_b], since=100) == (16, 7)


def test_window_totals_of_no_reports_are_zero() -> None:
    assert window_totals([], since=0) == (0, 0)


# -- hysteresis --------------------------------------------------------------------------


def feed(health: RegionHealth, *verdicts: Verdict) -> list[HealthState]:
    return [health.observe(result, now=float(i)) for i, result in enumerate(verdicts)]


H, PF, F, PR = (
    HealthState.HEALTHY,
    HealthState.PRE_FAIL,
    HealthState.FAILED,
    HealthState.PRE_RECOVER,
)


def test_a_region_fails_only_after_consecutive_unhealthy_verdicts() -> None:
    health = RegionHealth(consecutive_checks=3)
    assert feed(health, "unhealthy", "unhealthy", "unhealthy") == [PF, PF, F]


def test_one_healthy_verdict_in_pre_fail_returns_to_healthy() -> None:
    health = RegionHealth(consecutive_checks=3)
    assert feed(health, "unhealthy", "unhealthy", "healthy") == [PF, PF, H]


def test_the_unhealthy_streak_starts_again_after_a_healthy_verdict() -> None:
    health = RegionHealth(consecutive_checks=3)
    states = feed(health, "unhealthy", "unhealthy", "healthy", "unhealthy", "unhealthy")
    assert states == [PF, PF, H, PF, PF]


def test_a_failed_region_recovers_after_as_many_healthy_verdicts() -> None:
    health = RegionHealth(consecutive_checks=3)
    feed(health, "unhealthy", "unhealthy", "unhealthy")
    assert feed(health, "healthy", "healthy", "healthy") == [PR, PR, H]


def test_unhealthy_verdicts_keep_a_failed_region_failed() -> None:
    health = RegionHealth(consecutive_checks=2)
    assert feed(health, "unhealthy", "unhealthy", "unhealthy", "unhealthy") == [PF, F, F, F]


def test_a_flapping_failed_region_does_not_recover_without_consecutive_healthy_verdicts() -> None:
    health = RegionHealth(consecutive_checks=3)
    feed(health, "unhealthy", "unhealthy", "unhealthy")
    states = feed(health, "healthy", "unhealthy", "healthy")
    assert states == [PR, F, PR]


@pytest.mark.parametrize(
    ("history", "state"),
    [
        ((), H),
        (("unhealthy",), PF),
        (("unhealthy", "unhealthy"), F),
        (("unhealthy", "unhealthy", "healthy"), PR),
    ],
)
def test_an_unknown_verdict_keeps_the_state(
    history: tuple[Verdict, ...], state: HealthState
) -> None:
    health = RegionHealth(consecutive_checks=2)
    feed(health, *history)
    assert health.state is state
    assert health.observe("unknown") is state


def test_unknown_verdicts_do_not_break_a_streak() -> None:
    health = RegionHealth(consecutive_checks=3)
    assert feed(health, "unhealthy", "unknown", "unhealthy", "unknown", "unhealthy")[-1] is F


def test_with_one_check_a_single_verdict_decides() -> None:
    health = RegionHealth(consecutive_checks=1)
    assert feed(health, "unhealthy", "healthy") == [F, H]


def test_last_healthy_at_is_the_time_of_the_last_healthy_verdict() -> None:
    health = RegionHealth(consecutive_checks=3)
    assert health.last_healthy_at is None
    health.observe("healthy", now=10.0)
    health.observe("unhealthy", now=11.0)
    health.observe("unknown", now=12.0)
    assert health.last_healthy_at == 10.0
    health.observe("healthy", now=13.0)
    assert health.last_healthy_at == 13.0
