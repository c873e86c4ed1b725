"""Looking into a spool from outside its producer: what waits, what was given up.

``shardline spool`` is a thin layer over these functions:

- :func:`inspect` lists, per binding (see :mod:`shardline.producer.spool_file`),
  how many records wait to be sent and how many are dead letters, and shows the
  dead letters with the reason they were given up;
- :func:`resend` sends every record of a single-destination binding to that
  destination: the ones waiting first, then the dead letters (after the cause, say
  a missing stream, was fixed). Each binding gets a producer of its own, so a
  record still goes only where it was put;
- :func:`discard` deletes records a person decided to drop.

Resource handling: :func:`revive` and :func:`discard` take the spool's lock, so
they fail with :class:`~shardline.producer.SpoolLockedError` while a producer
runs on the spool; :func:`inspect` only reads.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardline.producer import spool_file
from shardline.producer.config import ProducerConfig
from shardline.producer.destination import SpoolBinding
from shardline.producer.exceptions import SpoolError
from shardline.producer.producer import Producer


@dataclass(frozen=True)
class DeadLetter:
    """A record given up on a non-retriable error, kept in the spool."""

    row_id: int
    record_id: str
    partition_key: str
    size: int
    reason: str
    dead_at: float
    binding: SpoolBinding | None


@dataclass(frozen=True)
class BoundRecords:
    """The records of one binding: waiting to be sent, and dead letters."""

    binding: SpoolBinding | None  # None: rows of a spool older than bindings
    waiting: int
    dead: int


@dataclass(frozen=True)
class SpoolContents:
    path: Path
    groups: tuple[BoundRecords, ...]
    #: The oldest dead letters, up to the ``limit`` given to :func:`inspect`.
    dead_letters: tuple[DeadLetter, ...]

    @property
    def waiting(self) -> int:
        return sum(g.waiting for g in self.groups)

    @property
    def dead(self) -> int:
        return sum(g.dead for g in self.groups)

    def to_doc(self) -> dict[str, Any]:
        return {
            "spool": str(self.path),
            "waiting": self.waiting,
            "dead": self.dead,
            "destinations": [
                {"binding": str(g.binding or "unbound"), "waiting": g.waiting, "dead": g.dead}
                for g in self.groups
            ],
            "dead_letters": [
                {
                    "record_id": d.record_id,
                    "partition_key": d.partition_key,
                    "size": d.size,
                    "reason": d.reason,
                    "dead_at": d.dead_at,
                    "binding": str(d.binding or "unbound"),
                }
                for d in self.dead_letters
            ],
        }


def _binding(text: str | None) -> SpoolBinding | None:
    return SpoolBinding.from_json(text) if text is not None else None


def inspect(path: Path, limit: int = 20) -> SpoolContents:
    """What the spool at ``path`` holds (raises SpoolError if there is no spool)."""
    if not path.exists():
        raise SpoolError(f"no spool at {path}")
    with contextlib.closing(spool_file.connect(path)) as db:
        groups = tuple(
            BoundRecords(_binding(text), int(waiting), int(dead))
            for text, waiting, dead in db.execute(
                "SELECT b.destinations, SUM(r.dead IS NULL), SUM(r.dead IS NOT NULL) "
                "FROM records r LEFT JOIN bindings b ON r.binding = b.id "
                "GROUP BY r.binding ORDER BY MIN(r.id)"
            )
        )
        letters = tuple(
            DeadLetter(row, record_id, key, int(size), reason, float(at or 0), _binding(text))
            for row, record_id, key, size, reason, at, text in db.execute(
                "SELECT r.id, r.record_id, r.partition_key, length(r.data), r.dead, r.dead_at, "
                "b.destinations FROM records r LEFT JOIN bindings b ON r.binding = b.id "
                "WHERE r.dead IS NOT NULL ORDER BY r.id LIMIT ?",
                (limit,),
            )
        )
    return SpoolContents(path, groups, letters)


def _locked(path: Path, work: Callable[[sqlite3.Connection], int]) -> int:
    """Run ``work`` on the spool while holding its lock (no producer runs on it)."""
    if not path.exists():
        raise SpoolError(f"no spool at {path}")
    lock = spool_file.lock(path)
    try:
        with contextlib.closing(spool_file.connect(path)) as db:
            return work(db)
    except sqlite3.Error as exc:
        raise SpoolError(f"spool {path}: {exc}") from exc
    finally:
        lock.close()


def revive(path: Path, binding: SpoolBinding) -> int:
    """Turn ``binding``'s dead letters back into records waiting to be sent."""

    def work(db: sqlite3.Connection) -> int:
        own = spool_file.binding_id(db, binding)
        return int(
            db.execute(
                "UPDATE records SET dead = NULL, dead_at = NULL "
                "WHERE dead IS NOT NULL AND binding = ?",
                (own,),
            ).rowcount
        )

    return _locked(path, work)


def discard(path: Path, dead_only: bool = False) -> int:
    """Delete the spool's dead letters (``dead_only``) or every record it holds."""
    where = "WHERE dead IS NOT NULL" if dead_only else ""
    return _locked(path, lambda db: int(db.execute(f"DELETE FROM records {where}").rowcount))


@dataclass(frozen=True)
class Resent:
    """What :func:`resend` did for one binding."""

    binding: SpoolBinding | None
    sent: int
    stored: int
    waiting: int
    dead: int
    #: Why nothing was sent (a binding resend cannot handle), else None.
    skipped: str | None = None


def _counts(path: Path, binding: SpoolBinding) -> BoundRecords:
    for group in inspect(path, limit=0).groups:
        if group.binding == binding:
            return group
    return BoundRecords(binding, 0, 0)


async def _send(path: Path, group: BoundRecords, timeout_s: float) -> Resent:
    assert group.binding is not None
    revive(path, group.binding)
    sent = group.waiting + group.dead
    config = ProducerConfig(spool_path=path, name=f"spool-resend-{path.name}")
    producer = Producer(group.binding.destinations[0], config)
    await producer.start()
    try:
        with contextlib.suppress(TimeoutError):
            await producer.flush(timeout_s)
    finally:
        await producer.close(timeout=0)
    left = _counts(path, group.binding)
    return Resent(group.binding, sent, sent - left.waiting - left.dead, left.waiting, left.dead)


async def resend(
    path: Path, timeout_s: float = 30.0, say: Callable[[str], None] = lambda _: None
) -> list[Resent]:
    """Send each single-destination binding's records where they were put (module doc).

    Bindings with records still waiting go first, since a producer refuses a spool
    where another binding's records wait. It stops after a binding whose records
    could not all be sent within ``timeout_s``: they stay in the spool.
    """
    results: list[Resent] = []
    contents = inspect(path, limit=0)
    for group in sorted(contents.groups, key=lambda g: g.waiting == 0):
        if group.binding is None or len(group.binding.destinations) != 1:
            reason = (
                "records of a failover stream: its FailoverProducer sends them"
                if group.binding is not None
                else "records of an older spool format: the next producer on it sends them"
            )
            results.append(Resent(group.binding, 0, 0, group.waiting, group.dead, reason))
        else:
            say(f"re-sending {group.waiting + group.dead} records to {group.binding} …")
            results.append(await _send(path, group, timeout_s))
        if results[-1].waiting:
            break  # a producer for any other binding would refuse the spool
    return results
