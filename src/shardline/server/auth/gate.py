"""Who may talk to a region: the Host check, signatures, and the admin rule.

Two modes, chosen at start (``GateConfig``):

- **With credentials** (``serve --credentials FILE``): every Kinesis call must carry
  a valid SigV4 signature by a listed key (``sigv4``); its caller is that key's
  principal. ``/_shardline/*`` answers only requests signed by an ``admin`` key.
- **Without** (local development): a call must look signed (any key), and its
  caller is the account's root user. Nothing stops a local process, but a web page
  must not reach the server through DNS rebinding, so a request's ``Host`` must be
  a loopback name (127.0.0.1, localhost, [::1], any port) or one given with
  ``--allow-host``; any other Host is refused with 403 before anything else is
  read. ``/_shardline/*`` answers loopback callers only. And a web page in the
  operator's browser must not call the server cross-origin (the browser connects to
  127.0.0.1 itself, so the Host check cannot stop it, and any signature passes): CORS
  is granted only to pages served from a loopback origin, or from an origin given with
  ``--allow-origin``. With credentials any origin may call, as on AWS: the signature
  is what admits a request.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from shardline.errors import (
    AccessDeniedException,
    KinesisError,
    MissingAuthenticationTokenException,
)
from shardline.server.auth.access import Caller
from shardline.server.auth.keys import KeyStore
from shardline.server.auth.sigv4 import SigV4Verifier
from shardline.server.request import HttpRequest

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class GateConfig:
    """How a server authenticates. Defaults: no credentials, loopback Host names only."""

    #: None: no credentials (local development; see the module docstring).
    keys: KeyStore | None = None
    #: Host names accepted besides the loopback ones (without credentials only).
    allowed_hosts: frozenset[str] = frozenset()
    #: Web origins (``scheme://host[:port]``) granted CORS besides loopback pages
    #: (without credentials only).
    allowed_origins: frozenset[str] = frozenset()


def host_name(value: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    name, colon, port = value.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else value


def is_loopback(address: str) -> bool:
    """Whether ``address`` (a name or an IP, e.g. a peer or a bind address) is loopback."""
    if address.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class Gate:
    """Applies one server's ``GateConfig`` to each request."""

    def __init__(self, config: GateConfig, region: str, account: str) -> None:
        self.config = config
        self.account = account
        self.verifier = SigV4Verifier(config.keys, region) if config.keys is not None else None
        self._hosts = LOOPBACK_NAMES | {h.lower() for h in config.allowed_hosts}
        self._origins = {o.lower().rstrip("/") for o in config.allowed_origins}

    @property
    def authenticating(self) -> bool:
        return self.verifier is not None

    def host_refusal(self, request: HttpRequest) -> str | None:
        """Why the request's Host is refused (None: accepted). Without credentials only."""
        if self.verifier is not None:
            return None  # the signature covers the host
        host = request.headers.get("Host")
        if host is not None and host_name(host) in self._hosts:
            return None
        return (
            f"Host {host!r} is not allowed. Without --credentials this server answers only "
            "loopback names (127.0.0.1, localhost, [::1]); add others with --allow-host NAME."
        )

    def origin_allowed(self, origin: str) -> bool:
        """Whether a page of ``origin`` may call cross-origin (module docstring)."""
        if self.verifier is not None:
            return True
        if origin.lower() in self._origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and is_loopback(parts.hostname or "")

    def authenticate(self, request: HttpRequest) -> Caller:
        """The caller of a Kinesis call; raises the Kinesis error AWS would answer."""
        if self.verifier is None:
            if not request.signed:
                raise MissingAuthenticationTokenException("Missing Authentication Token")
            return Caller.root(self.account)
        return self.verifier.verify(request, dt.datetime.now(dt.UTC)).caller()

    def admit_admin(self, request: HttpRequest, peer: str | None) -> None:
        """Let an admin-endpoint request through, or raise the error to answer (403)."""
        if self.verifier is None:
            if peer is None or not is_loopback(peer):
                raise AccessDeniedException(
                    f"The admin endpoint answers only loopback callers, not {peer}; start the "
                    "server with --credentials and sign with an admin key to use it remotely."
                )
            return
        key = self.verifier.verify(request, dt.datetime.now(dt.UTC))
        if not key.admin:
            raise AccessDeniedException(
                f"User: {key.arn} is not an admin: set admin = true on its key to use /_shardline."
            )


def admin_error_body(error: KinesisError) -> dict[str, str]:
    """The JSON body of a refused admin call (the admin endpoint's own error shape)."""
    return {"error": error.message, "code": error.code}
