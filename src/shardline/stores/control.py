"""The control store: the one place where the failover authority's decisions live.

What it holds:

- the **control state**: which region is active, under which **epoch**, where each
  region's consumers start, whether (and from where) replication runs, and which
  regions are still draining during a failback;
- **watermarks**: per source shard, the newest sequence number the replicator has
  copied and the target acknowledged (producers release spooled records below it);
- **reports**: small documents components publish about themselves (consumer lag,
  replication lag, health samples, the controller's heartbeat), and the journal of
  decisions: every transition also writes a ``decision`` report (epoch, active region,
  reason, time), so a console can show each decision, not only the latest. Each kind
  is a typed contract in :mod:`shardline.stores.reports`; the backends store the
  JSON body it writes (:class:`ReportDocument`), and :meth:`ControlStore.put_report`
  and :meth:`ControlStore.get_reports` are the typed way in and out.

Fencing: every change of the control state is a conditional write that expects the
current epoch and writes epoch + 1, so two controllers racing cannot both win.
Watermark writes carry the *replication generation* (the epoch at which the current
replication run began) and are refused with :class:`StaleEpochError` once a newer
decision replaced that run, so a replicator that slept through a failover learns it
on its next write and stops instead of publishing positions nobody should trust.
No rule here compares wall clocks between processes; timestamps in the state are
only positions in the stream (AT_TIMESTAMP) and information for humans.

Backends: :class:`~shardline.stores.sqlite_control.SQLiteControlStore` (one file,
shared by the processes of one machine) and
:class:`~shardline.stores.dynamodb_control.DynamoDBControlStore` (one table).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from shardline.errors import ShardlineError
from shardline.stores.reports import DecisionReport, Published, R, ReportBody

StartKind = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]


class ControlStoreError(ShardlineError):
    """The control store could not be reached or answered unexpectedly (retry later)."""

    retriable = True


class StaleEpochError(ShardlineError):
    """A write carried an epoch or generation that a newer decision has replaced.

    The writer must stop acting on its old view: read the state again and follow it.
    """


@dataclass(frozen=True)
class StartPosition:
    """Where a freshly started reader begins in a stream (no checkpoint yet)."""

    kind: StartKind = "TRIM_HORIZON"
    #: Seconds since the epoch, for AT_TIMESTAMP.
    timestamp: float | None = None

    def __post_init__(self) -> None:
        if (self.kind == "AT_TIMESTAMP") != (self.timestamp is not None):
            raise ValueError("AT_TIMESTAMP needs a timestamp, and only it has one")

    @classmethod
    def at(cls, timestamp: float) -> StartPosition:
        return cls("AT_TIMESTAMP", timestamp)

    def __str__(self) -> str:
        if self.timestamp is None:
            return self.kind
        stamp = time.strftime("%H:%M:%S", time.localtime(self.timestamp))
        return f"AT_TIMESTAMP {stamp}.{int(self.timestamp * 1000) % 1000:03d}"


@dataclass(frozen=True)
class Generation:
    """One run of a reader: begun at ``epoch`` from ``start``.

    A reader names its lease table after the generation, so a new run (after a
    failover or failback) starts fresh at ``start`` instead of resuming checkpoints
    that belong to an older run of the same region.
    """

    epoch: int
    start: StartPosition = field(default_factory=StartPosition)


@dataclass(frozen=True)
class Replication:
    """Replication from ``source`` to ``target``, begun as ``generation``."""

    source: str
    target: str
    generation: Generation


@dataclass(frozen=True)
class ControlState:
    """The failover authority's current decision. Replace it only via a transition."""

    epoch: int
    active_region: str
    #: Wall-clock seconds of the decision (for humans and RTO reports).
    changed_at: float
    reason: str
    #: Per region: the generation its consumers run (absent: never started).
    consumers: dict[str, Generation] = field(default_factory=dict)
    replication: Replication | None = None
    #: Regions whose consumers keep running until they drained (failback).
    draining: tuple[str, ...] = ()
    #: Wall-clock seconds since which ``active_region`` has been active (the flap
    #: guard counts from here, not from a failback's later steps). None: since
    #: ``changed_at`` (the state's first decision, or a document written before
    #: this field existed).
    active_since: float | None = None

    def successor(self, reason: str, **changes: Any) -> ControlState:
        """The next decision: epoch + 1, now, with ``changes`` applied."""
        now = time.time()
        switched = changes.get("active_region", self.active_region) != self.active_region
        return dataclasses.replace(
            self,
            epoch=self.epoch + 1,
            changed_at=now,
            reason=reason,
            active_since=now if switched else self.switched_at,
            **changes,
        )

    @property
    def switched_at(self) -> float:
        """When the active region last changed (or the state began)."""
        return self.changed_at if self.active_since is None else self.active_since

    @property
    def replication_generation(self) -> int:
        """The epoch the replication run began at; 0 when replication is off."""
        return self.replication.generation.epoch if self.replication else 0

    # -- documents (the storage edge) -------------------------------------------------

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ControlState:
        replication = doc.get("replication")
        return cls(
            epoch=int(doc["epoch"]),
            active_region=doc["active_region"],
            changed_at=float(doc["changed_at"]),
            reason=doc["reason"],
            consumers={r: _generation(g) for r, g in doc.get("consumers", {}).items()},
            replication=Replication(
                replication["source"], replication["target"], _generation(replication["generation"])
            )
            if replication
            else None,
            draining=tuple(doc.get("draining", ())),
            active_since=doc.get("active_since"),
        )


def _generation(doc: dict[str, Any]) -> Generation:
    start = doc["start"]
    return Generation(int(doc["epoch"]), StartPosition(start["kind"], start.get("timestamp")))


@dataclass(frozen=True)
class Watermark:
    """How far replication of one source shard got (target acknowledged)."""

    shard_id: str
    sequence_number: str
    #: ApproximateArrivalTimestamp (seconds) of that record in the source.
    arrival: float
    #: MillisBehindLatest of the source read that delivered it.
    millis_behind: int
    updated_at: float


@dataclass(frozen=True)
class ReportDocument:
    """A report as the backends store it: the JSON body of one component's report of
    one kind (:meth:`ReportBody.to_body`), replaced on every publish."""

    kind: str
    component: str
    body: dict[str, Any]
    updated_at: float


class ControlStore(abc.ABC):
    """Storage for the control state, watermarks and reports. See the module doc.

    Error handling: transport problems raise :class:`ControlStoreError` (retry);
    a fenced write raises :class:`StaleEpochError` (do not retry: re-read).
    """

    async def ensure_table(self) -> None:  # noqa: B027
        """Create the backing table if missing (a no-op where nothing is needed)."""

    async def close(self) -> None:  # noqa: B027
        """Release connections."""

    @abc.abstractmethod
    async def get_state(self) -> ControlState | None:
        """The current decision, or None before :meth:`initialize`."""

    @abc.abstractmethod
    async def initialize(self, state: ControlState) -> ControlState:
        """Store ``state`` if there is no state yet; return whichever is stored."""

    async def transition(self, current: ControlState, new: ControlState) -> ControlState:
        """Replace ``current`` by ``new`` (whose epoch must be current's + 1).

        Raises :class:`StaleEpochError` when the stored epoch is not ``current.epoch``.
        """
        check_successor(current, new)
        await self.replace(current.epoch, new)
        # The journal is for people: losing an entry never undoes the decision.
        with contextlib.suppress(ControlStoreError):
            await self.put_report(f"epoch-{new.epoch:010d}", decision_report(new), new.changed_at)
        return new

    @abc.abstractmethod
    async def replace(self, expected_epoch: int, new: ControlState) -> None:
        """Store ``new`` if the stored epoch is ``expected_epoch`` (the fencing write).

        :meth:`transition` is the rule-checked way in; this is also how a replicated
        store brings a replica that missed decisions up to date.
        Raises :class:`StaleEpochError` otherwise.
        """

    @abc.abstractmethod
    async def put_watermarks(
        self, generation: int, source_region: str, stream: str, marks: list[Watermark]
    ) -> None:
        """Publish watermarks, fenced: refused unless ``generation`` is still running.

        Raises :class:`StaleEpochError` when the stored replication generation is
        not ``generation``. A watermark never moves backwards.
        """

    @abc.abstractmethod
    async def get_watermarks(self, source_region: str, stream: str) -> dict[str, Watermark]:
        """Watermarks of every shard of ``stream`` replicated from ``source_region``."""

    async def put_report(
        self, component: str, report: ReportBody, updated_at: float | None = None
    ) -> None:
        """Publish (replace) ``component``'s report of ``report``'s kind, as of
        ``updated_at`` (default: now)."""
        when = time.time() if updated_at is None else updated_at
        await self.put_report_document(
            ReportDocument(report.KIND, component, report.to_body(), when)
        )

    async def get_reports(self, report_type: type[R]) -> list[Published[R]]:
        """Every component's report of ``report_type``'s kind.

        Raises :class:`~shardline.stores.reports.ReportFormatError` when one was
        written by a newer Shardline (or is no report of that kind): a reader must not
        decide on reports it cannot read.
        """
        return [
            Published(doc.component, report_type.from_body(doc.body), doc.updated_at)
            for doc in await self.get_report_documents(report_type.KIND)
        ]

    @abc.abstractmethod
    async def put_report_document(self, document: ReportDocument) -> None:
        """Store (replace) one component's report body of one kind."""

    @abc.abstractmethod
    async def get_report_documents(self, kind: str) -> list[ReportDocument]:
        """Every stored report body of ``kind``."""

    async def __aenter__(self) -> ControlStore:
        await self.ensure_table()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def decision_report(state: ControlState) -> DecisionReport:
    """The journal entry of one decision (report kind ``decision``, one per epoch)."""
    return DecisionReport(state.epoch, state.active_region, state.reason, state.changed_at)


def check_successor(current: ControlState, new: ControlState) -> None:
    """Raise ValueError unless ``new`` is a valid next decision after ``current``."""
    if new.epoch != current.epoch + 1:
        raise ValueError(f"epoch must go {current.epoch} -> {current.epoch + 1}, not {new.epoch}")


def sequence_key(sequence_number: str) -> int:
    """Sequence numbers compare as integers (Kinesis: decimal strings, same shard)."""
    return int(sequence_number)
