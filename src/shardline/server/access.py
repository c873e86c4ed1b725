"""Who may use a region's operator endpoints (``/metrics``): one rule, in one place.

Kinesis clients reach the API; operator endpoints (metrics today) are for the
people and tools that run the region. Until requests are authenticated, the rule is
"callers on this machine only": a connection from a loopback address. When an
admin rule exists, :func:`operator_access` is the one function to point at it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from aiohttp import web

AccessRule = Callable[[web.Request], bool]


def loopback_only(request: web.Request) -> bool:
    """True when the request came over a connection from a loopback address."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not peer:
        return False
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except ValueError:
        return False  # a Unix socket or an unparsable peer: not a known local caller


def operator_access(request: web.Request) -> bool:
    """The rule for operator endpoints: loopback callers, until an admin rule exists."""
    return loopback_only(request)
