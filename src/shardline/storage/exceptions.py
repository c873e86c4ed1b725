"""Errors of the storage layer, all under :class:`shardline.errors.ShardlineError`::

    ShardlineError
    └── StorageError
        ├── ChunkFault              one stored chunk cannot be served (why, in ``cause``)
        ├── ShardDamage             a shard's records from one key to another are unreadable
        │   └── IndexDamage         the chunk index of a shard is damaged; recover rebuilds it
        └── StartupRefused          the region will not open its data directory; exit_status
            ├── DataDirUnusable     not a directory, not readable or writable      (73)
            ├── DataDirLocked       another process holds the data directory         (75)
            ├── DatabaseDamaged     damaged header, truncated file, WAL lost commits (65)
            └── MasterKeyMismatch   the key is not the one the database was made with (78)

Why exit statuses: a supervisor restarting a server that refused to start would only
repeat the refusal. Each cause has its own status (from ``sysexits.h``), so a unit can
say ``RestartPreventExitStatus=65 73 78`` and still restart after 75, which clears once
the other process is gone. ``ShardDamage`` becomes the wire error
:class:`shardline.errors.DamagedRecords` in ``records``; it never leaves storage as is.
"""

from __future__ import annotations

from typing import ClassVar

from shardline.errors import ShardlineError


class StorageError(ShardlineError):
    """Root of the storage layer's errors."""


class ChunkFault(StorageError):
    """A stored chunk failed a check: its checksum, its layout, or its authentication."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class ShardDamage(StorageError):
    """Records of a shard with sequence keys ``first_key`` to ``last_key`` cannot be read.

    ``last_key`` is the key to resume after: a reader positioned after it reads on.
    """

    def __init__(self, shard_uid: int, first_key: int, last_key: int, cause: str) -> None:
        super().__init__(f"shard uid {shard_uid} keys {first_key}..{last_key}: {cause}")
        self.shard_uid = shard_uid
        self.first_key = first_key
        self.last_key = last_key
        self.cause = cause


class IndexDamage(ShardDamage):
    """The index that locates a shard's chunks is damaged from ``first_key`` on.

    No reader can skip past it (the index is how chunks are found); ``shardline
    recover`` rebuilds the index from the table rows, so nothing need be lost.
    """


class StartupRefused(StorageError):
    """The region refuses to open its data directory; the message says what to do."""

    exit_status: ClassVar[int] = 1


class DataDirUnusable(StartupRefused):
    """The data directory (or a file in it) cannot be created, read or written."""

    exit_status = 73  # EX_CANTCREAT


class DataDirLocked(StartupRefused):
    """Another process (a server, or ``shardline recover``) is using the data directory."""

    exit_status = 75  # EX_TEMPFAIL: retrying later is right


class DatabaseDamaged(StartupRefused):
    """The database or its write-ahead log is damaged; starting would lose or alter data."""

    exit_status = 65  # EX_DATAERR


class MasterKeyMismatch(StartupRefused):
    """The master key is missing or is not the key the database was created with."""

    exit_status = 78  # EX_CONFIG
