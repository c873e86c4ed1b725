"""A blocking facade over :class:`~shardline.producer.Producer` for code without asyncio.

The async producer runs on an event loop in one background thread; each method
hands its call to that loop and blocks until it is done. Outcomes arrive as
``concurrent.futures.Future`` objects, so ``future.result()`` waits for one record
and ``concurrent.futures.wait`` for many.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry

from shardline.producer.config import ProducerConfig
from shardline.producer.destination import Destination
from shardline.producer.metrics import ProducerMetrics
from shardline.producer.producer import Producer
from shardline.producer.records import PutOutcome, Record

_T = TypeVar("_T")
OutcomeFuture = concurrent.futures.Future[PutOutcome]


def _bridge(source: asyncio.Future[PutOutcome]) -> OutcomeFuture:
    target: OutcomeFuture = concurrent.futures.Future()

    def copy(done: asyncio.Future[PutOutcome]) -> None:
        if done.cancelled():
            target.cancel()
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)
    return target


class SyncProducer:
    """The producer for threads: the same behaviour, blocking calls.

    Example::

        with SyncProducer(Destination("orders", endpoint_url=url)) as producer:
            future = producer.put(b"hello", "customer-7")
            print(future.result().sequence_number)

    Resource handling: the background thread starts in the constructor (which also
    opens the spool and connects, as :meth:`Producer.start` does) and ends in
    :meth:`close`; use it as a context manager.
    """

    def __init__(
        self,
        destination: Destination,
        config: ProducerConfig | None = None,
        *,
        registry: CollectorRegistry = DEFAULT_REGISTRY,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="shardline-producer", daemon=True
        )
        self._thread.start()
        try:
            self._producer = self._run(self._make(destination, config, registry))
        except BaseException:
            self._stop_loop()
            raise

    @staticmethod
    async def _make(
        destination: Destination, config: ProducerConfig | None, registry: CollectorRegistry
    ) -> Producer:
        # Built on the loop thread, so its events belong to that loop.
        return await Producer(destination, config, registry=registry).start()

    def _run(self, coroutine: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    @property
    def destination(self) -> Destination:
        return self._producer.destination

    @property
    def metrics(self) -> ProducerMetrics:
        return self._producer.metrics

    @property
    def pending(self) -> int:
        return self._producer.pending

    def put(
        self, data: bytes, partition_key: str, explicit_hash_key: str | None = None
    ) -> OutcomeFuture:
        """Accept one record (blocks while the producer is full); see :meth:`Producer.put`."""
        return self.put_many([Record(data, partition_key, explicit_hash_key)])[0]

    def put_many(self, records: Iterable[Record]) -> list[OutcomeFuture]:
        """Accept several records with one spool commit; see :meth:`Producer.put_many`."""

        async def put() -> list[OutcomeFuture]:
            futures = await self._producer.put_many(records)
            return [_bridge(f) for f in futures]

        return self._run(put())

    def flush(self, timeout: float | None = None) -> None:
        """Block until every accepted record has its outcome (TimeoutError after timeout)."""
        self._run(self._producer.flush(timeout))

    def switch_destination(self, destination: Destination) -> None:
        """See :meth:`Producer.switch_destination`."""
        self._run(self._producer.switch_destination(destination))

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush (up to ``timeout``) and stop the producer and its thread (see Producer.close)."""
        if not self._thread.is_alive():
            return
        try:
            self._run(self._producer.close(timeout))
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
