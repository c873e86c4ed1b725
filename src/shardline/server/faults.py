"""Fault injection for drills and tests: make a region misbehave on purpose.

Not part of the Kinesis API: it lives under ``/_shardline/faults`` so no Kinesis
client can reach it by accident. A fault applies to Kinesis calls only (never to
this endpoint), optionally to a subset of operations, until it is cleared.

- ``PUT /_shardline/faults`` with a JSON body sets the fault:
  ``{"outage": true}`` refuses every call with 503 ServiceUnavailable;
  ``{"error_rate": 0.02, "status": 500}`` fails that fraction of calls with
  InternalFailure (500) or ServiceUnavailable (503);
  ``{"latency_ms": 200}`` delays every call; ``"operations": ["PutRecords"]``
  limits any of these to the named operations.
- ``GET /_shardline/faults`` shows the fault in force and ``delayed_calls``, the
  calls it is delaying right now; ``DELETE`` clears it.

Any change of the fault (a new one, or clearing it) releases the calls the old one
was delaying: they go on at once under the fault they arrived with. A test can so
hold a call in flight for as long as it needs (``latency_ms`` 600000), watch it
arrive (``delayed_calls``), act, then let it finish: interleavings by evidence,
not by timing.

Failed calls are decided by a seeded pseudo-random generator per fault, so an
error rate is met on average without any two regions failing in lockstep.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from aiohttp import web

from shardline.errors import InternalFailure, KinesisError, ServiceUnavailable

PATH = "/_shardline/faults"


@dataclass(frozen=True)
class Fault:
    outage: bool = False
    error_rate: float = 0.0
    status: int = 503
    latency_ms: int = 0
    operations: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, body: Any) -> Fault:
        """Read a fault from a JSON body; ValueError says what is wrong."""
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        unknown = set(body) - {"outage", "error_rate", "status", "latency_ms", "operations"}
        if unknown:
            raise ValueError(f"unknown fields: {sorted(unknown)}")
        outage = body.get("outage", False)
        rate = body.get("error_rate", 0.0)
        status = body.get("status", 503)
        latency = body.get("latency_ms", 0)
        operations = body.get("operations", [])
        if not isinstance(outage, bool):
            raise ValueError("outage must be true or false")
        if not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ValueError("error_rate must be a number from 0 to 1")
        if status not in (500, 503):
            raise ValueError("status must be 500 or 503")
        if not isinstance(latency, int) or not 0 <= latency <= 600_000:
            raise ValueError("latency_ms must be an integer from 0 to 600000")
        if not isinstance(operations, list) or not all(isinstance(o, str) for o in operations):
            raise ValueError("operations must be a list of operation names")
        return cls(outage, float(rate), status, latency, frozenset(operations))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["operations"] = sorted(self.operations)
        return out


class FaultInjector:
    """The fault in force on one server, applied before each Kinesis call."""

    def __init__(self) -> None:
        self.fault = Fault()
        self.delayed_calls = 0
        self._random = random.Random()
        self._changed = asyncio.Event()

    def set(self, fault: Fault) -> None:
        self.fault = fault
        self._random = random.Random(0x5EED)
        self._changed.set()
        self._changed = asyncio.Event()

    def clear(self) -> None:
        self.set(Fault())

    async def apply(self, operation: str) -> None:
        """Delay and/or fail ``operation`` as the fault says (raises the Kinesis error)."""
        fault = self.fault
        if fault.operations and operation not in fault.operations:
            return
        if fault.latency_ms:
            await self._delay(fault.latency_ms / 1000)
        if fault.outage:
            raise ServiceUnavailable("Injected outage: the region is unavailable.")
        if fault.error_rate and self._random.random() < fault.error_rate:
            error: KinesisError
            if fault.status == 500:
                error = InternalFailure("Injected internal failure.")
            else:
                error = ServiceUnavailable("Injected service unavailability.")
            raise error

    async def _delay(self, seconds: float) -> None:
        """Sleep ``seconds``, or until the fault changes (module docstring)."""
        changed = self._changed
        self.delayed_calls += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await changed.wait()
        finally:
            self.delayed_calls -= 1

    async def handle(self, request: web.Request) -> web.Response:
        """The admin endpoint: GET shows, PUT sets, DELETE clears."""
        if request.method == "PUT":
            try:
                self.set(Fault.parse(orjson.loads(await request.read())))
            except (ValueError, orjson.JSONDecodeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
        elif request.method == "DELETE":
            self.clear()
        elif request.method != "GET":
            return web.json_response({"error": "use GET, PUT or DELETE"}, status=405)
        return web.json_response({**self.fault.to_json(), "delayed_calls": self.delayed_calls})
