"""Every package's public surface is exactly its ``__all__``, and the docs keep to it.

Each package a user imports from lists its surface in a sorted ``__all__``; the
expected lists below make every addition and removal a deliberate change of this
file. Every listed name is importable (lazy exports included), documented, and
public; every public name a package defines is listed. Packages without a public
surface are named in ``INTERNAL``, so a new package has to be put in one or the other.

Type aliases (``Literal[...]`` modes) are documented where they are defined; they
cannot carry a docstring of their own the way classes and functions do, so the
docstring rule skips them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import typing
from pathlib import Path

import shardline

ROOT = Path(__file__).resolve().parents[3]

EXPECTED: dict[str, set[str]] = {
    "shardline": {
        "Checkpointer",
        "ConsumerConfig",
        "ConsumerRecord",
        "Destination",
        "FailoverProducer",
        "FunctionProcessor",
        "IdempotentSink",
        "KeyedState",
        "KinesisError",
        "ProcessRecordsInput",
        "Producer",
        "ProducerConfig",
        "PutOutcome",
        "RecordProcessor",
        "RegionConsumer",
        "SQLiteSink",
        "Scheduler",
        "ShardlineError",
        "SinkRecord",
        "Snapshots",
        "StateConfig",
        "StatefulJob",
        "StatefulProcessor",
        "SyncProducer",
        "Topology",
        "WriteOutcome",
        "load_topology",
        "__version__",
    },
    "shardline.console": {"ProcessView", "from_up_json", "serving_console", "supervised"},
    "shardline.consumer": {
        "Checkpointer",
        "ConsumerConfig",
        "ConsumerError",
        "ConsumerRecord",
        "FunctionProcessor",
        "InitializationInput",
        "InvalidCheckpointError",
        "LeaseLostError",
        "Position",
        "PreparedCheckpointer",
        "ProcessRecordsInput",
        "RecordProcessor",
        "Scheduler",
        "ShardEndNotCheckpointed",
        "run",
    },
    "shardline.failover": {
        "FailbackError",
        "FailoverProducer",
        "Monitor",
        "RegionConsumer",
        "failback",
        "manual_failover",
    },
    "shardline.producer": {
        "Attempt",
        "Destination",
        "InvalidRecordError",
        "Producer",
        "ProducerClosedError",
        "ProducerConfig",
        "ProducerError",
        "ProducerMetrics",
        "PutOutcome",
        "Record",
        "RecordExpiredError",
        "RecordFailedError",
        "SpoolBoundError",
        "SpoolError",
        "SpoolLockedError",
        "SyncProducer",
        "WindowStats",
    },
    "shardline.framing": {"aggregation", "envelope", "origin"},
    "shardline.replication": {"Replicator"},
    "shardline.server": {"GateConfig", "ServerLimits", "serve", "server_url"},
    "shardline.sinks": {
        "DynamoDBSink",
        "IdempotentSink",
        "InvalidSinkRecordError",
        "MissingRecordIdError",
        "PostgresSink",
        "SQLiteSink",
        "SinkClosedError",
        "SinkCounts",
        "SinkError",
        "SinkItem",
        "SinkRecord",
        "SinkUnavailableError",
        "WriteOutcome",
    },
    "shardline.state": {
        "CheckpointSeries",
        "KeyRing",
        "KeyedState",
        "LocalStore",
        "ObjectStore",
        "RestoreType",
        "Restored",
        "S3Store",
        "ShardState",
        "SnapshotExistsError",
        "SnapshotInfo",
        "SnapshotStatus",
        "Snapshots",
        "StandbyRestore",
        "StateConfig",
        "StateError",
        "StateIntegrityError",
        "StateKeyError",
        "StateMetrics",
        "StateNotFoundError",
        "StateRestoreError",
        "StateStoreError",
        "StatefulJob",
        "StatefulProcessor",
        "latest_checkpoints",
        "merged_keyed",
        "open_store",
        "restore_in_region",
    },
    "shardline.state.stores": {"LocalStore", "ObjectStore", "S3Store", "open_store"},
    "shardline.storage": {"RegionConfig", "StartupRefused", "StorageError"},
    "shardline.stores": {
        "ControlState",
        "ControlStore",
        "ControlStoreError",
        "DynamoDBControlStore",
        "DynamoDBLeaseStore",
        "Lease",
        "LeaseStore",
        "LeaseStoreError",
        "ReplicatedControlStore",
        "SQLiteControlStore",
        "SQLiteLeaseStore",
        "StaleEpochError",
        "control_store_for",
        "lease_store_for",
    },
}

# Packages with no Python surface of their own: commands, internals, registries.
INTERNAL = {
    "shardline.cli",
    "shardline.metrics",
    "shardline.pipeline",
    "shardline.server.auth",
    "shardline.server.handlers",
    "shardline.storage.integrity",
}


def packages() -> list[str]:
    found = pkgutil.walk_packages(shardline.__path__, "shardline.")
    return ["shardline", *sorted(info.name for info in found if info.ispkg)]


def test_every_package_is_public_or_internal() -> None:
    assert sorted(EXPECTED.keys() | INTERNAL) == packages()
    for name in INTERNAL:
        assert not hasattr(importlib.import_module(name), "__all__"), name


def test_each_all_is_the_expected_sorted_list() -> None:
    for name, expected in EXPECTED.items():
        listed = importlib.import_module(name).__all__
        assert set(listed) == expected, name
        assert listed == sorted(listed, key=lambda n: (n.startswith("_"), n)), name


def test_each_listed_name_is_importable_public_and_documented() -> None:
    for package in EXPECTED:
        module = importlib.import_module(package)
        for name in module.__all__:
            value = getattr(module, name)  # lazy exports resolve here
            if name == "__version__":
                assert isinstance(value, str)
                continue
            assert not name.startswith("_"), f"{package}.{name}"
            if typing.get_origin(value) is typing.Literal:
                continue
            assert (value.__doc__ or "").strip(), f"{package}.{name} has no docstring"


def test_every_public_name_a_package_defines_is_listed() -> None:
    for package in EXPECTED:
        module = importlib.import_module(package)
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and not inspect.ismodule(value)
            and not isinstance(value, type(annotations))
        }
        assert public - set(module.__all__) == set(), package


def doc_imports() -> list[tuple[str, str, list[str]]]:
    """``(file, module, names)`` for every ``from shardline… import …`` the README and
    docs show: in Python blocks (each parsed whole, so a block that does not compile
    fails here) and in inline code."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        snippets = re.findall(r"```python\n(.*?)```", text, re.S)
        snippets += re.findall(r"`(from shardline[\w.]* import [^`]+)`", text)
        for snippet in snippets:
            for node in ast.walk(ast.parse(snippet, path.name)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shardline"):
                    found.append((path.name, node.module or "", [a.name for a in node.names]))
    return found


def test_the_docs_import_only_from_public_surfaces() -> None:
    """A package's ``__all__`` or a top-level module (``shardline.testing``), never an
    inner module such as ``shardline.stores.sqlite_leases``."""
    shown = doc_imports()
    assert shown
    for file, module, names in shown:
        imported = importlib.import_module(module)
        if module in EXPECTED:
            assert set(names) <= set(imported.__all__), (file, module, names)
        else:
            assert module.count(".") == 1 and not hasattr(imported, "__path__"), (file, module)
            assert all(hasattr(imported, n) and not n.startswith("_") for n in names), file


def test_the_calls_the_docs_show_go_through_public_surfaces() -> None:
    """Inline calls such as ``shardline.testing.set_fault(url)``: the function belongs to
    a top-level module, to a package's ``__all__``, or to a module that ``__all__``
    lists (``shardline.framing.envelope``)."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for dotted in re.findall(r"`(shardline(?:\.\w+)+)\(", path.read_text()):
            owner, _, name = dotted.rpartition(".")
            parent, _, last = owner.rpartition(".")
            if owner in EXPECTED:
                assert name in importlib.import_module(owner).__all__, (path.name, dotted)
            elif parent == "shardline":  # a top-level module: errors, testing, …
                assert not hasattr(importlib.import_module(owner), "__path__"), dotted
            else:
                assert last in importlib.import_module(parent).__all__, (path.name, dotted)
