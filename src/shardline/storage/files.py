"""Owner-only permissions for a region's data directory and every file in it.

Why: the database holds every record of every unencrypted stream and the secret
that signs shard iterators, and ``master.key`` unlocks the encrypted ones. Created
under the usual umask (022) they were 0644 in a 0755 directory, readable by every
user of the machine. Now the directory is 0700 and each file 0600 *whatever the
umask*, and a directory made by an older version is fixed when the region opens it.

How, as numbered steps (``secure_data_dir``):

1. Create the directory if missing, then ``chmod 0700`` (``mkdir``'s mode is masked
   by the umask, ``chmod`` is not).
2. Create the database file empty with mode 0600 before SQLite opens it, or
   ``chmod 0600`` an existing one. SQLite gives the ``-wal`` and ``-shm`` files it
   creates the database file's mode, so they follow.
3. ``chmod 0600`` any ``-wal``/``-shm`` left by an older version.

Error handling: a chmod the operating system refuses (a file owned by another
user, a read-only mount) raises ``PermissionError``/``OSError`` naming the path; the
region does not start on data it cannot protect.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
#: Files SQLite keeps beside a database in WAL mode.
SQLITE_SIDE_FILES = ("-wal", "-shm")


def private_file(path: Path) -> None:
    """Create ``path`` empty if it is missing; either way leave it mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def secure_data_dir(data_dir: Path, database: Path) -> None:
    """Steps 1-3 of the module docstring, before the database is opened."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, DIRECTORY_MODE)
    private_file(database)
    for suffix in SQLITE_SIDE_FILES:
        side = database.with_name(database.name + suffix)
        if side.exists():
            os.chmod(side, FILE_MODE)


def warn_if_key_beside_data(key: Path, data_dir: Path) -> None:
    """Warn when the master key lives in the data directory it protects.

    Why: encryption at rest is meant to protect the records from whoever gets a
    copy of the data (a backup, a disk image, a stolen volume); a key stored in the
    same directory travels with every such copy.
    """
    if key.resolve().is_relative_to(data_dir.resolve()):
        log.warning(
            "the master key %s is stored in the data directory it protects, so any copy "
            "of the directory can decrypt encrypted streams; keep the key on separate "
            "storage with --master-key-file (see docs/security.md)",
            key,
        )
