"""Server-side encryption at rest for streams with ``EncryptionType=KMS``.

Kinesis encrypts records with a KMS key named by the stream's ``KeyId``. Shardline has
no KMS, so it stands one in locally: a 256-bit master key in the data directory (or a
file the operator names) and, per ``KeyId``, a data key derived from it with HKDF. A
record is sealed with AES-256-GCM (random 96-bit nonce, stored in front of the
ciphertext). Records written while encryption was on stay readable after it is
turned off or the key changes, because each record stores a reference to its key.

Error handling: a record whose ciphertext or tag was altered on disk fails
authentication (``ChunkFault``), and is reported as damaged, never returned as
garbage. A database remembers a check value of the key it was created with
(``key_check``), so a server given another key refuses to start instead of answering
every read of an encrypted stream with a failure.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import re2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shardline.errors import KMSNotFoundException
from shardline.storage.exceptions import ChunkFault, MasterKeyMismatch
from shardline.storage.files import FILE_MODE

AWS_MANAGED_KEY = "alias/aws/kinesis"
_NONCE = 12
#: Matched with RE2 (linear time), like every pattern applied to request input.
_KEY_ID = re2.compile(
    r"alias/[a-zA-Z0-9/_-]{1,250}"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|mrk-[0-9a-fA-F]{32}"
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[0-9a-zA-Z-]+|alias/[a-zA-Z0-9/_-]+)"
)


_CHECK_LABEL = b"shardline master key check v1"


def key_check_value(key: bytes) -> bytes:
    """A value that identifies ``key`` without revealing it (HMAC of a fixed label)."""
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).digest()[:16]


def load_master_key(path: Path, expected_check: bytes | None) -> bytes:
    """Read the master key (leaving it mode 0600); create it only for a database that
    has none.

    Error handling: ``MasterKeyMismatch`` when the file is missing, not 32 bytes, or
    not the key whose check value (``expected_check``) the database stored.
    """
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise MasterKeyMismatch(
                f"{path}: a master key must hold exactly 32 bytes, this file holds {len(key)}. "
                "Restore the key file the data directory was created with."
            )
        if expected_check is not None and not hmac.compare_digest(
            key_check_value(key), expected_check
        ):
            raise MasterKeyMismatch(
                f"{path}: this is not the master key the database was created with (its key "
                "check value differs), so encrypted records could not be read. Restore the "
                "original key file, or pass it with --master-key-file."
            )
        os.chmod(path, FILE_MODE)
        return key
    if expected_check is not None:
        raise MasterKeyMismatch(
            f"{path}: the master key file is missing, and the database was created with one. "
            "Restore the original key file, or pass it with --master-key-file."
        )
    return create_master_key(path)


def create_master_key(path: Path) -> bytes:
    """Write a new random master key to ``path`` (mode 0600, fsynced) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def check_key_id(key_id: str) -> None:
    """Refuse a ``KeyId`` that no KMS would accept, as AWS does (KMSNotFoundException)."""
    if _KEY_ID.fullmatch(key_id) is None:
        raise KMSNotFoundException(f"Invalid keyId {key_id}")


class RecordCipher:
    """Seals and opens record payloads with per-``KeyId`` data keys."""

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key
        self._ciphers: dict[str, AESGCM] = {}

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            derived = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=key_id.encode()
            ).derive(self._master)
            cipher = self._ciphers[key_id] = AESGCM(derived)
        return cipher

    def seal(self, key_id: str, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._cipher(key_id).encrypt(nonce, data, None)

    def open(self, key_id: str, sealed: bytes) -> bytes:
        """The plaintext of ``sealed``; ``ChunkFault`` if it fails authentication."""
        try:
            return self._cipher(key_id).decrypt(sealed[:_NONCE], sealed[_NONCE:], None)
        except InvalidTag:
            raise ChunkFault("failed authentication") from None


#: Opens a stored chunk's bytes given its key reference: ``unseal(key_ref, sealed)``.
Unsealer = Callable[[int, bytes], bytes]


def unsealer(cipher: RecordCipher | None, key_ids: Mapping[int, str]) -> Unsealer:
    """An ``Unsealer`` over the key references of one database.

    With no cipher (the master key is unavailable) every encrypted chunk is a
    ``ChunkFault``: it cannot be proved intact beyond its checksum.
    """

    def unseal(key_ref: int, sealed: bytes) -> bytes:
        key_id = key_ids.get(key_ref)
        if key_id is None:
            raise ChunkFault(f"unknown key reference {key_ref}")
        if cipher is None:
            raise ChunkFault("the master key is not available to open it")
        return cipher.open(key_id, sealed)

    return unseal
