"""Durable storage behind a region: shard logs, the stream catalog and retention.

Layering: ``engine`` owns the SQLite file (one writer thread with group commit,
reader threads; ``schema`` its tables and their upgrade); ``catalog`` keeps streams
and shards in memory and persists them through the engine (``Catalog``), ``keys`` the
KMS key references and the cipher; ``records`` (the data plane) and ``consumers``
(enhanced fan-out) each receive the catalog and the few other parts they use;
``region`` composes them all and implements the control-plane operations. Every
chunk a read serves passes ``stored.open_chunk`` (its CRC32C from ``checksum``, its
encryption, its keys), reached through ``scan``, which reads around damage (``damage``
turns it into the wire error). ``integrity`` reads
SQLite's files directly: the checks before a region opens its directory
(``preflight``), and ``shardline verify`` / ``shardline recover``. Nothing here knows
about HTTP or wire encodings.

The public surface: :class:`RegionConfig` (a region's settings, which
:func:`shardline.server.serve` takes), :class:`StorageError` and
:class:`StartupRefused` (a data directory the region will not open, with what to do).
"""

from shardline.storage.config import RegionConfig
from shardline.storage.exceptions import StartupRefused, StorageError

__all__ = ["RegionConfig", "StartupRefused", "StorageError"]
