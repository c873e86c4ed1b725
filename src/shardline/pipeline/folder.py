"""Who owns a pipeline folder: one supervisor at a time, and no leftovers of an earlier one.

1. **One supervisor per folder.** :func:`lock_folder` takes an exclusive ``flock``
   on ``<data_dir>/up.lock`` and writes its pid there. A second ``shardline up`` on
   the folder is refused with that pid (it would start a second monitor, and when
   it exits delete the first one's ``up.json``). The kernel drops the lock when
   the supervisor dies, even by SIGKILL.
2. **No stale processes.** ``up.json`` lists the children a supervisor started,
   with pid and command line. :func:`stale_processes` finds those still alive
   whose command line is still the recorded one (a reused pid is not mistaken for
   a child). Children die with their supervisor (:mod:`shardline.pipeline.tether`),
   but they stop gracefully, which takes a moment; and a supervisor of an older
   version left orphans. They hold the ports the new run needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shardline.errors import ShardlineError

LOCK_NAME = "up.lock"
STATE_NAME = "up.json"
#: How long stale processes get to finish stopping: children of a dead supervisor
#: got SIGTERM and usually exit within seconds (a producer flushes first).
STALE_GRACE_S = 10.0


class FolderInUseError(ShardlineError):
    """Another supervisor (``shardline up`` or a drill) runs in this folder."""


class StaleProcessesError(ShardlineError):
    """Processes of an earlier run in this folder are still alive."""


@dataclass(frozen=True)
class StaleProcess:
    name: str
    pid: int


def lock_folder(data_dir: Path) -> IO[str]:
    """Step 1: hold the folder's lock (keep the returned file open), or raise."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / LOCK_NAME, "a+")  # noqa: SIM115 (held open by the caller)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise FolderInUseError(
            f"another `shardline up` (pid {holder}) is running in {data_dir}; stop it first "
            f"(Ctrl-C in its terminal, or `kill {holder}`), or use another --data-dir"
        ) from None
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def _command_line(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def stale_processes(data_dir: Path) -> list[StaleProcess]:
    """Step 2: children recorded in ``up.json`` that still run their recorded command."""
    try:
        document = json.loads((data_dir / STATE_NAME).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    stale = []
    for name, child in document.get("children", {}).items():
        pid = child.get("pid")
        if pid and pid != os.getpid() and _command_line(pid) == child.get("argv"):
            stale.append(StaleProcess(name, int(pid)))
    return stale


async def clear_stale(data_dir: Path, stop: bool, grace_s: float = STALE_GRACE_S) -> None:
    """Wait up to ``grace_s`` for stale processes to exit; then stop them or raise.

    With ``stop``, what is left gets SIGTERM, then SIGKILL after ``grace_s`` more.
    Without it, :class:`StaleProcessesError` names them and says how to stop them.
    """
    deadline = time.monotonic() + grace_s
    while (stale := stale_processes(data_dir)) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    if not stale:
        return
    if not stop:
        names = ", ".join(f"{p.name} (pid {p.pid})" for p in stale)
        pids = " ".join(str(p.pid) for p in stale)
        raise StaleProcessesError(
            f"processes of an earlier run in {data_dir} are still alive: {names}; "
            f"stop them with `kill {pids}`, or run `shardline up --stop-stale`"
        )
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for process in stale:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, sig)
        deadline = time.monotonic() + grace_s
        while (stale := stale_processes(data_dir)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if not stale:
            return
