"""Health of a region: error-rate windows and a hysteresis state machine.

Samples: every component that calls a region (producers' PutRecords, replicators'
puts, consumers' reads, the monitor's canary puts and gets) counts its calls in one-second buckets
(:class:`HealthCounts`) and publishes them as a ``health`` report to the control
store. The monitor sums the buckets of the last ``window_s`` seconds over all
reports of a region: the error rate is failed calls / all calls.

Verdict per evaluation (:func:`verdict`):

- fewer than ``min_samples`` calls in the window: *unknown* (decides nothing);
- error rate ≥ ``threshold``: *unhealthy*; otherwise *healthy*.

Hysteresis (:class:`RegionHealth`), as Pulsar's client failover does it: a region
moves HEALTHY → PRE_FAIL on its first unhealthy verdict and to FAILED only after
``consecutive_checks`` unhealthy verdicts in a row; back through PRE_RECOVER to
HEALTHY after as many healthy ones in a row (an unhealthy verdict in PRE_RECOVER
means FAILED again). An unknown verdict keeps the state. So one bad
second never fails a region over, and a flapping region does not flip back and
forth. Bucket times are the reporters' wall clocks: they only shape the window; no
safety rule depends on them (the epoch does that).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from shardline.stores.reports import CallBucket, HealthReport, HealthState

Verdict = Literal["healthy", "unhealthy", "unknown"]

#: Buckets older than this are dropped by reporters (the longest useful window).
KEEP_SECONDS = 900


class HealthCounts:
    """Calls and failed calls in one-second buckets, for one region."""

    def __init__(self) -> None:
        self._buckets: dict[int, list[int]] = {}

    def record(self, ok: int = 0, errors: int = 0, now: float | None = None) -> None:
        second = int(time.time() if now is None else now)
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = [0, 0]
            self._trim(second)
        bucket[0] += ok
        bucket[1] += errors

    def _trim(self, now: int) -> None:
        oldest = now - KEEP_SECONDS
        for second in [s for s in self._buckets if s < oldest]:
            del self._buckets[second]

    def buckets(self, since: float = 0.0) -> tuple[CallBucket, ...]:
        """The buckets from ``since`` on, oldest first: a health report's ``calls``."""
        return tuple(
            CallBucket(s, b[0], b[1]) for s, b in sorted(self._buckets.items()) if s >= since
        )

    def totals(self, since: float) -> tuple[int, int]:
        return window_totals([self.buckets()], since)


def health_report(
    reporter: str, region: str, counts: HealthCounts, since: float
) -> tuple[str, HealthReport]:
    """The component name and ``health`` report of one reporter's calls to one region."""
    return f"{reporter}@{region}", HealthReport(region, counts.buckets(since))


def window_totals(reports: Iterable[Iterable[CallBucket]], since: float) -> tuple[int, int]:
    """Sum ``(ok, errors)`` of every bucket at or after ``since`` over several reports."""
    ok = errors = 0
    for calls in reports:
        for bucket in calls:
            if bucket.second >= since:
                ok += bucket.ok
                errors += bucket.errors
    return ok, errors


@dataclass(frozen=True)
class WindowStats:
    ok: int
    errors: int

    @property
    def samples(self) -> int:
        return self.ok + self.errors

    @property
    def error_rate(self) -> float:
        return self.errors / self.samples if self.samples else 0.0


def verdict(stats: WindowStats, threshold: float, min_samples: int) -> Verdict:
    """One evaluation's verdict (module docstring)."""
    if stats.samples < min_samples:
        return "unknown"
    return "unhealthy" if stats.error_rate >= threshold else "healthy"


class RegionHealth:
    """The hysteresis state machine of one region (module docstring)."""

    def __init__(self, consecutive_checks: int) -> None:
        self.consecutive_checks = consecutive_checks
        self.state = HealthState.HEALTHY
        self._streak = 0
        #: Wall-clock time of the last healthy verdict (None: never seen healthy).
        self.last_healthy_at: float | None = None

    def observe(self, result: Verdict, now: float | None = None) -> HealthState:
        """Feed one verdict; returns the (possibly new) state."""
        if result == "unknown":
            return self.state
        if result == "healthy":
            self.last_healthy_at = time.time() if now is None else now
        bad = result == "unhealthy"
        state = self.state
        if state is HealthState.HEALTHY:
            if bad:
                self.state, self._streak = HealthState.PRE_FAIL, 1
        elif state is HealthState.PRE_FAIL:
            if bad:
                self._streak += 1
            else:
                self.state, self._streak = HealthState.HEALTHY, 0
        elif state is HealthState.FAILED:
            if not bad:
                self.state, self._streak = HealthState.PRE_RECOVER, 1
        elif bad:  # PRE_RECOVER: one bad verdict and the region is failed again
            self.state, self._streak = HealthState.FAILED, 0
        else:
            self._streak += 1
        if self.state is HealthState.PRE_FAIL and self._streak >= self.consecutive_checks:
            self.state = HealthState.FAILED
        elif self.state is HealthState.PRE_RECOVER and self._streak >= self.consecutive_checks:
            self.state = HealthState.HEALTHY
        return self.state
