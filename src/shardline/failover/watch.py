"""Following the control state: every component that acts on decisions reads it here.

Components poll the control store (every ``poll_interval_s``, 0.5 s by default)
rather than being told, so a component that was down, partitioned or slow simply
catches up with the newest epoch when it can read again. A component acts only on
the newest epoch it has seen and never goes back to an older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from shardline.stores.control import ControlState, ControlStore, ControlStoreError

log = logging.getLogger(__name__)


class StateWatcher:
    """Yields the control state each time its epoch grows (the first one too)."""

    def __init__(self, store: ControlStore, poll_interval_s: float = 0.5) -> None:
        self.store = store
        self.poll_interval_s = poll_interval_s
        self.latest: ControlState | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def refresh(self) -> ControlState | None:
        """Read once; returns the state if its epoch is newer than the last seen."""
        try:
            state = await self.store.get_state()
        except ControlStoreError as exc:
            log.warning("control store unreadable: %s", exc)
            return None
        if state is None or (self.latest is not None and state.epoch <= self.latest.epoch):
            return None
        self.latest = state
        return state

    async def changes(self) -> AsyncIterator[ControlState]:
        """Every newer state, until :meth:`stop`."""
        while not self._stop.is_set():
            state = await self.refresh()
            if state is not None:
                yield state
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_interval_s)
