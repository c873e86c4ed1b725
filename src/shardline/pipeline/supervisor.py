"""Child processes that are restarted when they die, as an Auto Scaling group would.

Each :class:`Child` is one command line; its output goes to ``<logs>/<name>.log``.
The supervisor checks every ``CHECK_INTERVAL_S`` and starts a dead child again
after a back-off (1 s, doubling to 10 s; reset once a child has lived 30 s), until
:meth:`Supervisor.stop`. A child that exits with a status saying a restart cannot
help (``FINAL_EXIT_STATUSES``: a region refusing damaged data, an unusable data
directory or a wrong key) is left stopped, with its last line in the log. Which
processes run, with which pids and how often they were restarted, is kept in
``<data_dir>/up.json`` so that ``shardline drill`` can SIGKILL a component of a
pipeline that ``shardline up`` runs in another terminal.

Children die with the supervisor: each is started through
:mod:`shardline.pipeline.tether` in a session of its own, so Ctrl-C in the terminal
reaches only the supervisor, and a supervisor that dies any other way (SIGKILL, a
closed terminal) takes its children with it (they get SIGTERM).

Resource handling: a supervisor owns its data directory (:mod:`.folder`: one
supervisor per folder, an exclusive lock held until :meth:`Supervisor.stop`).
:meth:`Supervisor.stop` sends SIGTERM to every child in reverse start order (so
producers and consumers finish before the regions they use), SIGKILLs those that
have not exited after ``stop_timeout_s``, then removes ``up.json`` and releases the
folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from shardline.backoff import Backoff
from shardline.pipeline import tether
from shardline.pipeline.folder import STATE_NAME, lock_folder

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 0.5
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 10.0
HEALTHY_AFTER_S = 30.0
#: Exit statuses (sysexits.h) after which starting the same command again would only
#: fail the same way: 65 EX_DATAERR, 73 EX_CANTCREAT, 78 EX_CONFIG. A region exits
#: with them when it refuses its data directory (docs/integrity.md); 75 EX_TEMPFAIL
#: (directory in use) is worth retrying.
FINAL_EXIT_STATUSES = frozenset({65, 73, 78})
#: How much of a log's end is read for its last line.
_LOG_TAIL_BYTES = 4096


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    #: Restarts of a child that keeps crashing wait 1 s, 2 s, 4 s … up to 10 s; exact
    #: (no jitter), so the log line says the real wait.
    backoff: Backoff = field(default_factory=lambda: Backoff(BACKOFF_INITIAL_S, BACKOFF_MAX_S))
    log_file: IO[bytes] | None = None
    #: Where its output goes (set when it is first started).
    log_path: Path | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def last_line(path: Path) -> str:
    """The last non-empty line of a log file ("" when there is none).

    A JSON log line (``--log-format json``) shows its level and message.
    """
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - _LOG_TAIL_BYTES))
            lines = log.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    line = next((text.strip() for text in reversed(lines) if text.strip()), "")
    if line.startswith("{"):
        try:
            entry = json.loads(line)
            return f"{entry.get('level', '')} {entry.get('message', line)}".strip()
        except (json.JSONDecodeError, AttributeError):
            pass
    return line


class Supervisor:
    """Starts children, restarts the ones that die, stops them all (module doc).

    Raises :class:`~shardline.pipeline.folder.FolderInUseError` when another
    supervisor owns ``data_dir``.
    """

    def __init__(self, data_dir: Path, stop_timeout_s: float = 15.0) -> None:
        self._folder_lock = lock_folder(data_dir)
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.stop_timeout_s = stop_timeout_s
        self.children: dict[str, Child] = {}
        self._stopping = False
        #: Whether this supervisor wrote up.json: only then may it remove it (a run
        #: refused for stale processes must leave their record for the next try).
        self._wrote_state = False
        self._watcher: asyncio.Task[None] | None = None

    def log_of(self, name: str) -> Path:
        """Where child ``name``'s output goes."""
        return self.logs / f"{name}.log"

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        """Start a child now and supervise it from then on."""
        child = Child(name, argv, env or {})
        self.children[name] = child
        self._spawn(child)
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name="supervisor")
        return child

    def _spawn(self, child: Child) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        if child.log_file is None:
            child.log_path = self.log_of(child.name)
            child.log_file = open(child.log_path, "ab")  # noqa: SIM115
        env = dict(os.environ, PYTHONUNBUFFERED="1", **child.env)
        child.process = subprocess.Popen(
            [sys.executable, tether.__file__, str(os.getpid()), *child.argv],
            stdout=child.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C and a closed terminal reach only the supervisor
        )
        child.started_at = time.monotonic()
        self._save()

    async def _watch(self) -> None:
        while not self._stopping:
            now = time.monotonic()
            for child in self.children.values():
                if child.alive or self._stopping:
                    continue
                if child.next_start == 0.0:
                    code = child.process.returncode if child.process else None
                    if code in FINAL_EXIT_STATUSES:
                        child.next_start = float("inf")
                        log.error(
                            "%s exited with status %s, which a restart cannot fix; not "
                            "restarting it: %s",
                            child.name,
                            code,
                            last_line(child.log_path) if child.log_path else "",
                        )
                        continue
                    lived = now - child.started_at
                    if lived >= HEALTHY_AFTER_S:
                        child.backoff.reset()
                    delay = child.backoff.next_delay()
                    child.next_start = now + delay
                    log.warning(
                        "%s exited (code %s) after %.1fs; restarting in %.1fs",
                        child.name,
                        code,
                        lived,
                        delay,
                    )
                elif now >= child.next_start:
                    child.next_start = 0.0
                    child.restarts += 1
                    self._spawn(child)
            await asyncio.sleep(CHECK_INTERVAL_S)

    def kill(self, name: str) -> int | None:
        """SIGKILL a child (it is restarted like any other crash); returns its pid.

        It waits for the child to be reaped, so call it in a thread from async code
        (the drills do: ``asyncio.to_thread(pipeline.kill, name)``)."""
        child = self.children[name]
        pid = child.pid
        if child.alive and child.process is not None:
            child.process.send_signal(signal.SIGKILL)
            child.process.wait()
        return pid

    async def stop(self) -> None:
        """SIGTERM every child, newest first; SIGKILL what outlives the timeout."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for child in reversed(list(self.children.values())):
            await self.stop_child(child.name)
        for child in self.children.values():
            if child.log_file is not None:
                child.log_file.close()
        if self._wrote_state:
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / STATE_NAME).unlink()
        self._folder_lock.close()

    async def stop_child(self, name: str) -> None:
        """Stop one child gracefully and stop supervising it."""
        child = self.children[name]
        child.next_start = float("inf")
        process = child.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            # Reaped in a thread: a process in uninterruptible sleep (a write to a
            # hung disk) outlives SIGKILL until the kernel lets go of it, and the
            # event loop must not wait with it.
            await asyncio.to_thread(process.wait)

    def _save(self) -> None:
        document: dict[str, Any] = {
            "supervisor_pid": os.getpid(),
            "children": {
                c.name: {"pid": c.pid, "restarts": c.restarts, "argv": c.argv}
                for c in self.children.values()
            },
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / STATE_NAME
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2))
        temporary.replace(path)
        self._wrote_state = True


def running_children(data_dir: Path) -> dict[str, int]:
    """Pids of the children a ``shardline up`` in ``data_dir`` runs (empty if none)."""
    try:
        document = json.loads((data_dir / STATE_NAME).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {name: c["pid"] for name, c in document["children"].items() if c.get("pid")}
