"""One HTTP request as the region sees it, whichever protocol carried it.

HTTP/1.1 (aiohttp) and HTTP/2 (``http2``) both turn a request into an
``HttpRequest``: the Kinesis envelope (``app``), the signature check
(``auth.sigv4``) and the Host check (``auth.gate``) read only this.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import unquote

from multidict import MultiMapping


@dataclass(frozen=True)
class HttpRequest:
    """Method, raw request-target, headers (case-insensitive) and body."""

    method: str
    #: The request-target as received: percent-encoded path and query ("/?a=b").
    target: str
    headers: MultiMapping[str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0] or "/"

    @functools.cached_property
    def query(self) -> list[tuple[str, str]]:
        """The query's (name, value) pairs, percent-decoded ('+' stays '+', as in SigV4)."""
        pairs = []
        for part in self.target.partition("?")[2].split("&"):
            if part:
                name, _, value = part.partition("=")
                pairs.append((unquote(name), unquote(value)))
        return pairs

    @property
    def presigned(self) -> bool:
        """Whether the query string carries a presigned-URL signature."""
        return any(name == "X-Amz-Algorithm" for name, _ in self.query)

    @property
    def signed(self) -> bool:
        """Whether the request carries a signature at all (header or query)."""
        return "Authorization" in self.headers or self.presigned
