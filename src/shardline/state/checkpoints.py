"""The checkpoints of one shard: write, find the latest complete one, prune.

Layout in the store (one series per shard, so a shard's state moves with its
lease from worker to worker and needs no coordination between workers)::

    <application>/checkpoints/<shard id>/000000000007.state
    <application>/checkpoints/<shard id>/000000000007.manifest

Writing a checkpoint, as numbered steps:

1. seal the serialized state with the manifest content as associated data;
2. put ``<id>.state``;
3. put ``<id>.manifest`` (the commit point: before it the checkpoint does not
   exist, after it the checkpoint is complete);
4. prune: delete every object that is neither retained nor newer than the
   newest retained checkpoint, manifests before their state objects.

A crash anywhere leaves the previous complete checkpoint untouched: ids only grow
and nothing retained is overwritten. "Latest" is the newest manifest that verifies;
a corrupt or tampered one is logged and the one before it is used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from shardline.state.crypto import KeyRing, open_sealed, seal, sealed_size
from shardline.state.exceptions import StateIntegrityError, StateNotFoundError
from shardline.state.keyed import KeyedState, deserialize
from shardline.state.manifest import MANIFEST_SUFFIX, Manifest, parse_id
from shardline.state.stores.base import ObjectStore

log = logging.getLogger(__name__)


def checkpoints_prefix(application: str) -> str:
    return f"{application}/checkpoints/"


@dataclass(frozen=True)
class Restored:
    """A verified checkpoint: its manifest and the state it holds."""

    manifest: Manifest
    keyed: KeyedState
    value: Any


class CheckpointSeries:
    """The checkpoints of one shard under one prefix of one store.

    The same class reads the copies a snapshot holds (``prefix`` points there).
    """

    def __init__(
        self,
        store: ObjectStore,
        application: str,
        shard_id: str,
        keys: KeyRing | None,
        prefix: str | None = None,
    ) -> None:
        self.store = store
        self.application = application
        self.shard_id = shard_id
        self.keys = keys
        self.prefix = prefix or f"{checkpoints_prefix(application)}{shard_id}/"

    async def listing(self) -> tuple[list[int], list[int]]:
        """Ids that have a manifest (newest first) and every id with any object."""
        manifests: list[int] = []
        every: set[int] = set()
        for key in await self.store.list(self.prefix):
            parsed = parse_id(key)
            if parsed is None:
                continue
            every.add(parsed[0])
            if parsed[1] == MANIFEST_SUFFIX:
                manifests.append(parsed[0])
        return sorted(manifests, reverse=True), sorted(every)

    async def write(self, manifest: Manifest, payload: bytes) -> tuple[Manifest, bytes]:
        """Steps 1–3 of the module docstring; returns the manifest and sealed bytes.

        The manifest's ``state_size`` is filled in here (it is authenticated too).
        """
        manifest = replace(manifest, state_size=sealed_size(len(payload), self.keys))
        sealed, envelope = await asyncio.to_thread(
            seal, payload, manifest.associated_data(), self.keys
        )
        manifest = manifest.with_encryption(envelope)
        await self.put_sealed(manifest, sealed)
        return manifest, sealed

    async def put_sealed(self, manifest: Manifest, sealed: bytes) -> None:
        """Store an already sealed checkpoint (a replica gets the same bytes)."""
        await self.store.put(self.prefix + manifest.state_name, sealed)
        await self.store.put(self.prefix + manifest.manifest_name, manifest.to_bytes())

    def _what(self, checkpoint_id: int) -> str:
        return f"checkpoint {checkpoint_id} of {self.shard_id} in {self.store.url}{self.prefix}"

    async def manifest(self, checkpoint_id: int) -> Manifest:
        """Read a manifest and check it describes the place it was found in."""
        what = self._what(checkpoint_id)
        manifest = Manifest.parse(
            await self.store.get(self.prefix + f"{checkpoint_id:012d}{MANIFEST_SUFFIX}"), what
        )
        found = (manifest.application, manifest.shard_id, manifest.checkpoint_id)
        if found != (self.application, self.shard_id, checkpoint_id):
            raise StateIntegrityError(f"{what} is a manifest of {found}: objects were moved")
        return manifest

    async def load(self, checkpoint_id: int) -> Restored:
        """One checkpoint, verified; StateIntegrityError if it does not verify."""
        what = self._what(checkpoint_id)
        manifest = await self.manifest(checkpoint_id)
        sealed = await self.store.get(self.prefix + manifest.state_name)
        if len(sealed) != manifest.state_size:
            raise StateIntegrityError(
                f"{what} is corrupt: {len(sealed)} bytes of state, the manifest says "
                f"{manifest.state_size}"
            )

        def decode() -> tuple[KeyedState, Any]:
            plain = open_sealed(
                sealed, manifest.associated_data(), manifest.encryption, self.keys, what
            )
            return deserialize(plain, what)

        keyed, value = await asyncio.to_thread(decode)
        return Restored(manifest, keyed, value)

    async def latest(self) -> Restored | None:
        """The newest checkpoint that verifies, or None when the shard has none.

        Error handling: a checkpoint that fails verification is logged and skipped;
        if every one fails, StateIntegrityError (never a silent empty state).
        """
        manifests, _ = await self.listing()
        failures: list[StateIntegrityError] = []
        for checkpoint_id in manifests:
            try:
                return await self.load(checkpoint_id)
            except StateNotFoundError:
                continue  # pruned while we listed
            except StateIntegrityError as exc:
                log.error("%s; falling back to the checkpoint before it", exc)
                failures.append(exc)
        if failures:
            raise StateIntegrityError(
                f"every checkpoint of {self.shard_id} in {self.store.url} failed verification "
                f"(newest: {failures[0]}). Restore a snapshot, or discard the state "
                "(`shardline snapshot restore --skip`) to start this shard empty"
            )
        return None

    async def prune(self, keep: Collection[int]) -> None:
        """Delete what is older than the newest kept checkpoint and not kept."""
        if not keep:
            return
        newest = max(keep)
        manifests, every = await self.listing()
        doomed = [i for i in every if i < newest and i not in keep]
        for checkpoint_id in doomed:
            await self.store.delete(self.prefix + f"{checkpoint_id:012d}{MANIFEST_SUFFIX}")
        for key in await self.store.list(self.prefix):
            parsed = parse_id(key)
            if parsed is not None and parsed[0] in doomed:
                await self.store.delete(key)


async def shards_with_checkpoints(store: ObjectStore, application: str) -> list[str]:
    """Every shard id that has at least one object in the checkpoint area."""
    prefix = checkpoints_prefix(application)
    shards = {key[len(prefix) :].split("/", 1)[0] for key in await store.list(prefix)}
    return sorted(shard for shard in shards if shard)


async def latest_checkpoints(
    store: ObjectStore, application: str, keys: KeyRing | None
) -> dict[str, Restored]:
    """The latest verified checkpoint of every shard (shards without one are left out)."""
    found: dict[str, Restored] = {}
    for shard_id in await shards_with_checkpoints(store, application):
        restored = await CheckpointSeries(store, application, shard_id, keys).latest()
        if restored is not None:
            found[shard_id] = restored
    return found
