"""The stores a topology asks for: SQLite files in a directory, or DynamoDB tables."""

from __future__ import annotations

from pathlib import Path

from shardline.credentials import default_client_options
from shardline.errors import ConfigError
from shardline.stores.control import ControlStore
from shardline.stores.dynamodb_control import DynamoDBControlStore
from shardline.stores.dynamodb_leases import DynamoDBLeaseStore
from shardline.stores.leases import LeaseStore
from shardline.stores.replicated_control import ReplicatedControlStore
from shardline.stores.sqlite_control import SQLiteControlStore
from shardline.stores.sqlite_leases import SQLiteLeaseStore
from shardline.topology import StoresSpec


def _unknown_backend(spec: StoresSpec) -> ConfigError:
    """A backend this factory does not know is an error, never DynamoDB by default
    (a typo must not send the control state to AWS). StoresSpec refuses it already;
    this guards specs built around its validation."""
    return ConfigError.invalid("[stores] ", "backend", spec.backend, "one of 'sqlite', 'dynamodb'")


def control_store_for(spec: StoresSpec) -> ControlStore:
    """``<directory>/control.db``, or table ``<prefix>-control``; with
    ``control_replicas``, one such store per replica behind a
    :class:`~shardline.stores.replicated_control.ReplicatedControlStore`."""
    if spec.control_replicas:
        return ReplicatedControlStore(
            [
                _control_store(
                    spec,
                    Path(replica["directory"]) if spec.backend == "sqlite" else spec.directory,
                    replica.get("endpoint_url"),
                    replica.get("region", spec.dynamodb_region),
                )
                for replica in spec.control_replicas
            ]
        )
    return _control_store(spec, spec.directory, spec.dynamodb_endpoint_url, spec.dynamodb_region)


def _control_store(
    spec: StoresSpec, directory: Path, endpoint_url: str | None, region: str
) -> ControlStore:
    if spec.backend == "sqlite":
        return SQLiteControlStore(directory / "control.db")
    if spec.backend == "dynamodb":
        return DynamoDBControlStore(
            f"{spec.table_prefix}-control",
            endpoint_url=endpoint_url,
            region_name=region,
            client_options=default_client_options(),
        )
    raise _unknown_backend(spec)


def lease_store_for(spec: StoresSpec, application: str) -> LeaseStore:
    """Application ``application``'s leases: a table in ``<directory>/leases.db``, or
    DynamoDB table ``<prefix>-<application>`` (the KCL names its table after the
    application too)."""
    if spec.backend == "sqlite":
        return SQLiteLeaseStore(spec.directory / "leases.db", application)
    if spec.backend != "dynamodb":
        raise _unknown_backend(spec)
    return DynamoDBLeaseStore(
        f"{spec.table_prefix}-{application}",
        endpoint_url=spec.dynamodb_endpoint_url,
        region_name=spec.dynamodb_region,
        client_options=default_client_options(),
    )
