"""Server-side encryption at rest for streams with ``EncryptionType=KMS``.

Kinesis encrypts records with a KMS key named by the stream's ``KeyId``. Shardline has
no KMS, so it stands one in locally: a 256-bit master key in the data directory (or a
file the operator names) and, per ``KeyId``, a data key derived from it with HKDF. A
record is sealed with AES-256-GCM (random 96-bit nonce, stored in front of the
ciphertext). Records written while encryption was on stay readable after it is
turned off or the key changes, because each record stores a reference to its key.

Error handling: a record whose ciphertext or tag was altered on disk fails
authentication and is reported as ``InternalFailure`` naming the shard, never
returned as garbage.
"""

from __future__ import annotations

import os
from pathlib import Path

import re2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shardline.errors import InternalFailure, KMSNotFoundException
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


def load_master_key(path: Path) -> bytes:
    """Read the master key, creating it on first use; either way it is left mode 0600.

    Error handling: a key that is not 32 bytes, or whose mode cannot be made 0600
    (another user owns it), stops the region with the reason.
    """
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise InternalFailure(f"Master key {path} must hold exactly 32 bytes.")
        os.chmod(path, FILE_MODE)
        return key
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

    def open(self, key_id: str, sealed: bytes, where: str) -> bytes:
        try:
            return self._cipher(key_id).decrypt(sealed[:_NONCE], sealed[_NONCE:], None)
        except InvalidTag:
            raise InternalFailure(f"Stored record in {where} failed authentication.") from None
