"""Account settings: the minimum throughput billing commitment.

Kinesis keeps one commitment per account (``UpdateAccountSettings``,
``DescribeAccountSettings``). Its life, as AWS documents it:

1. Enabling starts a commitment that must run at least 24 hours
   (``EarliestAllowedEndAt``).
2. Disabling it before then does not end it: it stays
   ``ENABLED_UNTIL_EARLIEST_ALLOWED_END`` and ends by itself at that time.
3. Enabling it again before then cancels the pending end.
4. Disabling it later ends it at once; enabling it after it ended starts a new one.

Shardline bills nothing; it records the commitment for what it unlocks: warm
throughput on on-demand streams. The status is computed from the stored instants
and the clock, so a scheduled end needs no timer and survives restarts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from typing import Literal

import orjson

CommitmentStatus = Literal["ENABLED", "DISABLED", "ENABLED_UNTIL_EARLIEST_ALLOWED_END"]

#: A commitment runs at least this long (AWS: 24 hours).
MIN_COMMITMENT_MS = 24 * 3600 * 1000
_META_KEY = "minimum_throughput_billing_commitment"


@dataclass(frozen=True)
class Commitment:
    """The account's latest commitment; all ``None`` when there never was one."""

    started_ms: int | None = None
    earliest_end_ms: int | None = None
    #: When it ended, or is due to end (a disable asked for before the earliest end).
    ended_ms: int | None = None

    def status(self, now_ms: int) -> CommitmentStatus:
        if self.started_ms is None or (self.ended_ms is not None and self.ended_ms <= now_ms):
            return "DISABLED"
        return "ENABLED" if self.ended_ms is None else "ENABLED_UNTIL_EARLIEST_ALLOWED_END"

    def active(self, now_ms: int) -> bool:
        """Whether the commitment is in force (warm throughput is available)."""
        return self.status(now_ms) != "DISABLED"

    def enable(self, now_ms: int) -> Commitment:
        """Steps 1 and 3: start a commitment, or cancel a pending end."""
        if self.active(now_ms):
            return replace(self, ended_ms=None)
        return Commitment(now_ms, now_ms + MIN_COMMITMENT_MS, None)

    def disable(self, now_ms: int) -> Commitment:
        """Steps 2 and 4: end at the earliest allowed instant, or now if that has passed."""
        if not self.active(now_ms) or self.ended_ms is not None:
            return self
        assert self.earliest_end_ms is not None
        return replace(self, ended_ms=max(now_ms, self.earliest_end_ms))


def load(conn: sqlite3.Connection) -> Commitment:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (_META_KEY,)).fetchone()
    return Commitment(*orjson.loads(row[0])) if row else Commitment()


def save(conn: sqlite3.Connection, commitment: Commitment) -> None:
    value = orjson.dumps([commitment.started_ms, commitment.earliest_end_ms, commitment.ended_ms])
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_META_KEY, value))
