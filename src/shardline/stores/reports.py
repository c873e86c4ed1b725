"""The reports components publish to the control store: one typed contract per kind.

A report is a small document a component replaces about itself, under its own name
(``component``), every few hundred milliseconds. Zero data loss rests on some of
them: a failback moves on only when every live producer's :class:`ProducerReport`
says it left the standby and every standby consumer's :class:`ConsumerReport` says
it processed each shard through that moment. So each kind is a frozen dataclass
here, written and read through :meth:`ReportBody.to_body` and
:meth:`ReportBody.from_body`, and no reader looks a field up by a string key.

Each kind, who writes it and who reads it:

- ``producer`` (:class:`ProducerReport`), by ``failover.producer`` every 0.5 s: read by
  the failback (have producers left the standby?), status views and the console;
- ``consumer`` (:class:`ConsumerReport`), by ``failover.consumer`` every
  ``report_interval_s``: read by the failover decision (the standby's start
  position), the failback (has the standby drained?), the drills' verification
  (duplicates absorbed), status views and the console;
- ``replicator`` (:class:`ReplicatorReport`), by ``replication.progress`` every
  ``publish_interval_s``: read by the drills (warm-up, lag at the fault), status views
  and the console;
- ``controller`` (:class:`MonitorReport`), by ``failover.monitor`` every check: read by
  the failback and the chaos drill (the monitor's verdict on the primary), status
  views and the console;
- ``health`` (:class:`HealthReport`), by every producer, consumer and replicator and
  the monitor's canary: read by the monitor's error-rate window;
- ``decision`` (:class:`DecisionReport`), by ``ControlStore.transition`` once per
  epoch: read by the console's decision journal.

Versions: :meth:`~ReportBody.to_body` writes ``"v": 1``. :meth:`~ReportBody.from_body`
reads a body without ``"v"`` as version 1 (what every Shardline wrote before reports
carried a version), takes a field missing from it as the field's default (fields
were added over time; each default is what readers assumed of a missing field), and
refuses a body of a version it does not know with :class:`ReportFormatError`: a
component must not act on a newer contract it cannot read (a failback skipping a
producer report it cannot parse could drain too early).

Age: a dead component's report stays in the store. A report older than
:data:`STALE_AFTER_S` is taken as its component's last word: a failback no longer
waits for that producer, and status views mark it stale.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, NamedTuple, Self, TypeVar

from shardline.errors import ShardlineError

#: The version :meth:`ReportBody.to_body` writes and the newest ``from_body`` reads.
VERSION = 1
#: A report older than this is taken as gone: every live component reports at least
#: once a second (producers every 0.5 s), so 10 s is many missed reports, not a
#: slow one.
STALE_AFTER_S = 10.0


class ReportFormatError(ShardlineError):
    """A report body that this Shardline cannot read.

    Either a newer Shardline wrote it (upgrade this component to the version of the
    components that write reports), or it is not a report of its kind at all. Not
    retriable: reading it again gives the same answer.
    """


class HealthState(enum.Enum):
    """A region's state in the monitor's hysteresis (``failover.health``)."""

    HEALTHY = "HEALTHY"
    PRE_FAIL = "PRE_FAIL"
    FAILED = "FAILED"
    PRE_RECOVER = "PRE_RECOVER"


class _Fields:
    """Typed reads of one body's fields: a missing field gives the default, a field
    of the wrong type raises :class:`ReportFormatError` naming the kind and key."""

    def __init__(self, where: str, doc: object) -> None:
        if not isinstance(doc, Mapping):
            raise ReportFormatError(f"{where}: {doc!r} is not a JSON object")
        self.where = where
        self.doc: Mapping[str, Any] = doc

    def _get(self, key: str, types: tuple[type, ...], what: str, default: Any) -> Any:
        value = self.doc.get(key, default)
        if value is default or (isinstance(value, types) and not isinstance(value, bool)):
            return value
        raise ReportFormatError(f"{self.where}: {key} = {value!r} is not {what}")

    def integer(self, key: str, default: int = 0) -> int:
        return int(self._get(key, (int,), "an integer", default))

    def optional_integer(self, key: str) -> int | None:
        value = self._get(key, (int,), "an integer", None)
        return None if value is None else int(value)

    def number(self, key: str, default: float = 0.0) -> float:
        return float(self._get(key, (int, float), "a number", default))

    def optional_number(self, key: str) -> float | None:
        value = self._get(key, (int, float), "a number", None)
        return None if value is None else float(value)

    def text(self, key: str, default: str = "") -> str:
        return str(self._get(key, (str,), "a string", default))

    def optional_text(self, key: str) -> str | None:
        value = self._get(key, (str,), "a string", None)
        return None if value is None else str(value)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.doc.get(key, default)
        if value is None or not isinstance(value, bool):
            raise ReportFormatError(f"{self.where}: {key} = {value!r} is not true or false")
        return value

    def optional_flag(self, key: str) -> bool | None:
        value = self.doc.get(key)
        if value is not None and not isinstance(value, bool):
            raise ReportFormatError(f"{self.where}: {key} = {value!r} is not true or false")
        return value

    def section(self, key: str) -> _Fields | None:
        """A nested object (None when missing or null)."""
        value = self.doc.get(key)
        return None if value is None else _Fields(f"{self.where}, {key}", value)

    def sections(self, key: str) -> dict[str, _Fields]:
        """A nested object of objects, by name (``shards``, ``regions``)."""
        parts = self.section(key)
        if parts is None:
            return {}
        return {name: _Fields(f"{parts.where} {name}", doc) for name, doc in parts.doc.items()}

    def entries(self, key: str) -> list[Any]:
        """A nested list (empty when missing or null)."""
        value = self.doc.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ReportFormatError(f"{self.where}: {key} = {value!r} is not a list")
        return value


def _check_version(kind: str, body: object) -> _Fields:
    fields = _Fields(f"{kind} report", body)
    version = fields.doc.get("v", VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ReportFormatError(f"{kind} report: version {version!r} is not a report version")
    if version > VERSION:
        raise ReportFormatError(
            f"{kind} report of version {version}: this Shardline reads reports up to version "
            f"{VERSION}; upgrade this component to the version of the one that wrote it"
        )
    return fields


class ReportBody(abc.ABC):
    """What one kind of report says (module docstring). Subclasses are frozen
    dataclasses naming their ``KIND`` and the fields of their body."""

    KIND: ClassVar[str]

    def to_body(self) -> dict[str, Any]:
        """The stored JSON body: ``"v"`` and :meth:`fields`."""
        return {"v": VERSION, **self.fields()}

    @abc.abstractmethod
    def fields(self) -> dict[str, Any]:
        """The body's fields as JSON values (the form status views show, too)."""

    @classmethod
    def from_body(cls, body: object) -> Self:
        """Parse a stored body; raises :class:`ReportFormatError` (module docstring)."""
        return cls._parse(_check_version(cls.KIND, body))

    @classmethod
    @abc.abstractmethod
    def _parse(cls, fields: _Fields) -> Self:
        """The report from its checked fields."""


R = TypeVar("R", bound=ReportBody)


@dataclass(frozen=True)
class Published(Generic[R]):
    """A report as a reader gets it: who published it, what it says, and when."""

    component: str
    body: R
    #: The publisher's wall-clock seconds at publishing.
    updated_at: float

    def age_s(self, now: float) -> float:
        return now - self.updated_at

    def stale(self, now: float) -> bool:
        """True when the component is taken as gone (:data:`STALE_AFTER_S`)."""
        return self.age_s(now) >= STALE_AFTER_S


# -- producer -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProducerReport(ReportBody):
    """A :class:`~shardline.failover.producer.FailoverProducer` about itself."""

    KIND: ClassVar[str] = "producer"

    #: The newest decision it has carried out: it reports an epoch only once no
    #: call to the region that decision left is in flight (None: none yet).
    epoch: int | None = None
    #: The region it sends to (that decision's active region).
    region: str | None = None
    #: Wall-clock seconds since which it has sent only to ``region``.
    since: float = 0.0
    #: Records put and not yet acknowledged.
    pending: int = 0
    #: Records acknowledged and held in the spool until replicated.
    held: int = 0

    def fields(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "region": self.region,
            "since": self.since,
            "pending": self.pending,
            "held": self.held,
        }

    @classmethod
    def _parse(cls, fields: _Fields) -> Self:
        return cls(
            epoch=fields.optional_integer("epoch"),
            region=fields.optional_text("region"),
            since=fields.number("since"),
            pending=fields.integer("pending"),
            held=fields.integer("held"),
        )


# -- consumer -------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardProgress:
    """How far a consumer worker got in one shard."""

    #: MillisBehindLatest of its last read.
    millis_behind: int = 0
    #: Wall-clock seconds up to which every record of the shard is processed
    #: ("answer time − MillisBehindLatest" of the last batch it finished; None
    #: before the first).
    processed_through: float | None = None

    def fields(self) -> dict[str, Any]:
        return {"millis_behind": self.millis_behind, "processed_through": self.processed_through}

    @classmethod
    def parse(cls, fields: _Fields) -> ShardProgress:
        return cls(fields.integer("millis_behind"), fields.optional_number("processed_through"))


@dataclass(frozen=True)
class SinkFigures:
    """An idempotent sink's write outcomes since its consumer started."""

    applied: int = 0
    stale: int = 0
    #: Re-deliveries the sink recognised by record id and absorbed.
    duplicates: int = 0

    def fields(self) -> dict[str, Any]:
        return {"applied": self.applied, "stale": self.stale, "duplicates": self.duplicates}

    @classmethod
    def parse(cls, fields: _Fields) -> SinkFigures:
        return cls(fields.integer("applied"), fields.integer("stale"), fields.integer("duplicates"))


@dataclass(frozen=True)
class ConsumerReport(ReportBody):
    """A :class:`~shardline.failover.consumer.RegionConsumer` about its worker."""

    KIND: ClassVar[str] = "consumer"

    application: str = ""
    stream: str = ""
    region: str = ""
    #: The generation (epoch it began at) its worker runs; None while stopped.
    generation: int | None = None
    running: bool = False
    #: Per shard the worker holds.
    shards: Mapping[str, ShardProgress] = field(default_factory=dict)
    #: Records processed by this worker.
    processed: int = 0
    worker: str = ""
    #: The application's sink, when it has one.
    sink: SinkFigures | None = None

    @property
    def lag_ms(self) -> int:
        """The largest MillisBehindLatest over its shards."""
        return max((s.millis_behind for s in self.shards.values()), default=0)

    def fields(self) -> dict[str, Any]:
        doc = {
            "application": self.application,
            "stream": self.stream,
            "region": self.region,
            "generation": self.generation,
            "running": self.running,
            "shards": {shard: figures.fields() for shard, figures in self.shards.items()},
            "lag_ms": self.lag_ms,
            "processed": self.processed,
            "worker": self.worker,
        }
        if self.sink is not None:
            doc["sink"] = self.sink.fields()
        return doc

    @classmethod
    def _parse(cls, fields: _Fields) -> Self:
        sink = fields.section("sink")
        return cls(
            application=fields.text("application"),
            stream=fields.text("stream"),
            region=fields.text("region"),
            generation=fields.optional_integer("generation"),
            running=fields.flag("running"),
            shards={s: ShardProgress.parse(f) for s, f in fields.sections("shards").items()},
            processed=fields.integer("processed"),
            worker=fields.text("worker"),
            sink=SinkFigures.parse(sink) if sink is not None else None,
        )


# -- replicator -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicatedShard:
    """How far replication of one source shard got in this run."""

    #: The newest source sequence number the target acknowledged (None: none yet).
    sequence_number: str | None = None
    #: MillisBehindLatest of the last source read.
    millis_behind: int = 0
    copied: int = 0
    #: Records not copied because they came from the target (origin markers).
    skipped: int = 0

    def fields(self) -> dict[str, Any]:
        return {
            "sequence_number": self.sequence_number,
            "millis_behind": self.millis_behind,
            "copied": self.copied,
            "skipped": self.skipped,
        }

    @classmethod
    def parse(cls, fields: _Fields) -> ReplicatedShard:
        return cls(
            fields.optional_text("sequence_number"),
            fields.integer("millis_behind"),
            fields.integer("copied"),
            fields.integer("skipped"),
        )


@dataclass(frozen=True)
class RetentionGap:
    """A checkpointed source record that was gone when a copier resumed from it."""

    shard_id: str
    #: The checkpointed sequence number.
    checkpoint: str
    #: Where copying resumed: a sequence number, ``nothing`` or ``refused: …``.
    resumed_at: str

    def fields(self) -> dict[str, Any]:
        return {
            "shard_id": self.shard_id,
            "checkpoint": self.checkpoint,
            "resumed_at": self.resumed_at,
        }

    @classmethod
    def parse(cls, fields: _Fields) -> RetentionGap:
        return cls(fields.text("shard_id"), fields.text("checkpoint"), fields.text("resumed_at"))


@dataclass(frozen=True)
class ReplicatorReport(ReportBody):
    """One replication run (``replication.progress``) about itself."""

    KIND: ClassVar[str] = "replicator"

    source: str = ""
    target: str = ""
    stream: str = ""
    #: The run's replication generation (the epoch it began at).
    generation: int = 0
    shards: Mapping[str, ReplicatedShard] = field(default_factory=dict)
    gaps: tuple[RetentionGap, ...] = ()

    @property
    def lag_ms(self) -> int:
        """The largest MillisBehindLatest over the shards (the run's iterator age)."""
        return max((s.millis_behind for s in self.shards.values()), default=0)

    @property
    def copied(self) -> int:
        return sum(s.copied for s in self.shards.values())

    def fields(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "stream": self.stream,
            "generation": self.generation,
            "lag_ms": self.lag_ms,
            "shards": {shard: figures.fields() for shard, figures in self.shards.items()},
            "copied": self.copied,
            "gaps": [gap.fields() for gap in self.gaps],
        }

    @classmethod
    def _parse(cls, fields: _Fields) -> Self:
        gaps = [_Fields(f"{fields.where}, gaps", g) for g in fields.entries("gaps")]
        return cls(
            source=fields.text("source"),
            target=fields.text("target"),
            stream=fields.text("stream"),
            generation=fields.integer("generation"),
            shards={s: ReplicatedShard.parse(f) for s, f in fields.sections("shards").items()},
            gaps=tuple(RetentionGap.parse(gap) for gap in gaps),
        )


# -- monitor (the controller's heartbeat) ---------------------------------------------


@dataclass(frozen=True)
class RegionVerdict:
    """The monitor's view of one region at its last check."""

    #: Its hysteresis state (None only in a body that lacks it).
    state: HealthState | None = None
    #: Calls and failed calls in the window, and their ratio (rounded to 4 places).
    ok: int = 0
    errors: int = 0
    error_rate: float = 0.0
    #: The last canary round: passed or not (None: none yet), and when.
    canary_ok: bool | None = None
    canary_at: float | None = None

    @property
    def calls(self) -> int:
        return self.ok + self.errors

    def fields(self) -> dict[str, Any]:
        return {
            "state": self.state.value if self.state is not None else None,
            "ok": self.ok,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "canary": {"ok": self.canary_ok, "at": self.canary_at},
        }

    @classmethod
    def parse(cls, fields: _Fields) -> RegionVerdict:
        state = fields.optional_text("state")
        canary = fields.section("canary")
        try:
            health = HealthState(state) if state is not None else None
        except ValueError:
            raise ReportFormatError(f"{fields.where}: {state!r} is not a health state") from None
        return cls(
            state=health,
            ok=fields.integer("ok"),
            errors=fields.integer("errors"),
            error_rate=fields.number("error_rate"),
            canary_ok=canary.optional_flag("ok") if canary is not None else None,
            canary_at=canary.optional_number("at") if canary is not None else None,
        )


@dataclass(frozen=True)
class DecisionTaken:
    """A failover this monitor decided (its heartbeat keeps the last twenty)."""

    epoch: int
    #: Wall-clock seconds of the decision.
    at: float
    #: The region made active.
    to: str
    reason: str

    def fields(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "at": self.at, "to": self.to, "reason": self.reason}

    @classmethod
    def parse(cls, fields: _Fields) -> DecisionTaken:
        return cls(
            fields.integer("epoch"),
            fields.number("at"),
            fields.text("to"),
            fields.text("reason"),
        )


@dataclass(frozen=True)
class MonitorReport(ReportBody):
    """The monitor's heartbeat, once per check (kind ``controller``)."""

    KIND: ClassVar[str] = "controller"

    #: The control state it read at that check (None: none yet).
    epoch: int | None = None
    active_region: str | None = None
    regions: Mapping[str, RegionVerdict] = field(default_factory=dict)
    decisions: tuple[DecisionTaken, ...] = ()

    def fields(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "active_region": self.active_region,
            "regions": {name: verdict.fields() for name, verdict in self.regions.items()},
            "decisions": [decision.fields() for decision in self.decisions],
        }

    @classmethod
    def _parse(cls, fields: _Fields) -> Self:
        taken = [_Fields(f"{fields.where}, decisions", d) for d in fields.entries("decisions")]
        return cls(
            epoch=fields.optional_integer("epoch"),
            active_region=fields.optional_text("active_region"),
            regions={r: RegionVerdict.parse(f) for r, f in fields.sections("regions").items()},
            decisions=tuple(DecisionTaken.parse(d) for d in taken),
        )


# -- health -----------------------------------------------------------------------------


class CallBucket(NamedTuple):
    """Calls to a region in one wall-clock second: stored as ``[second, ok, errors]``."""

    second: int
    ok: int
    errors: int


@dataclass(frozen=True)
class HealthReport(ReportBody):
    """One reporter's calls to one region, per second (``failover.health``)."""

    KIND: ClassVar[str] = "health"

    region: str = ""
    calls: tuple[CallBucket, ...] = ()

    def fields(self) -> dict[str, Any]:
        return {"region": self.region, "calls": [list(bucket) for bucket in self.calls]}

    @classmethod
    def _parse(cls, fields: _Fields) -> Self:
        buckets = []
        for bucket in fields.entries("calls"):
            if not (
                isinstance(bucket, list)
                and len(bucket) == 3
                and all(isinstance(n, int) and not isinstance(n, bool) for n in bucket)
            ):
                raise ReportFormatError(f"{fields.where}: {bucket!r} is not [second, ok, errors]")
            buckets.append(CallBucket(*bucket))
        return cls(region=fields.text("region"), calls=tuple(buckets))


# -- decision journal ---------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionReport(ReportBody):
    """The journal entry of one control-state transition, one per epoch."""

    KIND: ClassVar[str] = "decision"

    epoch: int
    active_region: str
    reason: str
    #: Wall-clock seconds of the decision.
    changed_at: float

    def fields(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "active_region": self.active_region,
            "reason": self.reason,
            "changed_at": self.changed_at,
        }

    @classmethod
    def _parse(cls, fields: _Fields) -> Self:
        if "epoch" not in fields.doc:
            raise ReportFormatError(f"{fields.where}: no epoch")
        return cls(
            epoch=fields.integer("epoch"),
            active_region=fields.text("active_region"),
            reason=fields.text("reason"),
            changed_at=fields.number("changed_at"),
        )
