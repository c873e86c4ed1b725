"""Reading an HTTP/1.1 request body within the server's limits.

As numbered steps (``held_body``):

1. A declared ``Content-Length`` over the per-request limit is refused at once
   (413), before a byte of the body is read.
2. The declared length is reserved from the server-wide ``BodyBudget``; if it does
   not fit, the request is refused with 503 ``ServiceUnavailable`` unread. A body
   without a declared length (chunked) reserves as it arrives.
3. The body is read chunk by chunk; a client that stops sending for the idle
   timeout gets 408 and its connection is closed, so a stalled upload cannot hold
   its reservation for ever.
4. The caller works with the bytes; the reservation is released when it is done.

HTTP/2 reserves per DATA frame from the same budget (``http2``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from shardline.server.limits import BodyBudget, ServerLimits


class _Reservation:
    """The bytes one request holds of the budget; grows as a body arrives."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.held = 0

    def cover(self, size: int) -> None:
        """Hold at least ``size`` bytes; raises ``ServiceUnavailable`` if they do not fit."""
        if size > self.held:
            if not self.budget.reserve(size - self.held):
                raise self.budget.refusal()
            self.held = size

    def release(self) -> None:
        self.budget.release(self.held)
        self.held = 0


def _too_large(limits: ServerLimits, size: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(max_size=limits.max_body_bytes, actual_size=size)


@contextlib.asynccontextmanager
async def held_body(
    request: web.Request, budget: BodyBudget, limits: ServerLimits
) -> AsyncIterator[bytes]:
    """The request's body, held within the budget until the ``async with`` ends.

    Error handling: raises ``web.HTTPRequestEntityTooLarge`` (413),
    ``ServiceUnavailable`` (503, nothing read) or ``web.HTTPRequestTimeout`` (408,
    connection closed); the reservation is released on every path.
    """
    reservation = _Reservation(budget)
    try:
        declared = request.content_length
        if declared is not None:
            if declared > limits.max_body_bytes:
                raise _too_large(limits, declared)
            reservation.cover(declared)
        yield await _read(request, reservation, limits, declared)
    finally:
        reservation.release()


async def _read(
    request: web.Request, reservation: _Reservation, limits: ServerLimits, declared: int | None
) -> bytes:
    """Step 3: the body, chunk by chunk, each within the idle timeout of the last."""
    content = request.content
    if declared is not None and content.is_eof():
        return content.read_nowait()  # it came with the head: no waiting, no timer
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(None) as deadline:
            while declared is None or size < declared:
                deadline.reschedule(loop.time() + limits.idle_timeout_s)
                chunk = await content.readany()
                if not chunk:
                    break
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise _too_large(limits, size)
                reservation.cover(size)
                chunks.append(chunk)
    except TimeoutError:
        raise web.HTTPRequestTimeout(headers={"Connection": "close"}) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
