"""The worker: discovers shards, holds leases, and runs a shard consumer per lease.

Start-up, as numbered steps:

1. Open the Kinesis client and the lease table (created if missing).
2. With fan-out retrieval, register (or find) the stream consumer named after the
   application and wait until it is ACTIVE.
3. Sync shards into leases (``shard_sync``), then run three loops: renew held leases
   every ``renewal_interval_s``, scan the table to take/steal every
   ``lease_scan_interval_s``, and re-sync shards every ``shard_sync_interval_s``.
4. Each acquired lease starts a :class:`ShardConsumer`; a lost lease stops it.

Graceful shutdown (``shutdown()``, SIGTERM/SIGINT under :func:`run`): every shard
consumer finishes its batch, its processor's ``shutdown_requested`` checkpoints, and
the lease is *released* (owner cleared) so another worker takes the shard on its
next scan instead of waiting for the lease to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from shardline.consumer.config import ConsumerConfig
from shardline.consumer.coordinator import LeaseCoordinator
from shardline.consumer.metrics import ConsumerMetrics
from shardline.consumer.processor import RecordProcessor
from shardline.consumer.retrieval import FanOutRetriever, PollingRetriever
from shardline.consumer.shard_consumer import Reason, ShardConsumer
from shardline.consumer.shard_sync import sync_shards
from shardline.sessions import reader_session
from shardline.stores.leases import Lease, LeaseStore, LeaseStoreError
from shardline.stores.sqlite_leases import SQLiteLeaseStore

log = logging.getLogger(__name__)

DEFAULT_LEASE_FILE = Path("shardline-leases.db")


class Scheduler:
    """A KCL-style worker for one stream and one application.

    Example::

        scheduler = Scheduler(ConsumerConfig("app", "orders", endpoint_url=url), MyProcessor)
        await scheduler.run()          # until shutdown() or cancellation

    Resource handling: ``run`` closes the client, the lease store and every shard
    consumer on the way out, gracefully when stopped through ``shutdown``.
    """

    def __init__(
        self,
        config: ConsumerConfig,
        processor_factory: Callable[[], RecordProcessor],
        lease_store: LeaseStore | None = None,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self.config = config
        self.factory = processor_factory
        self.store = lease_store or SQLiteLeaseStore(DEFAULT_LEASE_FILE, config.application_name)
        self.metrics = metrics or ConsumerMetrics(config.application_name, config.worker_id)
        self.consumers: dict[str, ShardConsumer] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._sync_now = asyncio.Event()
        self._client: Any = None
        self._consumer_arn: str | None = None
        self.coordinator = LeaseCoordinator(
            config, self.store, self._acquired, self._lost, self.metrics
        )
        self.started = asyncio.Event()

    # -- lease events ------------------------------------------------------------------

    def _retriever(self, shard_id: str) -> Any:
        if self.config.retrieval == "fanout":
            assert self._consumer_arn is not None
            return FanOutRetriever(
                self._client, self.config, shard_id, self._consumer_arn, self.metrics
            )
        return PollingRetriever(self._client, self.config, shard_id, self.metrics)

    async def _acquired(self, lease: Lease, token: str) -> None:
        consumer = ShardConsumer(
            lease,
            token,
            self.config,
            self.factory,
            self.coordinator,
            self.store,
            self._retriever,
            self.metrics,
        )
        self.consumers[lease.key] = consumer
        task = asyncio.create_task(consumer.run(), name=f"shard-{lease.key}")
        self._tasks[lease.key] = task

        def finished(_: asyncio.Task[None]) -> None:
            if self.consumers.get(lease.key) is consumer:
                del self.consumers[lease.key]
                self._tasks.pop(lease.key, None)
                if consumer.reason is Reason.SHARD_END:
                    self._sync_now.set()

        task.add_done_callback(finished)

    async def _lost(self, key: str) -> None:
        consumer = self.consumers.get(key)
        if consumer is not None:
            consumer.stop(Reason.LEASE_LOST)

    # -- loops -------------------------------------------------------------------------

    async def _every(self, interval: float, step: Callable[[], Any], name: str) -> None:
        while not self._stop.is_set():
            try:
                await step()
            except (LeaseStoreError, ClientError, OSError) as exc:
                log.warning("%s failed: %s", name, exc)
            except Exception:
                log.exception("%s failed", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

    async def _sync_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await sync_shards(self._client, self.store, self.config)
            except Exception as exc:
                log.warning("shard sync failed: %s", exc)
            self._sync_now.clear()
            waiter = asyncio.ensure_future(self._sync_now.wait())
            stopper = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait(
                {waiter, stopper},
                timeout=self.config.shard_sync_interval_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiter.cancel()
            stopper.cancel()

    async def _register_consumer(self) -> str:
        summary = await self._client.describe_stream_summary(StreamName=self.config.stream_name)
        stream_arn = summary["StreamDescriptionSummary"]["StreamARN"]
        name = self.config.application_name
        try:
            await self._client.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
        for _ in range(600):
            described = await self._client.describe_stream_consumer(
                StreamARN=stream_arn, ConsumerName=name
            )
            description = described["ConsumerDescription"]
            if description["ConsumerStatus"] == "ACTIVE":
                return str(description["ConsumerARN"])
            await asyncio.sleep(0.1)
        raise TimeoutError(f"stream consumer {name} did not become ACTIVE")

    # -- running -----------------------------------------------------------------------

    async def run(self) -> None:
        """Work until :meth:`shutdown` is called (or the task is cancelled)."""
        config = self.config
        async with contextlib.AsyncExitStack() as stack:
            self._client = await stack.enter_async_context(
                reader_session().create_client(
                    "kinesis",
                    endpoint_url=config.endpoint_url,
                    region_name=config.region_name,
                    **config.client_options,
                )
            )
            stack.push_async_callback(self.store.close)
            await self.store.ensure_table()
            if config.retrieval == "fanout":
                self._consumer_arn = await self._register_consumer()
            await sync_shards(self._client, self.store, config)
            loops = [
                asyncio.create_task(
                    self._every(config.renewal_interval_s, self.coordinator.renew_all, "renew")
                ),
                asyncio.create_task(
                    self._every(config.lease_scan_interval_s, self.coordinator.take_pass, "take")
                ),
                asyncio.create_task(self._sync_loop()),
            ]
            self.started.set()
            try:
                await self._stop.wait()
            finally:
                for consumer in list(self.consumers.values()):
                    consumer.stop(Reason.REQUESTED)
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
                for loop in loops:
                    loop.cancel()
                await asyncio.gather(*loops, return_exceptions=True)

    def shutdown(self) -> None:
        """Stop gracefully: final checkpoints, then every lease released."""
        self._stop.set()


def run(
    config: ConsumerConfig,
    processor_factory: Callable[[], RecordProcessor],
    lease_store: LeaseStore | None = None,
) -> None:
    """Run a worker in the foreground until SIGINT/SIGTERM, then stop gracefully."""

    async def main() -> None:
        scheduler = Scheduler(config, processor_factory, lease_store)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, scheduler.shutdown)
        await scheduler.run()

    asyncio.run(main())
