"""Operation handlers: wire parameters in, wire shapes out.

Each handler takes the region and the validated parameters (member names as AWS
spells them) and returns the output shape as plain values (``bytes`` for blobs,
``Timestamp`` for instants) or ``None`` for operations with no output. The modules
register themselves in :mod:`~shardline.server.handlers.registry` on import, and
:func:`load_all` imports every one of them.
"""

from __future__ import annotations

from shardline.server.handlers.registry import HANDLERS, Handler


def load_all() -> dict[str, Handler]:
    """Every operation's handler, by operation name (imports every handler module)."""
    from shardline.server.handlers import (  # noqa: F401
        account,
        consumers,
        records,
        shards,
        streams,
        tags,
    )

    return HANDLERS
