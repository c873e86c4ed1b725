"""The region's background work: state-transition timers and the trimming loop.

A stream or consumer that is CREATING, UPDATING or DELETING changes state after a
delay; that change runs as a task the region owns, so closing the region cancels
every one of them and none outlives the storage engine it writes through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundTasks:
    """Tasks that run beside requests on the event loop, all cancelled on ``close``.

    Error handling: a task's exception stays with its task (the trimming loop logs
    its own); ``close`` gathers them so none is reported as never retrieved.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` as a task until it ends or the region closes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def after(self, delay: float, then: Callable[[], Any]) -> None:
        """Run ``then`` (sync or async) after a state-transition delay."""

        async def later() -> None:
            await asyncio.sleep(delay)
            result = then()
            if asyncio.iscoroutine(result):
                await result

        self.spawn(later())

    async def close(self) -> None:
        """Cancel every task and wait until all have ended."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
