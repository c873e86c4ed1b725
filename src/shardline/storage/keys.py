"""The KMS key ids a region's streams are encrypted under, and the cipher for them.

A chunk row names its key by a small integer reference (``chunks.key_ref``; 0 is
unencrypted) rather than by the KeyId text; ``kms_keys`` maps one to the other. A
reference is written before the first chunk sealed under it, and never changes or
goes away, so every encrypted chunk on disk names a key the region can find again.
"""

from __future__ import annotations

import sqlite3

from shardline.storage.crypto import RecordCipher, unsealer
from shardline.storage.engine import StorageEngine


class KeyRegistry:
    """KeyId ↔ reference, loaded at start-up and extended when a stream starts
    encrypting under a new KeyId; ``unseal`` opens any chunk of this database."""

    def __init__(self, engine: StorageEngine, cipher: RecordCipher) -> None:
        self._engine = engine
        self.cipher = cipher
        #: KeyId → the reference chunk rows carry.
        self.refs: dict[str, int] = {}
        #: Reference → KeyId (what ``unseal`` reads).
        self.ids: dict[int, str] = {}
        self.unseal = unsealer(cipher, self.ids)

    def load(self, conn: sqlite3.Connection) -> None:
        """Read the references already on disk (start-up, in the writer's connection)."""
        for ref, key_id in conn.execute("SELECT ref, key_id FROM kms_keys"):
            self.refs[key_id] = ref
            self.ids[ref] = key_id

    async def ref(self, key_id: str) -> int:
        """The reference of ``key_id``, persisted first if it is new.

        Error handling: if the write fails the reference is not taken, and the
        exception (``InternalFailure`` from the engine) reaches the caller, whose
        stream change then does not happen.
        """
        ref = self.refs.get(key_id)
        if ref is None:
            ref = max(self.ids, default=0) + 1

            def save(conn: sqlite3.Connection) -> None:
                conn.execute("INSERT INTO kms_keys VALUES (?, ?)", (ref, key_id))

            await self._engine.write(save)
            self.refs[key_id] = ref
            self.ids[ref] = key_id
        return ref
