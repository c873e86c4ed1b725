"""A control store kept in several places (one table per region), so that losing a
region does not lose the failover authority's decisions.

Rules, as numbered steps:

0. **Set up** (:meth:`ReplicatedControlStore.ensure_table`): every replica creates
   its table, each within ``setup_timeout_s``. Creating a table is slow by nature
   (DynamoDB takes seconds to make one ACTIVE; the first call also builds the
   client), so it is not held to ``timeout_s``, which is meant to tell a lost
   region from a live one on every later call. A replica whose setup fails is
   logged and skipped, as a lost one would be.
1. **Read**: ask every replica (each within ``timeout_s``); the answer is the state
   with the highest epoch among those that answered. A replica that is behind (it
   was unreachable when a decision was written) is brought up to date on the way,
   with a write fenced by its own epoch.
2. **Decide** (:meth:`ControlStore.transition`): the new state is written to the
   reachable replicas one at a time in their listed order, each write fenced by the
   epoch that replica holds (the decision's predecessor, or older for a replica that
   is behind). Racing authorities meet at the first reachable replica, which admits
   one. The decision stands when at least one replica took it and none holds a newer
   or rival decision; otherwise :class:`StaleEpochError`, and the caller re-reads.
3. **Watermarks and reports** go to every reachable replica; watermark writes stay
   fenced per replica, and a refusal from any replica is a refusal. Reads merge: the
   highest watermark per shard, the newest report per component.

What this does and does not promise: with one failover authority (one
``shardline monitor``), every decision survives the loss of any replica but one,
and every component keeps reading decisions from the replicas it can reach. Two
authorities that cannot reach the same replica could each decide the same epoch;
no two-replica store can prevent that, which is why the reference practice is one
authority (and, for the strictest setups, a third replica outside both regions).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shardline.stores.control import (
    ControlState,
    ControlStore,
    ControlStoreError,
    ReportDocument,
    StaleEpochError,
    Watermark,
    sequence_key,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest a replica may take to set up its table: DynamoDB's own wait for ACTIVE
#: (:mod:`shardline.stores.dynamodb_table`) plus the time to build a client.
SETUP_TIMEOUT_S = 75.0


class ReplicatedControlStore(ControlStore):
    """One control store over ``replicas`` (see the module docstring)."""

    def __init__(
        self,
        replicas: list[ControlStore],
        timeout_s: float = 3.0,
        setup_timeout_s: float = SETUP_TIMEOUT_S,
    ) -> None:
        if not replicas:
            raise ValueError("a replicated control store needs at least one replica")
        self.replicas = replicas
        self.timeout_s = timeout_s
        self.setup_timeout_s = setup_timeout_s

    async def _each(
        self, call: Callable[[ControlStore], Awaitable[T]], timeout_s: float | None = None
    ) -> list[T | BaseException]:
        """``call`` on every replica at once; errors and timeouts come back as values."""
        limit = self.timeout_s if timeout_s is None else timeout_s

        async def bounded(replica: ControlStore) -> T:
            return await asyncio.wait_for(call(replica), limit)

        return await asyncio.gather(*(bounded(r) for r in self.replicas), return_exceptions=True)

    def _answers(self, results: list[T | BaseException], what: str) -> list[tuple[int, T]]:
        """(replica index, result) of the replicas that answered; raise if none did."""
        answers = [(i, r) for i, r in enumerate(results) if not isinstance(r, BaseException)]
        for index, result in enumerate(results):
            if isinstance(result, StaleEpochError):
                raise result
            if isinstance(result, BaseException):
                log.warning("control store replica %d: %s failed: %r", index, what, result)
        if not answers:
            raise ControlStoreError(f"no control store replica answered ({what})")
        return answers

    async def ensure_table(self) -> None:
        """Step 0."""
        results = await self._each(lambda r: r.ensure_table(), self.setup_timeout_s)
        self._answers(results, "ensure_table")

    async def close(self) -> None:
        await asyncio.gather(*(r.close() for r in self.replicas), return_exceptions=True)

    # -- step 1 -----------------------------------------------------------------------

    async def get_state(self) -> ControlState | None:
        answers = self._answers(await self._each(lambda r: r.get_state()), "get_state")
        states = [(i, s) for i, s in answers if s is not None]
        if not states:
            return None
        newest = max((s for _, s in states), key=lambda s: s.epoch)
        behind = [(i, s) for i, s in answers if s is None or s.epoch < newest.epoch]
        for index, stale in behind:
            await self._repair(self.replicas[index], stale, newest)
        return newest

    async def _repair(
        self, replica: ControlStore, stale: ControlState | None, newest: ControlState
    ) -> None:
        try:
            if stale is None:
                await replica.initialize(newest)
            else:
                await replica.replace(stale.epoch, newest)
        except (ControlStoreError, StaleEpochError, TimeoutError) as exc:
            log.warning(
                "could not bring a control store replica to epoch %d: %r", newest.epoch, exc
            )

    async def initialize(self, state: ControlState) -> ControlState:
        self._answers(await self._each(lambda r: r.initialize(state)), "initialize")
        stored = await self.get_state()
        assert stored is not None
        return stored

    # -- step 2 -----------------------------------------------------------------------

    async def replace(self, expected_epoch: int, new: ControlState) -> None:
        """Write ``new`` to the replicas one at a time, in their listed order.

        The order is what makes two racing authorities that reach the same replicas
        produce exactly one winner: both try the first reachable replica first, its
        fenced write admits one, and the loser stops there with StaleEpochError.
        """
        accepted = 0
        for index, replica in enumerate(self.replicas):
            try:
                await asyncio.wait_for(self._write(replica, expected_epoch, new), self.timeout_s)
            except StaleEpochError:
                if accepted:
                    log.error(
                        "replica %d holds a rival or newer decision than epoch %d", index, new.epoch
                    )
                raise
            except (ControlStoreError, TimeoutError, OSError) as exc:
                log.warning("control store replica %d unreachable: %r", index, exc)
                continue
            accepted += 1
        if not accepted:
            raise ControlStoreError("no control store replica took the decision")

    @staticmethod
    async def _write(replica: ControlStore, expected_epoch: int, new: ControlState) -> None:
        held = await replica.get_state()
        if held is None:
            await replica.initialize(new)
            return
        if held.epoch > expected_epoch:
            raise StaleEpochError(f"a replica already holds epoch {held.epoch}")
        await replica.replace(held.epoch, new)

    # -- step 3 -----------------------------------------------------------------------

    async def put_watermarks(
        self, generation: int, source_region: str, stream: str, marks: list[Watermark]
    ) -> None:
        self._answers(
            await self._each(lambda r: r.put_watermarks(generation, source_region, stream, marks)),
            "put_watermarks",
        )

    async def get_watermarks(self, source_region: str, stream: str) -> dict[str, Watermark]:
        answers = self._answers(
            await self._each(lambda r: r.get_watermarks(source_region, stream)), "get_watermarks"
        )
        merged: dict[str, Watermark] = {}
        for _, marks in answers:
            for shard, mark in marks.items():
                known = merged.get(shard)
                if known is None or sequence_key(mark.sequence_number) > sequence_key(
                    known.sequence_number
                ):
                    merged[shard] = mark
        return merged

    async def put_report_document(self, document: ReportDocument) -> None:
        self._answers(await self._each(lambda r: r.put_report_document(document)), "put_report")

    async def get_report_documents(self, kind: str) -> list[ReportDocument]:
        answers = self._answers(
            await self._each(lambda r: r.get_report_documents(kind)), "get_reports"
        )
        newest: dict[str, ReportDocument] = {}
        for _, reports in answers:
            for report in reports:
                known = newest.get(report.component)
                if known is None or report.updated_at > known.updated_at:
                    newest[report.component] = report
        return list(newest.values())
