"""The one back-off: doubling pauses up to a cap, jitter within its bounds, reset."""

from __future__ import annotations

import asyncio
import random

import pytest

from shardline.backoff import Backoff
from shardline.errors import ConfigError


def test_without_jitter_the_pause_doubles_per_failure_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 10.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.failures == 6


def test_reset_starts_over_at_the_first_pause() -> None:
    backoff = Backoff(0.5, 30.0)
    backoff.next_delay()
    backoff.next_delay()
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() == 0.5


def test_equal_jitter_stays_between_half_the_step_and_the_step() -> None:
    backoff = Backoff(0.1, 2.0, jitter=0.5, rng=random.Random(1))
    for failures, step in [(1, 0.1), (2, 0.2), (3, 0.4), (5, 1.6), (10, 2.0)]:
        delays = [backoff.delay(failures) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays)
        assert max(delays) - min(delays) > step / 4  # spread, not one value


def test_full_jitter_may_go_to_zero_but_never_past_the_cap() -> None:
    backoff = Backoff(0.1, 1.0, jitter=1.0, rng=random.Random(2))
    delays = [backoff.delay(20) for _ in range(200)]
    assert all(0.0 <= d <= 1.0 for d in delays)
    assert min(delays) < 0.25


def test_the_stateless_delay_leaves_the_count_alone() -> None:
    backoff = Backoff(0.1, 2.0)
    assert backoff.delay(3) == pytest.approx(0.4)
    assert backoff.failures == 0


def test_a_loop_of_attempts_doubles_all_the_way_to_its_last_pause() -> None:
    backoff = Backoff.for_attempts(0.02, 8, jitter=0.0)
    assert [backoff.next_delay() for _ in range(8)] == [0.02 * 2**n for n in range(8)]


def test_a_long_failure_streak_does_not_overflow() -> None:
    assert Backoff(0.05, 2.0).delay(10_000) == 2.0


def test_sleep_counts_a_failure() -> None:
    backoff = Backoff(0.001, 0.002)
    asyncio.run(backoff.sleep())
    assert backoff.failures == 1


@pytest.mark.parametrize(
    ("initial", "cap", "jitter"), [(-0.1, 1.0, 0.0), (1.0, -1.0, 0.0), (1.0, 2.0, 1.5)]
)
def test_bad_figures_are_refused(initial: float, cap: float, jitter: float) -> None:
    with pytest.raises(ConfigError):
        Backoff(initial, cap, jitter=jitter)
