"""Envelope encryption of state at rest (AES-256-GCM from ``cryptography``).

Each checkpoint gets a fresh random 256-bit *data key*. The state is sealed with
the data key; the data key is sealed ("wrapped") with a *master key* from the key
ring and stored, wrapped, in the manifest together with the master key's id.

Why envelope encryption: rotating the master key needs no re-encryption of old
state. New checkpoints use the ring's newest key; old ones still open as long as
their key id stays in the ring. Authentication covers everything that matters:
the state's associated data is the manifest's content (positions, shard, id), so
changing a position, swapping objects between checkpoints or flipping one bit
fails the GCM tag and raises :class:`StateIntegrityError`.

Key ring sources, one ``KEY_ID:BASE64_KEY`` per line or comma-separated, the
*last* entry being the current key:

- a file (``KeyRing.from_file``), e.g. mounted from a secrets manager;
- the environment variable ``SHARDLINE_STATE_KEYS`` (``KeyRing.from_env``).

``KeyRing.generate_line`` makes a new entry to append when rotating.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shardline.state.exceptions import StateIntegrityError, StateKeyError

ENV_VAR = "SHARDLINE_STATE_KEYS"
ALGORITHM = "AES-256-GCM"
PLAIN = "none"
_NONCE = 12


@dataclass(frozen=True)
class KeyRing:
    """Master keys by id; ``current`` seals new data, every id can open old data."""

    keys: dict[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"current key {self.current!r} is not in the ring")
        for key_id, key in self.keys.items():
            if len(key) != 32:
                raise ValueError(f"master key {key_id!r} must be 32 bytes (AES-256)")

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Entries ``id:base64`` separated by newlines or commas; the last is current."""
        keys: dict[str, bytes] = {}
        current = ""
        for entry in text.replace(",", "\n").splitlines():
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep or not key_id:
                raise ValueError("a key entry is KEY_ID:BASE64_KEY")
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"key {key_id!r} is not valid base64") from exc
            current = key_id
        if not keys:
            raise ValueError("the key ring is empty")
        return cls(keys, current)

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        return cls.parse(Path(path).read_text())

    @classmethod
    def from_env(cls, name: str = ENV_VAR) -> KeyRing | None:
        """The ring in ``$SHARDLINE_STATE_KEYS``, or None when it is unset."""
        text = os.environ.get(name)
        return cls.parse(text) if text else None

    @staticmethod
    def generate_line(key_id: str) -> str:
        """A new ``id:base64`` entry with 32 random bytes."""
        return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def sealed_size(size: int, ring: KeyRing | None) -> int:
    """How many bytes :func:`seal` makes of ``size`` bytes (GCM adds a 16-byte tag)."""
    return size + 16 if ring is not None else size


def _checksum(plain: bytes, aad: bytes) -> str:
    return hashlib.sha256(len(aad).to_bytes(8, "big") + aad + plain).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seal(plain: bytes, aad: bytes, ring: KeyRing | None) -> tuple[bytes, dict[str, Any]]:
    """Encrypt ``plain`` bound to ``aad``; returns the ciphertext and its envelope.

    Without a ring the data is stored as is with a SHA-256 checksum over ``aad``
    and the data: corruption is still detected, deliberate tampering is not.
    """
    if ring is None:
        return plain, {"algorithm": PLAIN, "sha256": _checksum(plain, aad)}
    data_key = AESGCM.generate_key(bit_length=256)
    nonce, key_nonce = os.urandom(_NONCE), os.urandom(_NONCE)
    sealed = AESGCM(data_key).encrypt(nonce, plain, aad)
    wrapped = AESGCM(ring.keys[ring.current]).encrypt(key_nonce, data_key, ring.current.encode())
    envelope = {
        "algorithm": ALGORITHM,
        "key_id": ring.current,
        "wrapped_key": _b64(wrapped),
        "key_nonce": _b64(key_nonce),
        "nonce": _b64(nonce),
    }
    return sealed, envelope


def open_sealed(
    data: bytes, aad: bytes, envelope: dict[str, Any], ring: KeyRing | None, what: str
) -> bytes:
    """Verify and decrypt what :func:`seal` produced; ``what`` names it in errors.

    Error handling: StateKeyError for an unknown key id or a missing ring,
    StateIntegrityError for anything that fails the tag or the checksum.
    """
    algorithm = envelope.get("algorithm")
    if algorithm == PLAIN:
        if _checksum(data, aad) != envelope.get("sha256"):
            raise StateIntegrityError(f"{what} is corrupt: its SHA-256 checksum does not match")
        return data
    if algorithm != ALGORITHM:
        raise StateIntegrityError(f"{what} uses an unknown algorithm {algorithm!r}")
    key_id = str(envelope.get("key_id"))
    if ring is None or key_id not in ring.keys:
        raise StateKeyError(
            f"{what} is encrypted with master key {key_id!r}, which is not configured: "
            f"add it to the key file or ${ENV_VAR} (keep old keys when rotating)"
        )
    try:
        data_key = AESGCM(ring.keys[key_id]).decrypt(
            base64.b64decode(envelope["key_nonce"]),
            base64.b64decode(envelope["wrapped_key"]),
            key_id.encode(),
        )
        return AESGCM(data_key).decrypt(base64.b64decode(envelope["nonce"]), data, aad)
    except (InvalidTag, KeyError, ValueError, binascii.Error) as exc:
        raise StateIntegrityError(
            f"{what} failed authentication: it was corrupted or tampered with, "
            "and none of it is used"
        ) from exc
