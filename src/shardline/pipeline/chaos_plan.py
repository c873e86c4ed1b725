"""The chaos drill's schedule and its arithmetic, as pure functions of a seed.

A schedule (:func:`plan`) is drawn from ``random.Random(seed)`` alone, so a seed
names one schedule: the same faults, targets, sizes and offsets on every run (what
the pipeline does in between still depends on the machine). Faults:

- ``outage``: the primary refuses every call (503);
- ``error-rate``: the primary fails a fraction of calls (500), above the threshold;
- ``latency``: the primary answers every call late (below every client timeout, so
  it delays but never fails: it keeps calls in flight across decisions);
- ``kill``: SIGKILL of one component, either region's server included; the
  supervisor restarts it.

A failover is *attributed* (:func:`attribute`) to the latest fault that could have
made the primary look failed at its decision: an outage, an error rate or a kill of
the primary's server whose effect overlaps the decision's detection window. A
failover with none is a *false* failover.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from typing import Any, Literal

from shardline.errors import ConfigError
from shardline.settings import validate

FaultKind = Literal["outage", "error-rate", "latency", "kill"]
FAULT_KINDS: tuple[FaultKind, ...] = ("outage", "error-rate", "latency", "kill")
#: How often each kind is drawn (kills are the most varied, so the most frequent).
WEIGHTS = (0.25, 0.2, 0.2, 0.35)
#: A killed region server is taken to be unavailable this long (restart included).
KILLED_SERVER_EFFECT_S = 5.0


@dataclass(frozen=True)
class ChaosShape:
    """The sizes a schedule is drawn from (defaults: the issue's 180 s run)."""

    #: Seconds between the starts of two faults.
    gap_s: tuple[float, float] = (20.0, 40.0)
    #: How long an outage, error rate or latency lasts.
    fault_s: tuple[float, float] = (4.0, 12.0)
    error_rate: tuple[float, float] = (0.3, 0.6)
    latency_ms: tuple[int, int] = (200, 800)
    #: Quiet time before the first fault.
    first_after_s: float = 5.0

    def __post_init__(self) -> None:
        validate(self)
        for name in ("gap_s", "fault_s", "error_rate", "latency_ms"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ConfigError.invalid(
                    "ChaosShape.", name, (low, high), "a range (low, high) with 0 <= low <= high"
                )
        if self.gap_s[0] <= 0:
            raise ConfigError.invalid("ChaosShape.", "gap_s", self.gap_s, "a positive range")


@dataclass(frozen=True)
class PlannedFault:
    """One fault of a schedule, ``at_s`` seconds after the chaos began."""

    at_s: float
    kind: FaultKind
    #: A region name (outage, error-rate, latency) or a component name (kill).
    target: str
    #: How long it stays in force (0 for a kill).
    duration_s: float = 0.0
    error_rate: float = 0.0
    latency_ms: int = 0

    def body(self) -> dict[str, Any]:
        """The fault endpoint's JSON body (network faults only)."""
        if self.kind == "outage":
            return {"outage": True}
        if self.kind == "error-rate":
            return {"error_rate": self.error_rate, "status": 500}
        if self.kind == "latency":
            return {"latency_ms": self.latency_ms}
        raise ValueError("a kill has no fault body")

    def describe(self) -> str:
        if self.kind == "kill":
            return f"SIGKILL {self.target}"
        size = {
            "outage": "",
            "error-rate": f" {self.error_rate:.0%}",
            "latency": f" {self.latency_ms} ms",
        }[self.kind]
        return f"{self.kind}{size} in {self.target} for {self.duration_s:.1f} s"

    def affects_primary(self, primary: str) -> bool:
        """Whether it can make the primary look failed (module docstring)."""
        if self.kind in ("outage", "error-rate"):
            return self.target == primary
        return self.kind == "kill" and self.target == f"region-{primary}"

    def effect_s(self) -> float:
        return KILLED_SERVER_EFFECT_S if self.kind == "kill" else self.duration_s


def components(primary: str, standby: str) -> list[str]:
    """The reference pipeline's killable components, as ``shardline up`` names them."""
    return [
        f"region-{primary}",
        f"region-{standby}",
        "monitor",
        "replicator",
        f"consumer-{primary}",
        f"consumer-{standby}",
        "producer",
    ]


def plan(
    seed: int, duration_s: float, primary: str, standby: str, shape: ChaosShape
) -> list[PlannedFault]:
    """The schedule of ``seed`` for ``duration_s`` seconds (module docstring).

    Network faults go to the primary; kills to any component. A network fault ends
    no later than the next network fault begins, and no later than the chaos ends.
    """
    draw = random.Random(seed)
    targets = components(primary, standby)
    faults: list[PlannedFault] = []
    at = shape.first_after_s
    while at < duration_s:
        kind = draw.choices(FAULT_KINDS, WEIGHTS)[0]
        if kind == "kill":
            faults.append(PlannedFault(round(at, 2), kind, draw.choice(targets)))
        else:
            faults.append(
                PlannedFault(
                    round(at, 2),
                    kind,
                    primary,
                    duration_s=round(draw.uniform(*shape.fault_s), 2),
                    error_rate=round(draw.uniform(*shape.error_rate), 2),
                    latency_ms=draw.randint(*shape.latency_ms),
                )
            )
        at += draw.uniform(*shape.gap_s)
    return _clipped(faults, duration_s)


def _clipped(faults: list[PlannedFault], duration_s: float) -> list[PlannedFault]:
    network = [f for f in faults if f.kind != "kill"]
    ends = {id(f): duration_s for f in network}
    for current, following in zip(network, network[1:], strict=False):
        ends[id(current)] = following.at_s
    return [
        f
        if f.kind == "kill"
        else PlannedFault(
            f.at_s,
            f.kind,
            f.target,
            round(max(0.0, min(f.duration_s, ends[id(f)] - f.at_s)), 2),
            f.error_rate,
            f.latency_ms,
        )
        for f in faults
    ]


@dataclass(frozen=True)
class AppliedFault:
    """A fault as it was applied: the plan, and the wall-clock time it began."""

    planned: PlannedFault
    began_at: float


def attribute(
    applied: list[AppliedFault], decided_at: float, primary: str, detection_window_s: float
) -> AppliedFault | None:
    """The fault a failover decided at ``decided_at`` answers, or None (a false failover).

    The latest fault affecting the primary that began before the decision and was
    still in force within ``detection_window_s`` before it (the policy's window plus
    the checks of its hysteresis).
    """
    candidates = [
        fault
        for fault in applied
        if fault.planned.affects_primary(primary)
        and fault.began_at <= decided_at
        and fault.began_at + fault.planned.effect_s() >= decided_at - detection_window_s
    ]
    return max(candidates, key=lambda fault: fault.began_at, default=None)


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def spread(values: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of ``values``, rounded to 0.1 (None when there are none)."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "p50": rounded(statistics.median(values)) if values else None,
        "p99": rounded(percentile(values, 0.99)),
        "max": rounded(max(values, default=None)),
    }
