"""What one region server lets its callers hold: connections, time, request memory.

Why: every limit here closes a way one caller could take the server from all the
others (issue 13): idle connections that used up every file descriptor, request
bodies that, held together, took hundreds of MiB, a client that sends a request
head one byte at a time. Each default says why it has its value.

- ``ServerLimits``: the settings, validated and frozen.
- ``BodyBudget``: request-body bytes held across the whole server, HTTP/1.1 and
  HTTP/2 together. A request that would exceed it is refused with 503
  ``ServiceUnavailable`` (retriable), the code AWS uses when it is too busy to
  serve a call, so every SDK backs off and retries it.
- ``raise_fd_limit``: lift the soft RLIMIT_NOFILE to the hard limit at start, and
  ``connection_cap``: the connections that fit in it.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

from shardline.errors import ServiceUnavailable

log = logging.getLogger(__name__)

MIB = 1024 * 1024
#: File descriptors kept back from connections: the database (writer, readers,
#: their WAL and shared-memory files), the event loop, logs, and room to spare.
RESERVED_FDS = 64


@dataclass(frozen=True)
class ServerLimits:
    """Limits of one server. Example::

    ServerLimits(idle_timeout_s=30, body_budget_bytes=64 * MIB)
    """

    #: Largest request body: a 10 MiB record, base64-encoded, with room to spare.
    max_body_bytes: int = 16 * MIB
    #: Request bodies held at once across the server. 256 MiB is about 19 largest
    #: PutRecords calls (10 MiB of records, base64) arriving at the same moment.
    body_budget_bytes: int = 256 * MIB
    #: A request head must be complete this long after its first byte (Go's
    #: ReadHeaderTimeout is commonly 10 s; any real client sends its head at once).
    header_timeout_s: float = 10.0
    #: A connection with no request in progress for this long is closed (load
    #: balancers close at 60 s; SDKs reconnect transparently). Also the longest a
    #: request body may stop flowing.
    idle_timeout_s: float = 60.0
    #: Open connections; None: as many as file descriptors allow (``connection_cap``).
    max_connections: int | None = None

    def __post_init__(self) -> None:
        if self.max_body_bytes <= 0 or self.body_budget_bytes < self.max_body_bytes:
            raise ValueError(
                "the body budget must hold at least one largest request body "
                f"({self.max_body_bytes} bytes)"
            )
        if self.header_timeout_s <= 0 or self.idle_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")


class BodyBudget:
    """Bytes of request bodies held at once, across every connection.

    Callers reserve before they buffer and release once the request is answered.
    Single-threaded: used from the event loop only.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def reserve(self, size: int) -> bool:
        """Take ``size`` bytes of the budget; False (and nothing taken) if they do not fit."""
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def release(self, size: int) -> None:
        self.held -= size

    def refusal(self) -> ServiceUnavailable:
        """The error for a request that does not fit, saying what the operator can do."""
        return ServiceUnavailable(
            f"The server is holding its limit of {self.limit // MIB} MiB of request bodies; "
            "retry with backoff (operators: raise --body-budget-mb)."
        )


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force.

    Why: many systems start processes at a soft limit of 1,024 descriptors while
    allowing far more; a server that keeps the soft limit runs out of sockets
    long before its memory or CPU is busy.

    Error handling: a system that refuses the change (or reports no finite hard
    limit) keeps the soft limit, which is returned.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, hard)
    return soft


def connection_cap(limits: ServerLimits, fd_limit: int) -> int:
    """Connections the server accepts at once: the configured cap, within the fd limit."""
    available = max(fd_limit - RESERVED_FDS, 1)
    if limits.max_connections is None:
        return available
    if limits.max_connections > available:
        log.warning(
            "--max-connections %d exceeds what %d open files allow; using %d",
            limits.max_connections,
            fd_limit,
            available,
        )
        return available
    return limits.max_connections
