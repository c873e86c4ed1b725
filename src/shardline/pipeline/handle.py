"""How a drill acts on the pipeline it drills: its own, or one ``shardline up`` runs.

Both drills (the single-fault :mod:`~shardline.pipeline.drill` and the randomised
:mod:`~shardline.pipeline.chaos`) need the same few handles on a running pipeline:
its topology, a way to SIGKILL a component by name (the supervisor restarts it, as
an Auto Scaling group would), the names of the components, and how the producer
ends. :func:`own_pipeline` starts a fresh pipeline in a directory and stops it
afterwards; :func:`attached_pipeline` acts on the pipeline a ``shardline up`` keeps
in a directory (by the pids in its ``up.json``) and leaves it running.

The :class:`Timeline` records what happened when, for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardline.errors import ShardlineError
from shardline.pipeline.launch import launch
from shardline.pipeline.supervisor import Supervisor, running_children
from shardline.topology import Topology, load_topology


class DrillError(ShardlineError):
    """The drill cannot run (the message says why)."""


@dataclass
class PipelineHandle:
    """What a drill may do to a pipeline (module docstring)."""

    topology: Topology
    #: SIGKILL a component by name; returns its pid (None if it was not running).
    kill: Callable[[str], int | None]
    #: The names of the pipeline's components (region servers included).
    components: Callable[[], list[str]]
    #: Stop the producer gracefully (None: it keeps running; verify up to a cutoff).
    stop_producer: Callable[[], Awaitable[None]] | None


@contextlib.asynccontextmanager
async def own_pipeline(topology_path: Path, data_dir: Path) -> AsyncIterator[PipelineHandle]:
    """Start the pipeline of ``topology_path`` under a supervisor; stop it on exit."""
    supervisor = Supervisor(data_dir)
    try:
        topology = await launch(topology_path, supervisor)
        yield PipelineHandle(
            topology,
            supervisor.kill,
            lambda: list(supervisor.children),
            lambda: supervisor.stop_child("producer"),
        )
    finally:
        await supervisor.stop()


def attached_pipeline(data_dir: Path) -> PipelineHandle:
    """The pipeline a running ``shardline up`` keeps in ``data_dir``.

    Raises :class:`DrillError` when no ``shardline up`` runs there.
    """
    if not running_children(data_dir):
        raise DrillError(f"no `shardline up` is running in {data_dir} (no up.json)")

    def kill(name: str) -> int | None:
        pid = running_children(data_dir).get(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pid

    return PipelineHandle(
        load_topology(data_dir / "shardline.toml"),
        kill,
        lambda: list(running_children(data_dir)),
        None,
    )


class Timeline:
    """Events with their wall-clock times, announced as they happen."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.events: list[tuple[float, str]] = []
        self.say = say

    def mark(self, event: str, at: float | None = None) -> float:
        """Record ``event`` (now, or at ``at``) and announce it; returns its time."""
        when = time.time() if at is None else at
        self.events.append((when, event))
        self.say(event)
        return when

    def note(self, event: str) -> None:
        self.mark(event)

    def relative_to(self, origin: float) -> list[dict[str, Any]]:
        return [{"t": round(t - origin, 2), "event": e} for t, e in sorted(self.events)]


async def until(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2
) -> Any:
    """Poll ``condition`` (plain or async) until it is truthy; return its value.

    Raises ``TimeoutError`` naming ``what`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(f"drill: gave up waiting for {what} after {timeout:g}s")
