"""The processes of a pipeline, as the console's Processes panel shows them.

Two sources, one shape (:class:`ProcessView`):

- inside ``shardline up``: the supervisor itself (:func:`supervised`);
- ``shardline console`` for a pipeline run elsewhere: the ``up.json`` file the
  supervisor keeps in the data directory (:func:`from_up_json`), with liveness
  checked by pid.

The last log line is read from ``<data_dir>/logs/<name>.log`` (the supervisor sends
each child's output there); a JSON log line (``--log-format json``) shows its
message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from shardline.pipeline.status import ProcessView
from shardline.pipeline.supervisor import Supervisor, last_line

ProcessSource = Callable[[], list[ProcessView]]


def supervised(supervisor: Supervisor) -> ProcessSource:
    """The processes a running supervisor keeps (inside ``shardline up``)."""

    def read() -> list[ProcessView]:
        return [
            ProcessView(
                name,
                child.pid,
                child.restarts,
                child.alive,
                last_line(supervisor.log_of(name)),
            )
            for name, child in supervisor.children.items()
        ]

    return read


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def from_up_json(data_dir: Path) -> ProcessSource:
    """The processes a ``shardline up`` in ``data_dir`` runs, from its ``up.json``."""

    def read() -> list[ProcessView]:
        try:
            document = json.loads((data_dir / "up.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        return [
            ProcessView(
                name,
                child.get("pid"),
                int(child.get("restarts", 0)),
                _alive(child.get("pid")),
                last_line(data_dir / "logs" / f"{name}.log"),
            )
            for name, child in document.get("children", {}).items()
        ]

    return read
