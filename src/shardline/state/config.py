"""Settings of stateful processing. Defaults are Managed Flink's unless a comment says why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shardline.settings import setting, validate
from shardline.state.crypto import KeyRing
from shardline.state.stores import ObjectStore, open_store


@dataclass(frozen=True)
class StateConfig:
    """Where state is kept, how often it is checkpointed and how it is sealed.

    Example::

        StateConfig("orders-app", store_url="s3://state-bucket/prod",
                    checkpoint_interval_s=10, keys=KeyRing.from_env())
    """

    #: Names the state (usually the consumer's application name).
    application_name: str
    #: A directory, or ``s3://bucket/prefix``.
    store_url: str = "shardline-state"
    #: S3 only: the store's endpoint (a local S3 API, another region).
    store_endpoint_url: str | None = None
    #: S3 only: ``region_name`` and ``client_options`` for the store's client.
    store_options: dict[str, Any] = field(default_factory=dict)
    #: A second store every checkpoint is also written to (e.g. the standby region's
    #: bucket), so state survives the loss of the first store's region. A failed
    #: replica write is logged and counted, never fatal.
    replica_store_url: str | None = None
    #: S3 only: the replica store's endpoint.
    replica_endpoint_url: str | None = None
    #: S3 only: ``region_name`` and ``client_options`` for the replica's client.
    replica_options: dict[str, Any] = field(default_factory=dict)
    #: Managed Flink's default interval is 60 s.
    checkpoint_interval_s: float = setting(60.0, gt=0)
    #: Flink retains 1; 2 keeps a fallback when the newest fails verification.
    retained_checkpoints: int = setting(2, ge=1)
    #: Master keys; None stores state unencrypted (SHA-256 checked only).
    keys: KeyRing | None = None

    def __post_init__(self) -> None:
        validate(self)

    def open_store(self) -> ObjectStore:
        return open_store(self.store_url, self.store_endpoint_url, **self.store_options)

    def open_replica(self) -> ObjectStore | None:
        if self.replica_store_url is None:
            return None
        return open_store(self.replica_store_url, self.replica_endpoint_url, **self.replica_options)
