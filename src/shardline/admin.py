"""Client of a region's admin endpoint (``/_shardline/*``): injected faults.

Drills, tests and benchmarks make a region misbehave on purpose through
``PUT/DELETE /_shardline/faults`` (see ``shardline.server.faults``). A region started
with ``--credentials`` answers those only when they are SigV4-signed (service
``kinesis``) by an ``admin`` key, so every call here is signed: with the given
credentials, else with placeholder keys that a region without credentials accepts
from a loopback caller.

The calls are asynchronous (aiohttp), so a drill's event loop keeps running while
one is in flight; ``shardline.testing.set_fault`` runs the same call for
synchronous tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shardline.credentials import StaticCredentials
from shardline.errors import ShardlineError

FAULTS_PATH = "/_shardline/faults"
_PLACEHOLDER = StaticCredentials("shardline", "shardline")


class AdminError(ShardlineError):
    """The admin endpoint refused a call; the message carries its answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"admin endpoint answered {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class AdminClient:
    """Signed calls to one region's admin endpoint. Example::

    admin = AdminClient("http://127.0.0.1:4567", StaticCredentials(key_id, secret))
    await admin.set_fault({"outage": True})
    await admin.set_fault(None)  # clears it
    """

    endpoint: str
    credentials: StaticCredentials | None = None
    #: The region in signatures: the server's ``--region`` when it verifies them.
    region_name: str = "us-east-1"
    timeout_s: float = 10.0

    async def set_fault(self, fault: Mapping[str, Any] | None) -> dict[str, Any]:
        """Set the region's injected fault (None or {} clears it); returns the fault now."""
        if not fault:
            return await self.call("DELETE", FAULTS_PATH)
        return await self.call("PUT", FAULTS_PATH, orjson.dumps(dict(fault)))

    async def fault(self) -> dict[str, Any]:
        """The fault in force."""
        return await self.call("GET", FAULTS_PATH)

    async def call(self, method: str, path: str, body: bytes = b"") -> dict[str, Any]:
        """One signed call; raises AdminError unless the endpoint answers 2xx.

        Error handling: a region that does not answer (down, killed mid-call, or
        slower than ``timeout_s``) raises ``ConnectionError``, an ``OSError``, as a
        refused connection does; a refusal by the endpoint raises ``AdminError``.
        """
        url = self.endpoint.rstrip("/") + path
        headers = self._signed_headers(method, url, body)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(method, url, data=body, headers=headers) as response,
            ):
                text = await response.read()
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise ConnectionError(f"the admin endpoint at {url} did not answer: {exc!r}") from exc
        if response.status >= 300:
            raise AdminError(response.status, text.decode(errors="replace"))
        answer: dict[str, Any] = orjson.loads(text)
        return answer

    def _signed_headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        keys = self.credentials or _PLACEHOLDER
        request = AWSRequest(method, url, data=body, headers={"Content-Type": "application/json"})
        signer = Credentials(keys.access_key_id, keys.secret_access_key, keys.session_token)
        SigV4Auth(signer, "kinesis", self.region_name).add_auth(request)
        return dict(request.headers.items())
