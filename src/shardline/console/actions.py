"""The console's actions: manual failover, failback, and a region's fault.

Each runs the same code as its command: :func:`~shardline.failover.monitor.manual_failover`
(``shardline failover``), :func:`~shardline.failover.failback.failback`
(``shardline failback``) and the region's signed admin client
(:func:`~shardline.pipeline.drill.admin_of`, as ``shardline fault``). The page asks
for a confirmation before it calls any of them.

Failback waits for the primary to be healthy and for the standby to drain, which
can take minutes, so it runs as a background task whose progress lines (the ones
the command prints) the feed shows; one failback at a time.

Error handling: every action answers an :class:`ActionResult`; a refused or failed
action says why (``ok`` False) and changes nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from shardline.admin import AdminError
from shardline.errors import ShardlineError
from shardline.failover.failback import failback
from shardline.failover.monitor import manual_failover
from shardline.pipeline.drill import admin_of
from shardline.stores.control import ControlStore
from shardline.topology import Topology

log = logging.getLogger(__name__)

#: Progress lines of the failback kept for the page.
MAX_LINES = 50


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str


@dataclass
class FailbackProgress:
    running: bool = False
    lines: list[dict[str, Any]] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines = [*self.lines, {"at": time.time(), "line": line}][-MAX_LINES:]


class Actions:
    """The actions of one console (module docstring)."""

    def __init__(self, topology: Topology, store: ControlStore) -> None:
        self.topology = topology
        self.store = store
        self.failback_progress = FailbackProgress()
        self._failback: asyncio.Task[None] | None = None

    async def failover(self, to_region: str | None) -> ActionResult:
        try:
            decided = await manual_failover(
                self.topology, self.store, to_region, "manual failover (console)", "console"
            )
        except (ShardlineError, ValueError) as exc:
            return ActionResult(False, f"failover refused: {exc}")
        return ActionResult(True, f"epoch {decided.epoch}: {decided.active_region} active")

    def start_failback(self) -> ActionResult:
        if self._failback is not None and not self._failback.done():
            return ActionResult(False, "a failback is already running")
        progress = self.failback_progress = FailbackProgress(running=True)

        async def run() -> None:
            try:
                await failback(self.topology, self.store, say=progress.say)
            except (ShardlineError, OSError) as exc:
                progress.say(f"failback stopped: {exc}")
            except Exception as exc:  # shown to the operator; the console keeps serving
                log.exception("failback from the console failed")
                progress.say(f"failback failed: {exc!r}")
            finally:
                progress.running = False

        self._failback = asyncio.create_task(run(), name="console-failback")
        return ActionResult(True, "failback started: its progress appears in the timeline")

    async def set_fault(self, region_name: str, fault: dict[str, Any] | None) -> ActionResult:
        try:
            region = self.topology.region(region_name)
        except ShardlineError as exc:
            return ActionResult(False, str(exc))
        if region.endpoint_url is None:
            return ActionResult(False, f"{region_name} is an AWS region: faults exist only locally")
        try:
            await admin_of(region).set_fault(fault)
        except AdminError as exc:
            return ActionResult(False, f"{region_name} refused the fault: {exc}")
        except OSError as exc:
            return ActionResult(False, f"{region_name} did not answer: {exc}")
        done = "fault cleared" if fault is None else f"fault set: {json.dumps(fault)}"
        return ActionResult(True, f"{region_name}: {done}")

    async def close(self) -> None:
        """Stop a failback still running (run `shardline failback` to resume it)."""
        if self._failback is not None and not self._failback.done():
            self._failback.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._failback
