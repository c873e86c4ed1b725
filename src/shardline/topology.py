"""The topology file: regions, streams, stores and failover policy, in one TOML file.

Everything cross-region (replicator, monitor, failover controller, region-following
producers and consumers, ``shardline up``) reads the same file, so they agree on
names. Example (every key but the regions has a default)::

    [[regions]]
    name = "us-east-1"
    endpoint_url = "http://127.0.0.1:4567"   # omit to use AWS's own endpoint
    role = "primary"

    [[regions]]
    name = "us-west-2"
    endpoint_url = "http://127.0.0.1:4568"
    role = "standby"

    [[streams]]
    name = "ticker"
    shards = 2

    [stores]
    backend = "sqlite"            # or "dynamodb"
    directory = ".shardline"      # sqlite: control.db and leases.db live here

    [failover]
    standby = "cold"              # or "warm"
    window_s = 300                # error rate over the last 5 minutes ...
    threshold = 0.01              # ... at or above 1% means unhealthy

Without ``endpoint_url`` a region is AWS itself, so the same file drives a pipeline
between two real AWS regions (with ``backend = "dynamodb"`` for the stores).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from shardline.errors import ShardlineError

StandbyMode = Literal["cold", "warm"]
StoreBackend = Literal["sqlite", "dynamodb"]
ReplicationRetrieval = Literal["auto", "polling", "fanout"]


class TopologyError(ShardlineError):
    """The topology file is missing, malformed or inconsistent (fix the file)."""


def default_client_options() -> dict[str, Any]:
    """Credentials for AWS clients.

    The AWS credential chain is used when it is configured (environment variables,
    a profile, a credentials file); otherwise placeholder keys are passed, which a
    local region and local DynamoDB/S3 implementations accept. This also keeps
    botocore from probing the EC2 metadata address when there are no credentials.
    """
    configured = (
        "AWS_ACCESS_KEY_ID" in os.environ
        or "AWS_PROFILE" in os.environ
        or Path(
            os.environ.get("AWS_SHARED_CREDENTIALS_FILE", Path.home() / ".aws" / "credentials")
        ).exists()
    )
    if configured:
        return {}
    return {"aws_access_key_id": "shardline", "aws_secret_access_key": "shardline"}


@dataclass(frozen=True)
class RegionSpec:
    """One region: a name, and where its Kinesis API answers (None: AWS)."""

    name: str
    role: Literal["primary", "standby"]
    endpoint_url: str | None = None

    @property
    def region_name(self) -> str:
        """The signing region: the name itself for AWS, a fixed one for local regions."""
        return self.name if self.endpoint_url is None else "us-east-1"

    def client_kwargs(self) -> dict[str, Any]:
        """Arguments for an aiobotocore/boto3 Kinesis client of this region."""
        kwargs: dict[str, Any] = {"region_name": self.region_name, **default_client_options()}
        if self.endpoint_url is not None:
            kwargs["endpoint_url"] = self.endpoint_url
        return kwargs


@dataclass(frozen=True)
class StreamSpec:
    name: str
    shards: int = 1


@dataclass(frozen=True)
class StoresSpec:
    """Where the control store and lease tables live."""

    backend: StoreBackend = "sqlite"
    directory: Path = Path(".shardline")
    #: DynamoDB: endpoint (None: AWS), region and the prefix of every table name.
    dynamodb_endpoint_url: str | None = None
    dynamodb_region: str = "us-east-1"
    table_prefix: str = "shardline"
    #: Keep the control store in several places (one table per region), so losing a
    #: region loses no decision: each entry is ``{region, endpoint_url}`` (DynamoDB)
    #: or ``{directory}`` (SQLite). Empty: the one store above.
    control_replicas: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class ReplicationSpec:
    #: "auto" uses enhanced fan-out when the source region offers it.
    retrieval: ReplicationRetrieval = "auto"
    #: Wrap replicated records with their origin region so a record is never
    #: copied back to where it came from (see ``shardline.replication.origin``).
    mark_origin: bool = True
    #: How often watermarks and lag are published to the control store.
    publish_interval_s: float = 0.5


@dataclass(frozen=True)
class FailoverSpec:
    """Health and failover policy. Defaults follow the reference architecture."""

    standby: StandbyMode = "cold"
    #: Failover when the error rate over the last ``window_s`` reaches ``threshold``.
    window_s: float = 300.0
    threshold: float = 0.01
    #: Fewer samples than this in the window decide nothing (one failed call of
    #: three is not an outage).
    min_samples: int = 20
    #: Health is evaluated every ``check_interval_s``; a region changes state only
    #: after ``consecutive_checks`` evaluations agree (hysteresis, as in Pulsar's
    #: client failover: Healthy → PreFail → Failed → PreRecover).
    check_interval_s: float = 1.0
    consecutive_checks: int = 3
    #: The synthetic canary: a put and a get on every region this often, so an
    #: idle pipeline still has samples.
    canary_interval_s: float = 1.0
    #: No automatic switch sooner than this after the active region last changed
    #: (flap guard; a failback's later steps switch nothing and do not count).
    min_switch_interval_s: float = 60.0
    #: Failover starts standby consumers this much earlier than strictly needed,
    #: for clock differences and reporting delays (duplicates, never gaps).
    start_buffer_s: float = 10.0
    #: Automatic failover on; False leaves only the manual ``shardline failover``.
    automatic: bool = True
    #: How often producers, consumers and replicators re-read the control state.
    poll_interval_s: float = 0.5


@dataclass(frozen=True)
class PipelineSpec:
    """What ``shardline up`` runs besides the regions, replicator and monitor.

    The reference pipeline is the stock-ticker example of the AWS blog: a producer of
    prices and a consumer per region writing the ``ticker-prices`` table of an
    idempotent SQLite sink, which records ``last_updated_region``.
    """

    #: Where ``shardline up`` keeps regions' data, spools, the sink and logs.
    data_dir: Path = Path(".shardline")
    #: Ticker prices produced per second, over this many symbols.
    rate: float = 50.0
    symbols: int = 20
    #: Consumer application name (lease tables are named after it).
    application: str = "ticker-app"
    #: Shard lease failover time of the pipeline's workers (KCL default 10 s).
    lease_failover_s: float = 10.0

    @property
    def sink_path(self) -> Path:
        """The idempotent SQLite sink (``ticker-prices`` and its ledger)."""
        return self.data_dir / "sink.db"

    @property
    def spool_path(self) -> Path:
        return self.data_dir / "producer.spool"

    @property
    def acked_path(self) -> Path:
        """The producer's ledger of acknowledged records (what drills verify)."""
        return self.data_dir / "acked.db"


@dataclass(frozen=True)
class MetricsSpec:
    """Where each long-running component serves ``GET /metrics`` (Prometheus).

    A port left out (None) serves nothing; 0 picks a free port, printed at start.
    ``consumers`` maps a region name to the port of that region's consumer
    process. ``console`` is ``shardline up``'s web console, which serves up's own
    metrics (process restarts) at ``/metrics`` too; None lets up pick a free port.
    """

    host: str = "127.0.0.1"
    monitor: int | None = None
    replicator: int | None = None
    producer: int | None = None
    consumers: dict[str, int] = field(default_factory=dict)
    console: int | None = None

    def __post_init__(self) -> None:
        ports = [self.monitor, self.replicator, self.producer, self.console]
        for port in [*ports, *self.consumers.values()]:
            if port is not None and (not isinstance(port, int) or not 0 <= port <= 65535):
                raise TopologyError(f"[metrics]: ports are integers from 0 to 65535, not {port!r}")


@dataclass(frozen=True)
class Topology:
    regions: tuple[RegionSpec, ...]
    streams: tuple[StreamSpec, ...]
    stores: StoresSpec = field(default_factory=StoresSpec)
    replication: ReplicationSpec = field(default_factory=ReplicationSpec)
    failover: FailoverSpec = field(default_factory=FailoverSpec)
    pipeline: PipelineSpec = field(default_factory=PipelineSpec)
    metrics: MetricsSpec = field(default_factory=MetricsSpec)

    def __post_init__(self) -> None:
        roles = sorted(r.role for r in self.regions)
        if roles != ["primary", "standby"]:
            raise TopologyError("a topology has exactly one primary and one standby region")
        if len({r.name for r in self.regions}) != 2:
            raise TopologyError("region names must differ")
        if not self.streams:
            raise TopologyError("a topology names at least one stream")
        policy = self.failover
        if not 0 < policy.threshold <= 1 or policy.window_s <= 0 or policy.consecutive_checks < 1:
            raise TopologyError("failover: 0 < threshold <= 1, window_s > 0, checks >= 1")
        unknown = set(self.metrics.consumers) - {r.name for r in self.regions}
        if unknown:
            raise TopologyError(f"[metrics] consumers: no region named {sorted(unknown)}")

    @property
    def primary(self) -> RegionSpec:
        return next(r for r in self.regions if r.role == "primary")

    @property
    def standby(self) -> RegionSpec:
        return next(r for r in self.regions if r.role == "standby")

    def region(self, name: str) -> RegionSpec:
        for region in self.regions:
            if region.name == name:
                return region
        raise TopologyError(f"no region named {name!r} in the topology")

    def other(self, name: str) -> RegionSpec:
        """The region that is not ``name``."""
        self.region(name)
        return next(r for r in self.regions if r.name != name)

    def stream(self, name: str | None = None) -> StreamSpec:
        """The stream called ``name``; the first stream when None."""
        if name is None:
            return self.streams[0]
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise TopologyError(f"no stream named {name!r} in the topology")


def _build(cls: type[Any], table: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise TopologyError(f"[{where}]: unknown keys {sorted(unknown)}")
    try:
        return cls(**table)
    except TypeError as exc:
        raise TopologyError(f"[{where}]: {exc}") from exc


def parse_topology(document: dict[str, Any], base: Path = Path(".")) -> Topology:
    """Build a :class:`Topology` from a parsed TOML document.

    Relative store directories are taken relative to ``base`` (the file's folder).
    """
    unknown = set(document) - {
        "regions",
        "streams",
        "stores",
        "replication",
        "failover",
        "pipeline",
        "metrics",
    }
    if unknown:
        raise TopologyError(f"unknown sections {sorted(unknown)}")
    stores = dict(document.get("stores", {}))
    stores["directory"] = base / Path(stores.get("directory", StoresSpec.directory))
    stores["control_replicas"] = tuple(
        {**r, "directory": str(base / r["directory"])} if "directory" in r else dict(r)
        for r in stores.get("control_replicas", ())
    )
    pipeline = dict(document.get("pipeline", {}))
    pipeline["data_dir"] = base / Path(pipeline.get("data_dir", PipelineSpec.data_dir))
    return Topology(
        regions=tuple(_build(RegionSpec, r, "regions") for r in document.get("regions", [])),
        streams=tuple(_build(StreamSpec, s, "streams") for s in document.get("streams", [])),
        stores=_build(StoresSpec, stores, "stores"),
        replication=_build(ReplicationSpec, document.get("replication", {}), "replication"),
        failover=_build(FailoverSpec, document.get("failover", {}), "failover"),
        pipeline=_build(PipelineSpec, pipeline, "pipeline"),
        metrics=_build(MetricsSpec, document.get("metrics", {}), "metrics"),
    )


def load_topology(path: Path | str) -> Topology:
    """Read and validate the topology file at ``path``."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TopologyError(f"no topology file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path}: {exc}") from exc
    return parse_topology(document, path.parent)
