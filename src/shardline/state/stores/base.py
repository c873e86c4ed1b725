"""The object store interface that checkpoints and snapshots are written to.

Five operations with object-store semantics, which both a directory and S3
provide: a ``put`` is atomic (readers see the old object or the new one, never a
part), ``list`` returns keys under a prefix, ``copy`` is server-side where the
backend has it. Keys are ``/``-separated relative names.

Error handling: a missing object raises :class:`StateNotFoundError`; any other
failure raises :class:`StateStoreError` (worth retrying).
"""

from __future__ import annotations

import abc


class ObjectStore(abc.ABC):
    """Where state lives: a local directory or an S3 bucket and prefix."""

    #: How the store is named in messages and manifests (a path or ``s3://`` URL).
    url: str

    @abc.abstractmethod
    async def put(self, key: str, data: bytes) -> None:
        """Write ``data`` atomically and durably under ``key``."""

    @abc.abstractmethod
    async def get(self, key: str) -> bytes:
        """The object's bytes; StateNotFoundError if there is none."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``, sorted."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing key is not an error."""

    async def copy(self, source: str, target: str) -> None:
        """Copy an object; the default reads and writes it."""
        await self.put(target, await self.get(source))

    async def close(self) -> None:  # noqa: B027
        """Release connections; default: nothing to release."""
