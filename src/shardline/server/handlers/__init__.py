"""Operation handlers: wire parameters in, wire shapes out.

Each handler takes the region and the validated parameters (member names as AWS
spells them) and returns the output shape as plain values (``bytes`` for blobs,
``Timestamp`` for instants) or ``None`` for operations with no output. The modules
register themselves in :data:`HANDLERS` on import.
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


def load_all() -> dict[str, Handler]:
    from shardline.server.handlers import (  # noqa: F401
        account,
        consumers,
        records,
        shards,
        streams,
        tags,
    )

    return HANDLERS
