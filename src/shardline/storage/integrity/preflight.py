"""Checks made before SQLite opens a data directory, and the lock that keeps it ours.

In order; each refusal is a ``StartupRefused`` whose one-line message names the file,
the cause and the command to run next:

1. The data directory is (or is made) a directory only its owner may read, and the
   database file exists with mode 0600 (``files.secure_data_dir``).
2. ``shardline.lock`` is locked (``flock``) for the life of the region, so a second
   server, or ``shardline recover``, cannot open the same files at the same time.
3. A refusal for a damaged write-ahead log stands until the operator acts (the
   ``shardline.db.refused`` marker): SQLite's first open rewrites the wal-index,
   which is the only evidence of a truncated log, so a restart under a supervisor
   must not pass where the first start refused.
4. The write-ahead log would not drop committed transactions (``wal``). If it
   would, the log and wal-index are copied aside under ``damaged/`` first.
5. The database header is sound and the file whole (``dbfile``).

Resource handling: the lock is released by ``DataDirLock.release`` (the region's
``close``), or by the kernel when the process dies, SIGKILL included.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from shardline.storage.catalog import Stream
from shardline.storage.exceptions import DatabaseDamaged, DataDirLocked, DataDirUnusable
from shardline.storage.files import DIRECTORY_MODE, FILE_MODE, private_file, secure_data_dir
from shardline.storage.integrity import btree, dbfile, wal

LOCK_NAME = "shardline.lock"
REFUSED_SUFFIX = ".refused"
QUARANTINE_DIR = "damaged"


class DataDirLock:
    """An ``flock`` on ``DIR/shardline.lock``: exclusive for a server, shared for
    ``recover`` (which only reads, and must not run beside a server)."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, data_dir: Path, shared: bool = False) -> DataDirLock | None:
        """Take the lock; None when ``shared`` and the directory has no lock file.

        Error handling: ``DataDirLocked`` if another process holds it,
        ``DataDirUnusable`` if the lock file cannot be opened.
        """
        path = data_dir / LOCK_NAME
        if shared and not path.exists():
            return None
        try:
            fd = os.open(path, os.O_RDONLY if shared else os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise DataDirUnusable(
                f"{path}: cannot open the lock file ({exc.strerror}). Check the data "
                "directory's owner and permissions."
            ) from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "unknown"
            os.close(fd)
            raise DataDirLocked(
                f"{data_dir}: another process (pid {holder}) is using this data directory. "
                "Stop it first, or give this server its own --data-dir."
            ) from None
        if not shared:
            os.fchmod(fd, FILE_MODE)  # owner-only, like every file of a data directory
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def open_data_dir(data_dir: Path, database: Path) -> DataDirLock:
    """Steps 1-5 of the module docstring; returns the held lock."""
    _usable_dir(data_dir, database)
    lock = DataDirLock.acquire(data_dir)
    assert lock is not None
    try:
        check_files(database)
    except BaseException:
        lock.release()
        raise
    return lock


def _usable_dir(data_dir: Path, database: Path) -> None:
    """Create the directory and database file owner-only (``files.secure_data_dir``),
    or refuse in one line."""
    try:
        secure_data_dir(data_dir, database)
    except OSError as exc:
        raise DataDirUnusable(
            f"{exc.filename or data_dir}: cannot prepare the data directory ({exc.strerror}). "
            "Choose another --data-dir, or fix its owner and permissions."
        ) from None


def check_files(database: Path) -> None:
    """Steps 3-5: refuse a database whose files would lose or alter data when opened."""
    refused = refusal_marker(database)
    if refused.exists():
        raise DatabaseDamaged(refused.read_text().strip())
    try:
        header = dbfile.inspect(database, None)
        log = wal.scan(wal_path(database), header.page_size if header else None)
        header = dbfile.inspect(database, log)
    except OSError as exc:
        raise DataDirUnusable(
            f"{exc.filename}: cannot be read ({exc.strerror}). Check its owner and permissions."
        ) from None
    if log is not None and log.loses_commits:
        _refuse_damaged_log(database, log)
    if header is not None and header.problem is not None:
        raise DatabaseDamaged(
            f"{database}: {header.problem}. Nothing was changed. Run `shardline verify "
            f"--data-dir {database.parent}` for details, then `shardline recover --data-dir "
            f"{database.parent} --to NEW_DIR`."
        )


def wal_path(database: Path) -> Path:
    return database.with_name(database.name + "-wal")


def refusal_marker(database: Path) -> Path:
    return database.with_name(database.name + REFUSED_SUFFIX)


def _refuse_damaged_log(database: Path, log: wal.WalScan) -> None:
    """Copy the log and wal-index aside, leave the marker, and refuse (step 4)."""
    aside = database.parent / QUARANTINE_DIR / time.strftime("%Y%m%dT%H%M%S")
    aside.mkdir(parents=True, exist_ok=True)
    for directory in (aside.parent, aside):  # the copies hold records: owner-only
        os.chmod(directory, DIRECTORY_MODE)
    for source in (log.path, database.with_name(database.name + "-shm")):
        if source.exists():
            shutil.copy2(source, aside / source.name)
    data_dir = database.parent
    message = (
        f"{log.path}: {log.describe()}; {affected_shards(database, log)}. The log and "
        f"wal-index were copied to {aside}. Run `shardline recover --data-dir {data_dir} "
        f"--to NEW_DIR` to salvage every readable record, or delete "
        f"{refusal_marker(database)} to start anyway and lose them."
    )
    private_file(refusal_marker(database))
    refusal_marker(database).write_text(message + "\n")
    raise DatabaseDamaged(message)


def affected_shards(database: Path, log: wal.WalScan) -> str:
    """Which streams and shards the stranded frames hold records of, as a phrase."""
    if not log.stranded:
        return "the missing frames are gone, so which streams they held is unknown"
    reader = _PageReader(database, log)
    uids: set[int] = set()
    for frame in log.stranded:
        uids.update(uid for uid, _ in btree.chunk_keys(reader.frame(frame.number), frame.page))
    if not uids:
        return "they hold no stream records (only metadata pages)"
    names = shard_names(database, reader)
    by_stream: dict[str, list[str]] = {}
    for uid in sorted(uids):
        stream, shard = names.get(uid, ("(unknown)", f"shard uid {uid}"))
        by_stream.setdefault(stream, []).append(shard)
    parts = [f"stream {name}: {', '.join(shards)}" for name, shards in sorted(by_stream.items())]
    return "they hold records of " + "; ".join(parts)


class _PageReader:
    """The newest image of each page: from the log (replayed or stranded frames),
    else from the database file. Reads only; SQLite is not involved."""

    def __init__(self, database: Path, log: wal.WalScan) -> None:
        self.database = database
        self.log = log
        self.latest = wal.latest_frames(log)

    def frame(self, number: int) -> bytes:
        return wal.page_of(self.log.path, self.log, number)

    def __call__(self, page: int) -> bytes | None:
        number = self.latest.get(page)
        if number is not None:
            return self.frame(number)
        size = self.log.page_size
        with self.database.open("rb") as handle:
            handle.seek((page - 1) * size)
            image = handle.read(size)
        return image if len(image) == size else None

    def pages(self) -> Iterator[tuple[int, bytes]]:
        for page, number in self.latest.items():
            yield page, self.frame(number)


def shard_names(database: Path, reader: _PageReader) -> dict[int, tuple[str, str]]:
    """Shard uid → (stream name, shard id): stream rows in the database file (read
    with ``immutable=1``, which never touches the log or the wal-index), updated by
    newer stream rows on pages in the log. Unreadable rows are skipped."""
    docs: dict[str, bytes] = {}
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?immutable=1", uri=True)
        try:
            docs.update(
                (str(name), bytes(doc)) for name, doc in conn.execute("SELECT * FROM streams")
            )
        finally:
            conn.close()
    for number, image in reader.pages():
        docs.update(btree.text_blob_rows(image, number, reader))
    names: dict[int, tuple[str, str]] = {}
    for doc in docs.values():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            stream = Stream.from_doc(doc)
            for shard in stream.shards.values():
                names[shard.uid] = (stream.name, shard.shard_id)
    return names
