"""The one back-off: how long to pause after failures in a row.

Every retry loop in Shardline (the producer per shard, the consumer's reads and
tasks, the replication copier, the sinks' transaction conflicts, the pipeline
supervisor's restarts) waits by a :class:`Backoff`. The pause doubles per failure
in a row, from ``initial_s`` up to ``max_s``, and starts over at ``initial_s``
after :meth:`Backoff.reset` (a success).

Jitter: with ``jitter = j`` each pause is drawn uniformly from
``[step · (1 − j), step]``. ``j = 0.5`` is "equal jitter": retries of many shards or
workers spread out instead of arriving together, and none comes sooner than half
the step. ``j = 0`` keeps the pause exact, where one loop retries alone (a
supervisor restarting a child) and the log line should say the real wait.
"""

from __future__ import annotations

import asyncio
import random

from shardline.errors import ConfigError


class Backoff:
    """Doubling pauses from ``initial_s`` to ``max_s`` seconds, jittered by ``jitter``.

    Two ways to use it:

    - stateful: :meth:`next_delay` per failure (it counts them), :meth:`reset` on
      success, or ``await`` :meth:`sleep` to pause by the next delay;
    - stateless: :meth:`delay` for the n-th failure in a row, when the caller keeps
      the count itself (the producer keeps one per shard).

    ``rng`` makes the jitter reproducible in tests.
    """

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        *,
        jitter: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        for key, value in (("initial_s", initial_s), ("max_s", max_s)):
            if value < 0:
                raise ConfigError.invalid("Backoff.", key, value, ">= 0 seconds")
        if not 0.0 <= jitter <= 1.0:
            raise ConfigError.invalid("Backoff.", "jitter", jitter, "between 0 and 1")
        self.initial_s = initial_s
        self.max_s = max_s
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._failures = 0

    @classmethod
    def for_attempts(cls, initial_s: float, attempts: int, *, jitter: float = 0.5) -> Backoff:
        """A back-off for a loop of ``attempts`` tries, capped at the pause the last
        one calls for (so the cap never cuts the doubling short)."""
        return cls(initial_s, initial_s * 2.0 ** max(attempts - 1, 0), jitter=jitter)

    @property
    def failures(self) -> int:
        """Failures in a row counted by :meth:`next_delay` since the last reset."""
        return self._failures

    def step(self, failures: int) -> float:
        """The un-jittered pause after ``failures`` in a row: the upper bound of a delay."""
        exponent = min(max(failures - 1, 0), 64)  # 2**64 · initial_s is past any cap
        return min(self.max_s, self.initial_s * 2.0**exponent)

    def delay(self, failures: int) -> float:
        """The pause after the ``failures``-th failure in a row (1 is the first)."""
        step = self.step(failures)
        return step - self._rng.uniform(0.0, step * self.jitter) if self.jitter else step

    def next_delay(self) -> float:
        """Count one more failure in a row and return the pause it calls for."""
        self._failures += 1
        return self.delay(self._failures)

    def reset(self) -> None:
        """A success: the next failure waits the least again."""
        self._failures = 0

    async def sleep(self) -> None:
        """Count one more failure and sleep the pause it calls for."""
        await asyncio.sleep(self.next_delay())
