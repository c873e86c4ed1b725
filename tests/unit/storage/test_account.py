"""The minimum throughput billing commitment's life, on a hand-driven clock."""

from __future__ import annotations

from shardline.storage.account import MIN_COMMITMENT_MS, Commitment

T0 = 1_800_000_000_000


def test_disabling_early_ends_the_commitment_at_its_earliest_end() -> None:
    ending = Commitment().enable(T0).disable(T0 + 1_000)
    assert ending.status(T0 + 1_000) == "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
    assert ending.ended_ms == T0 + MIN_COMMITMENT_MS
    assert ending.status(T0 + MIN_COMMITMENT_MS - 1) == "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
    assert ending.status(T0 + MIN_COMMITMENT_MS) == "DISABLED"
    assert not ending.active(T0 + MIN_COMMITMENT_MS)


def test_disabling_after_the_earliest_end_ends_it_at_once() -> None:
    later = T0 + MIN_COMMITMENT_MS + 5_000
    ended = Commitment().enable(T0).disable(later)
    assert (ended.ended_ms, ended.status(later)) == (later, "DISABLED")


def test_enabling_after_an_end_starts_a_new_commitment() -> None:
    later = T0 + 2 * MIN_COMMITMENT_MS
    renewed = Commitment().enable(T0).disable(T0).enable(later)
    assert renewed == Commitment(later, later + MIN_COMMITMENT_MS, None)
    assert renewed.status(later) == "ENABLED"


def test_repeating_a_status_changes_nothing() -> None:
    enabled = Commitment().enable(T0)
    assert enabled.enable(T0 + 10) == enabled
    assert Commitment().disable(T0) == Commitment()
    ending = enabled.disable(T0 + 10)
    assert ending.disable(T0 + 20) == ending
