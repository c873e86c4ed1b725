"""Run a command that dies with its parent: ``python tether.py PARENT_PID COMMAND…``.

The supervisor starts every child through this wrapper (run by its file path, so
that starting it imports nothing but the standard library), so no child outlives a
supervisor that was killed (SIGKILL, a closed terminal, an out-of-memory kill) and
keeps its port. Steps:

1. Ask Linux to send SIGTERM to this process when its parent dies
   (``prctl(PR_SET_PDEATHSIG)``); the setting survives the ``exec`` below, and the
   child then stops as gracefully as on any SIGTERM.
2. If the parent (pid ``PID``) already died before step 1, exit: nobody would ever
   stop the child.
3. ``exec`` the command: same pid, nothing of the wrapper remains.

Why a wrapper and not ``preexec_fn``: the supervisor has threads, and running
Python between ``fork`` and ``exec`` is unsafe in a process with threads.

Elsewhere than Linux there is no ``prctl``; step 1 is skipped and the supervisor's
own signal handling is what stops the children.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit("usage: python tether.py PARENT_PID COMMAND [ARGS…]")
    parent, command = int(argv[0]), argv[1:]
    _die_with_parent()
    if os.getppid() != parent:
        sys.exit(f"tether: parent {parent} is gone; not starting {command[0]}")
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
