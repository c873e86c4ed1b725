"""The registry of operation handlers, by Kinesis operation name.

Each handler module registers its functions here with :func:`operation` when it is
imported; :func:`shardline.server.handlers.load_all` imports them all. The registry
lives in a module of its own, below the handlers, so that the handlers and the
package that loads them never import each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shardline.storage.region import Region

Handler = Callable[[Region, dict[str, Any]], Awaitable[dict[str, Any] | None]]

HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of the Kinesis operation ``name``."""

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register
