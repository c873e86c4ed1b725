"""The topology file: defaults, what it refuses, and where relative paths point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shardline.topology import (
    FailoverSpec,
    MetricsSpec,
    ReplicationSpec,
    StoresSpec,
    TopologyError,
    load_topology,
    parse_topology,
)

TWO_REGIONS = [
    {"name": "east", "role": "primary", "endpoint_url": "http://127.0.0.1:4567"},
    {"name": "west", "role": "standby"},
]


def document(**sections: Any) -> dict[str, Any]:
    return {"regions": TWO_REGIONS, "streams": [{"name": "ticker"}], **sections}


def test_a_minimal_file_takes_every_default() -> None:
    topology = parse_topology(document(), Path("/etc/shardline"))
    assert (topology.primary.name, topology.standby.name) == ("east", "west")
    assert topology.primary.endpoint_url == "http://127.0.0.1:4567"
    assert topology.standby.endpoint_url is None  # AWS itself
    assert topology.streams[0].shards == 1
    assert topology.failover == FailoverSpec()
    assert topology.replication == ReplicationSpec()
    assert topology.stores.backend == StoresSpec.backend == "sqlite"
    assert topology.stores.directory == Path("/etc/shardline/.shardline")


def test_failover_defaults_follow_the_reference_architecture() -> None:
    policy = parse_topology(document()).failover
    assert (policy.standby, policy.window_s, policy.threshold) == ("cold", 300.0, 0.01)
    assert policy.consecutive_checks == 3


def test_given_values_replace_the_defaults() -> None:
    topology = parse_topology(
        document(failover={"standby": "warm", "threshold": 0.05}, stores={"backend": "dynamodb"})
    )
    assert topology.failover.standby == "warm" and topology.failover.threshold == 0.05
    assert topology.failover.window_s == 300.0
    assert topology.stores.backend == "dynamodb"


def test_an_unknown_section_is_refused() -> None:
    with pytest.raises(TopologyError, match=r"unknown sections \['failovr'\]"):
        parse_topology(document(failovr={}))


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ("failover", {"treshold": 0.5}),
        ("stores", {"dir": "x"}),
        ("replication", {"mark": False}),
        ("streams", [{"name": "ticker", "partitions": 2}]),
        ("regions", [*TWO_REGIONS[:1], {**TWO_REGIONS[1], "url": "http://x"}]),
    ],
)
def test_an_unknown_key_is_refused_naming_its_section(section: str, value: Any) -> None:
    with pytest.raises(TopologyError, match=rf"\[{section}\] unknown keys"):
        parse_topology(document(**{section: value}))


def test_a_missing_required_key_is_a_topology_error() -> None:
    with pytest.raises(TopologyError, match=r"\[streams\] name is missing"):
        parse_topology(document(streams=[{"shards": 2}]))


@pytest.mark.parametrize(
    "roles",
    [
        ("primary", "primary"),
        ("standby", "standby"),
        ("primary",),
        ("primary", "standby", "standby"),
    ],
)
def test_exactly_one_primary_and_one_standby_are_required(roles: tuple[str, ...]) -> None:
    regions = [{"name": f"r{i}", "role": role} for i, role in enumerate(roles)]
    with pytest.raises(TopologyError, match='one with role = "primary" and one with role'):
        parse_topology(document(regions=regions))


def test_the_two_regions_need_different_names() -> None:
    regions = [{"name": "east", "role": "primary"}, {"name": "east", "role": "standby"}]
    with pytest.raises(TopologyError, match="name 'east' is given twice"):
        parse_topology(document(regions=regions))


def test_a_relative_store_directory_is_taken_from_the_files_folder(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "topology.toml"
    path.parent.mkdir()
    path.write_text(
        '[[regions]]\nname = "east"\nrole = "primary"\n\n'
        '[[regions]]\nname = "west"\nrole = "standby"\n\n'
        '[[streams]]\nname = "ticker"\n\n'
        '[stores]\ndirectory = "state/stores"\n'
    )
    assert load_topology(path).stores.directory == tmp_path / "conf" / "state" / "stores"


def test_an_absolute_store_directory_is_kept(tmp_path: Path) -> None:
    topology = parse_topology(document(stores={"directory": str(tmp_path)}), Path("/elsewhere"))
    assert topology.stores.directory == tmp_path


def test_a_missing_file_is_a_topology_error(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="no topology file at"):
        load_topology(tmp_path / "absent.toml")


def test_a_malformed_file_is_a_topology_error(tmp_path: Path) -> None:
    path = tmp_path / "topology.toml"
    path.write_text("[[regions]\n")
    with pytest.raises(TopologyError, match=str(path)):
        load_topology(path)


def test_control_replicas_make_a_replicated_control_store(tmp_path: Path) -> None:
    from shardline.stores.factory import control_store_for
    from shardline.stores.replicated_control import ReplicatedControlStore

    topology = parse_topology(
        document(stores={"control_replicas": [{"directory": "a"}, {"directory": "b"}]}),
        tmp_path,
    )
    assert [r["directory"] for r in topology.stores.control_replicas] == [
        str(tmp_path / "a"),
        str(tmp_path / "b"),
    ]
    store = control_store_for(topology.stores)
    assert isinstance(store, ReplicatedControlStore) and len(store.replicas) == 2


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"failover": {"standby": "hot"}},
            "[failover] standby = 'hot' is not allowed: it must be one of 'cold', 'warm'",
        ),
        (
            {"stores": {"backend": "postgres"}},
            "[stores] backend = 'postgres' is not allowed: it must be one of 'sqlite', 'dynamodb'",
        ),
        (
            {"replication": {"retrieval": "magic"}},
            "[replication] retrieval = 'magic' is not allowed: "
            "it must be one of 'auto', 'polling', 'fanout'",
        ),
        (
            {"streams": [{"name": "ticker", "shards": -3}]},
            "[streams] shards = -3 is not allowed: it must be an integer >= 1",
        ),
        (
            {"streams": [{"name": "ticker", "shards": "two"}]},
            "[streams] shards = 'two' is not allowed: it must be an integer >= 1",
        ),
        (
            {"failover": {"check_interval_s": -1}},
            "[failover] check_interval_s = -1 is not allowed: it must be a number > 0",
        ),
        (
            {"failover": {"threshold": 5}},
            "[failover] threshold = 5 is not allowed: it must be a number > 0 and <= 1",
        ),
        (
            {"failover": {"automatic": "yes"}},
            "[failover] automatic = 'yes' is not allowed: it must be true or false",
        ),
        (
            {"streams": [{"name": "ticker"}, {"name": "ticker", "shards": 2}]},
            "[[streams]] name 'ticker' is given twice",
        ),
        (
            {
                "regions": [
                    {"name": "east", "role": "primary", "endpoint_url": "http://127.0.0.1:4567"},
                    {"name": "west", "role": "standby", "endpoint_url": "http://localhost:4567"},
                ]
            },
            "[[regions]] endpoint_url 'http://127.0.0.1:4567' is given twice",
        ),
        (
            {
                "regions": [
                    {"name": "east", "role": "primary", "endpoint_url": "http://127.0.0.1:99999"},
                    TWO_REGIONS[1],
                ]
            },
            "[regions] endpoint_url = 'http://127.0.0.1:99999' is not allowed",
        ),
        (
            {"stores": {"control_replicas": [{"directory": "a"}, {"directory": "a"}]}},
            "control_replicas names",
        ),
        ({"failover": ["standby"]}, "[failover] must be a table"),
    ],
)
def test_invalid_values_are_refused_naming_the_key_the_value_and_what_is_allowed(
    sections: dict[str, Any], message: str
) -> None:
    with pytest.raises(TopologyError) as refused:
        parse_topology(document(**sections))
    assert message in str(refused.value)


def test_the_file_named_in_an_error_is_the_one_read(tmp_path: Path) -> None:
    path = tmp_path / "shardline.toml"
    path.write_text(
        '[[regions]]\nname = "east"\nrole = "primary"\n\n'
        '[[regions]]\nname = "west"\nrole = "standby"\n\n'
        '[[streams]]\nname = "ticker"\nshards = "two"\n'
    )
    with pytest.raises(TopologyError, match=rf"^{path}: \[streams\] shards = 'two'"):
        load_topology(path)


def test_a_region_ca_bundle_is_relative_to_the_file_and_verifies_its_clients() -> None:
    regions = [
        {**TWO_REGIONS[0], "endpoint_url": "https://127.0.0.1:4567", "ca_bundle": "certs/ca.pem"},
        TWO_REGIONS[1],
    ]
    topology = parse_topology(document(regions=regions), Path("/etc/shardline"))
    assert topology.primary.ca_bundle == "/etc/shardline/certs/ca.pem"
    assert topology.primary.endpoint().client_kwargs()["verify"] == "/etc/shardline/certs/ca.pem"
    assert "verify" not in topology.standby.endpoint().client_kwargs()  # the system's trust store


def test_metrics_ports_are_off_unless_the_file_names_them() -> None:
    assert parse_topology(document()).metrics == MetricsSpec()
    metrics = {"monitor": 9464, "consumers": {"west": 0}, "console": 8080}
    spec = parse_topology(document(metrics=metrics)).metrics
    assert (spec.host, spec.monitor, spec.replicator, spec.console) == (
        "127.0.0.1",
        9464,
        None,
        8080,
    )
    assert spec.consumers == {"west": 0}  # 0: a free port


@pytest.mark.parametrize(
    "metrics",
    [
        {"monitor": 70000},
        {"replicator": "9464"},
        {"consumers": {"north": 9464}},
        {"monitor": 9464, "producer": 9464},
    ],
)
def test_bad_metrics_ports_are_refused(metrics: dict[str, Any]) -> None:
    with pytest.raises(TopologyError):
        parse_topology(document(metrics=metrics))
