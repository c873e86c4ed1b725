"""The default store: a local directory.

Atomicity and durability the POSIX way: write a temporary file in the target
directory, fsync it, rename it over the target, then fsync the directory so the
rename itself survives a power cut. A crash at any step leaves either the old
object or the new one, plus at worst a ``.tmp-*`` file that is never read.

Disk work runs in a thread so the event loop (and the lease renewals on it) never
waits for it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from shardline.state.exceptions import StateNotFoundError, StateStoreError
from shardline.state.stores.base import ObjectStore

_TMP = ".tmp-"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore(ObjectStore):
    """Objects as files under ``root`` (created on first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.url = f"{self.root}/"

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StateStoreError(f"invalid object key {key!r}")
        return self.root / key

    def _write_whole(self, key: str, fill: Callable[[Path], object]) -> None:
        """Write object ``key`` whole or not at all (module docstring): ``fill``
        writes the staged file, this syncs it and renames it over ``key``."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f"{_TMP}{path.name}.{uuid.uuid4().hex[:8]}")
        fill(staged)
        with open(staged, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staged, path)
        _fsync_dir(path.parent)

    async def put(self, key: str, data: bytes) -> None:
        try:
            await asyncio.to_thread(self._write_whole, key, lambda staged: staged.write_bytes(data))
        except OSError as exc:
            raise StateStoreError(f"writing {key} under {self.root} failed: {exc}") from exc

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise StateNotFoundError(f"{key} does not exist under {self.root}") from None
        except OSError as exc:
            raise StateStoreError(f"reading {key} under {self.root} failed: {exc}") from exc

    def _list(self, prefix: str) -> list[str]:
        directory = prefix.rpartition("/")[0]
        base = self._path(directory) if directory else self.root
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(_TMP):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    async def list(self, prefix: str) -> list[str]:
        try:
            return await asyncio.to_thread(self._list, prefix)
        except OSError as exc:
            raise StateStoreError(f"listing {prefix} under {self.root} failed: {exc}") from exc

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(self._path(key).unlink, True)
        except OSError as exc:
            raise StateStoreError(f"deleting {key} under {self.root} failed: {exc}") from exc

    async def copy(self, source: str, target: str) -> None:
        try:
            await asyncio.to_thread(
                self._write_whole,
                target,
                lambda staged: shutil.copyfile(self._path(source), staged),
            )
        except FileNotFoundError:
            raise StateNotFoundError(f"{source} does not exist under {self.root}") from None
        except OSError as exc:
            raise StateStoreError(f"copying {source} under {self.root} failed: {exc}") from exc
