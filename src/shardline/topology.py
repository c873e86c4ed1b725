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
    endpoint_url = "https://127.0.0.1:4568"
    ca_bundle = "certs/ca.pem"    # trust a region served with --tls-cert
    role = "standby"
    profile = "standby-admin"                # credentials: a profile, or
    # access_key_id = "AKSL…"                # a key pair (the server's --credentials)
    # secret_access_key = "…"
    signing_region = "us-west-2"             # the server's --region, when it verifies

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

Every table is validated when the file is read (:mod:`shardline.settings`): a
misspelt mode, a negative interval, ``shards = "two"``, two regions on one
endpoint or a stream named twice end in one :class:`TopologyError` naming the
table, the key, the value and what is allowed, before any process starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from shardline.credentials import StaticCredentials, default_client_options
from shardline.errors import ConfigError
from shardline.kinesis import Endpoint
from shardline.settings import check_endpoint_url, setting, validate

StandbyMode = Literal["cold", "warm"]
StoreBackend = Literal["sqlite", "dynamodb"]
ReplicationRetrieval = Literal["auto", "polling", "fanout"]


class TopologyError(ConfigError):
    """The topology file is missing, malformed or inconsistent (fix the file)."""


@dataclass(frozen=True)
class RegionSpec:
    """One region: a name, where its Kinesis API answers (None: AWS), and how to sign.

    Credentials: an access key pair, or a named AWS profile, or neither (the AWS
    credential chain, or placeholder keys that a local region without
    ``--credentials`` accepts). A region that verifies signatures also checks their
    region: set ``signing_region`` to its ``--region``.

    ``ca_bundle`` is a PEM file of the certificate authorities that an
    ``https://`` endpoint's certificate is checked against (a region served with
    ``--tls-cert``, whose CA is not in the system's store); relative to the
    topology file. None: the system's store (or ``$AWS_CA_BUNDLE``).
    """

    #: The region's name: AWS's region name when ``endpoint_url`` is left out.
    name: str
    #: One region of the two is the primary (replicated from), the other the standby.
    role: Literal["primary", "standby"]
    #: Where its Kinesis API answers (``shardline serve``); None: AWS's own endpoint.
    endpoint_url: str | None = None
    #: An access key pair to sign with (a region that runs ``--credentials``).
    access_key_id: str | None = None
    #: The secret of ``access_key_id`` (never shown in a ``repr``).
    secret_access_key: str | None = field(default=None, repr=False)
    #: Or a named AWS profile to sign with.
    profile: str | None = None
    #: The region in signatures (default: the name for AWS, us-east-1 for local endpoints).
    signing_region: str | None = None
    #: PEM file of the CAs an ``https://`` endpoint's certificate is checked against.
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        validate(self, "[regions] ")
        if self.endpoint_url is not None:
            check_endpoint_url(self.endpoint_url, "[regions] endpoint_url")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise TopologyError(
                f"[regions] region {self.name}: give both access_key_id and secret_access_key, "
                "or neither"
            )
        if self.access_key_id is not None and self.profile is not None:
            raise TopologyError(
                f"[regions] region {self.name}: give a key pair or a profile, not both"
            )

    @property
    def region_name(self) -> str:
        """The signing region: the name itself for AWS, a fixed one for local regions."""
        if self.signing_region is not None:
            return self.signing_region
        return self.name if self.endpoint_url is None else "us-east-1"

    def credentials(self) -> StaticCredentials | None:
        """This region's own credentials (None: the chain or placeholders apply)."""
        if self.access_key_id is not None and self.secret_access_key is not None:
            return StaticCredentials(self.access_key_id, self.secret_access_key)
        if self.profile is not None:
            return StaticCredentials.from_profile(self.profile)
        return None

    def client_options(self) -> dict[str, Any]:
        """Credentials and TLS trust for a client of this region."""
        credentials = self.credentials()
        options = credentials.client_options() if credentials else default_client_options()
        if self.ca_bundle is not None:
            options["verify"] = self.ca_bundle
        return options

    def endpoint(self) -> Endpoint:
        """Where and how a Kinesis client reaches this region (see :mod:`shardline.kinesis`)."""
        return Endpoint(self.region_name, self.endpoint_url, self.client_options())


@dataclass(frozen=True)
class StreamSpec:
    #: The stream's name, the same in both regions.
    name: str
    #: Shards it is created with where it is missing (``shardline up``).
    shards: int = setting(1, ge=1)

    def __post_init__(self) -> None:
        validate(self, "[streams] ")


@dataclass(frozen=True)
class StoresSpec:
    """Where the control store and lease tables live."""

    #: "sqlite" (one machine) or "dynamodb" (regions on many hosts, AWS).
    backend: StoreBackend = "sqlite"
    #: SQLite: where ``control.db`` and ``leases.db`` live (relative to the file).
    directory: Path = Path(".shardline")
    #: DynamoDB: endpoint (None: AWS), region and the prefix of every table name.
    dynamodb_endpoint_url: str | None = None
    #: DynamoDB: the region of the tables (without ``control_replicas``).
    dynamodb_region: str = "us-east-1"
    #: DynamoDB: tables are ``<prefix>-control`` and ``<prefix>-<application>``.
    table_prefix: str = "shardline"
    #: Keep the control store in several places (one table per region), so losing a
    #: region loses no decision: each entry is ``{region, endpoint_url}`` (DynamoDB)
    #: or ``{directory}`` (SQLite). Empty: the one store above.
    control_replicas: tuple[dict[str, str], ...] = ()

    def __post_init__(self) -> None:
        validate(self, "[stores] ")
        allowed = {"sqlite": {"directory"}, "dynamodb": {"region", "endpoint_url"}}[self.backend]
        required = "directory" if self.backend == "sqlite" else "region"
        seen = set()
        for replica in self.control_replicas:
            if not isinstance(replica, dict) or required not in replica or set(replica) - allowed:
                raise ConfigError.invalid(
                    "[stores] ",
                    "control_replicas",
                    replica,
                    f"a list of tables with {required!r}"
                    + (" (and optionally 'endpoint_url')" if self.backend == "dynamodb" else ""),
                )
            key = tuple(sorted(replica.items()))
            if key in seen:
                raise ConfigError(f"[stores] control_replicas names {replica!r} twice")
            seen.add(key)


@dataclass(frozen=True)
class ReplicationSpec:
    #: "auto" uses enhanced fan-out when the source region offers it.
    retrieval: ReplicationRetrieval = "auto"
    #: Wrap replicated records with their origin region so a record is never
    #: copied back to where it came from (see ``shardline.framing.origin``).
    mark_origin: bool = True
    #: How often watermarks and lag are published to the control store.
    publish_interval_s: float = setting(0.5, gt=0)

    def __post_init__(self) -> None:
        validate(self, "[replication] ")


@dataclass(frozen=True)
class FailoverSpec:
    """Health and failover policy. Defaults follow the reference architecture."""

    #: "cold": the standby's consumers start on failover; "warm": they process the
    #: replicated stream all the time.
    standby: StandbyMode = "cold"
    #: Failover when the error rate over the last ``window_s`` reaches ``threshold``.
    window_s: float = setting(300.0, gt=0)
    #: The error rate (share of failed calls in the window) that makes a region unhealthy.
    threshold: float = setting(0.01, gt=0, le=1)
    #: Fewer samples than this in the window decide nothing (one failed call of
    #: three is not an outage).
    min_samples: int = setting(20, ge=1)
    #: Health is evaluated every ``check_interval_s``; a region changes state only
    #: after ``consecutive_checks`` evaluations agree (hysteresis, as in Pulsar's
    #: client failover: Healthy → PreFail → Failed → PreRecover).
    check_interval_s: float = setting(1.0, gt=0)
    #: Evaluations in a row that must agree before a region changes state.
    consecutive_checks: int = setting(3, ge=1)
    #: The synthetic canary: a put and a get on every region this often, so an
    #: idle pipeline still has samples.
    canary_interval_s: float = setting(1.0, gt=0)
    #: No automatic switch sooner than this after the active region last changed
    #: (flap guard; a failback's later steps switch nothing and do not count).
    min_switch_interval_s: float = setting(60.0, ge=0)
    #: Failover starts standby consumers this much earlier than strictly needed,
    #: for clock differences and reporting delays (duplicates, never gaps).
    start_buffer_s: float = setting(10.0, ge=0)
    #: Automatic failover on; False leaves only the manual ``shardline failover``.
    automatic: bool = True
    #: How often producers, consumers and replicators re-read the control state.
    poll_interval_s: float = setting(0.5, gt=0)

    def __post_init__(self) -> None:
        validate(self, "[failover] ")


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
    rate: float = setting(50.0, gt=0)
    #: Symbols (partition keys) the ticker prices are spread over.
    symbols: int = setting(20, ge=1)
    #: Consumer application name (lease tables are named after it).
    application: str = "ticker-app"
    #: Shard lease failover time of the pipeline's workers (KCL default 10 s).
    lease_failover_s: float = setting(10.0, gt=0)

    def __post_init__(self) -> None:
        validate(self, "[pipeline] ")

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

    #: The address every component's metrics listen on.
    host: str = "127.0.0.1"
    #: ``shardline monitor``'s metrics port.
    monitor: int | None = setting(None, ge=0, le=65535)
    #: ``shardline replicate``'s metrics port.
    replicator: int | None = setting(None, ge=0, le=65535)
    #: The ticker producer's metrics port.
    producer: int | None = setting(None, ge=0, le=65535)
    #: Region name → that region's consumer process's metrics port.
    consumers: dict[str, int] = field(default_factory=dict)
    #: ``shardline up``'s web console (and its own metrics); None: a free port.
    console: int | None = setting(None, ge=0, le=65535)

    def __post_init__(self) -> None:
        validate(self, "[metrics] ")
        for region, port in self.consumers.items():
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
                raise ConfigError.invalid(
                    "[metrics] ", f"consumers.{region}", port, "an integer >= 0 and <= 65535"
                )
        ports = [self.monitor, self.replicator, self.producer, self.console]
        _unique(
            "[metrics] port",
            [str(p) for p in [*ports, *self.consumers.values()] if p],  # 0: each a free one
        )


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
            raise TopologyError(
                '[[regions]] a topology has exactly two regions, one with role = "primary" '
                f'and one with role = "standby" (found roles {roles})'
            )
        _unique("[[regions]] name", [r.name for r in self.regions])
        _unique(
            "[[regions]] endpoint_url",
            [_endpoint_key(r.endpoint_url) for r in self.regions if r.endpoint_url is not None],
        )
        if not self.streams:
            raise TopologyError("[[streams]] a topology names at least one stream")
        _unique("[[streams]] name", [s.name for s in self.streams])
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


def _unique(what: str, values: list[str]) -> None:
    """Raise TopologyError when a value appears twice (two regions on one port, …)."""
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise TopologyError(f"{what} {twice[0]!r} is given twice: each must be different")


def _endpoint_key(url: str) -> str:
    """The same listening socket for every spelling of this machine's address."""
    parts = urlsplit(url)
    host = "127.0.0.1" if parts.hostname in ("localhost", "127.0.0.1") else parts.hostname
    return f"{parts.scheme}://{host}:{parts.port}"


def _build(cls: type[Any], table: object, where: str) -> Any:
    if not isinstance(table, dict):
        raise TopologyError(f"[{where}] must be a table of keys, not {table!r}")
    known = {f.name for f in fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise TopologyError(
            f"[{where}] unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(known))}"
        )
    for item in fields(cls):
        if item.name not in table and item.default is MISSING and item.default_factory is MISSING:
            raise TopologyError(f"[{where}] {item.name} is missing")
    try:
        return cls(**table)
    except ConfigError as exc:
        raise TopologyError(str(exc)) from None


def _tables(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise TopologyError(f"[[{key}]] must be an array of tables: write [[{key}]] once per entry")
    return value


def parse_topology(document: dict[str, Any], base: Path = Path(".")) -> Topology:
    """Build a :class:`Topology` from a parsed TOML document.

    Relative store directories and CA bundles are taken relative to ``base`` (the
    file's folder).
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
    stores = dict(_table(document, "stores"))
    stores["directory"] = _under(base, stores.get("directory", StoresSpec.directory))
    replicas = stores.get("control_replicas", ())
    if isinstance(replicas, list | tuple):
        stores["control_replicas"] = tuple(
            {**r, "directory": str(_under(base, r["directory"]))}
            if isinstance(r, dict) and "directory" in r
            else r
            for r in replicas
        )
    pipeline = dict(_table(document, "pipeline"))
    pipeline["data_dir"] = _under(base, pipeline.get("data_dir", PipelineSpec.data_dir))
    regions = [
        {**r, "ca_bundle": str(_under(base, r["ca_bundle"]))}
        if isinstance(r, dict) and isinstance(r.get("ca_bundle"), str)
        else r
        for r in _tables(document, "regions")
    ]
    return Topology(
        regions=tuple(_build(RegionSpec, r, "regions") for r in regions),
        streams=tuple(_build(StreamSpec, s, "streams") for s in _tables(document, "streams")),
        stores=_build(StoresSpec, stores, "stores"),
        replication=_build(ReplicationSpec, _table(document, "replication"), "replication"),
        failover=_build(FailoverSpec, _table(document, "failover"), "failover"),
        pipeline=_build(PipelineSpec, pipeline, "pipeline"),
        metrics=_build(MetricsSpec, _table(document, "metrics"), "metrics"),
    )


def _under(base: Path, value: object) -> object:
    """A relative path taken from ``base``; anything but a path is left for validation."""
    return base / value if isinstance(value, str | Path) else value


def _table(document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise TopologyError(f"[{key}] must be a table: write [{key}] and its keys below it")
    return value


def load_topology(path: Path | str) -> Topology:
    """Read and validate the topology file at ``path``."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TopologyError(f"no topology file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path}: {exc}") from exc
    try:
        return parse_topology(document, path.parent)
    except TopologyError as exc:
        raise TopologyError(f"{path}: {exc}") from None
