"""Reporting records the producer gave up on: one log line per reason, one burial.

Why batch: a call that fails on a non-retriable error (a deleted stream, say) gives
up hundreds of records in one step of the event loop. One log line per record would
bury the cause in noise, and one spool commit per record would slow the writer that
the records still being sent depend on. So :class:`GiveUps` gathers the records
given up during one step and, once the step is done, logs a line per reason and
keeps the spooled ones as dead letters in one spool job (``Spool.bury``).
"""

from __future__ import annotations

import asyncio
import logging

from shardline.producer.spool import Spool

log = logging.getLogger(__name__)


class GiveUps:
    """Records given up during the current step of the event loop, not yet reported."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._rows: dict[str, list[int]] = {}

    def add(self, reason: str, spool: Spool | None, row: int | None) -> None:
        """Count one record given up for ``reason``; ``row``: its spool row, if spooled.

        The first record of a step schedules the report for the end of the step.
        """
        if not self._counts:
            asyncio.get_running_loop().call_soon(self.report, spool)
        self._counts[reason] = self._counts.get(reason, 0) + 1
        if spool is not None and row is not None:
            self._rows.setdefault(reason, []).append(row)

    def report(self, spool: Spool | None) -> None:
        """Log a line per reason and bury the spooled records as dead letters."""
        for reason, count in self._counts.items():
            rows = self._rows.get(reason, [])
            kept = (
                f"; {len(rows)} kept as dead letters in spool {spool.path}"
                " (`shardline spool` lists them, `shardline spool resend` sends them again)"
                if rows and spool is not None
                else ""
            )
            log.error("gave up %d records: %s%s", count, reason, kept)
            if rows and spool is not None:
                spool.bury(rows, reason)
        self._counts.clear()
        self._rows.clear()
