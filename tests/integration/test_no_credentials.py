"""The library works against a local endpoint with no AWS credentials, as the CLI does.

No environment variable, profile or credentials file: ``Producer``, the consumer's
``Scheduler`` with a DynamoDB lease table, and a ``StatefulJob`` checkpointing to
S3 (moto) all run as they are, with no ``client_options`` given.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from shardline.consumer import ConsumerConfig
from shardline.producer import Destination, Producer, ProducerConfig
from shardline.state import StateConfig, StatefulJob, StatefulProcessor
from shardline.stores.dynamodb_leases import DynamoDBLeaseStore
from shardline.testing import RegionProcess, kinesis_client, wait_active, without_aws_credentials


@pytest.fixture()
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    clean = without_aws_credentials()
    for name in [n for n in __import__("os").environ if n not in clean]:
        monkeypatch.delenv(name)
    for name, value in clean.items():
        monkeypatch.setenv(name, value)


def test_producer_consumer_and_stateful_job_need_no_credentials(
    region: RegionProcess, dynamodb_url: str, tmp_path: Path, no_aws_credentials: None
) -> None:
    stream = f"nocreds-{uuid.uuid4().hex[:8]}"
    kinesis = kinesis_client(region.url)  # the test's own client has placeholder keys
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    wait_active(kinesis, stream)
    bucket = f"state-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=dynamodb_url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    ).create_bucket(Bucket=bucket)
    counted: list[str] = []

    class Counter(StatefulProcessor):
        def process(self, record: Any, state: Any) -> None:
            state.value = (state.value or 0) + 1
            counted.append(record.data.decode())

    async def scenario() -> int:
        async with Producer(Destination(stream, region.url), ProducerConfig(spool_path=None)) as p:
            outcome = await (await p.put(b"hello", "k"))
            assert outcome.succeeded, outcome.error
        config = StateConfig(
            "nocreds", store_url=f"s3://{bucket}/p", store_endpoint_url=dynamodb_url
        )
        async with StatefulJob(config, Counter) as job:
            consumer = ConsumerConfig(
                "nocreds",
                stream,
                endpoint_url=region.url,
                initial_position="TRIM_HORIZON",
                idle_time_between_reads_s=0.2,
            )
            leases = DynamoDBLeaseStore(f"leases-{uuid.uuid4().hex[:8]}", endpoint_url=dynamodb_url)
            scheduler = job.scheduler(consumer, leases)
            task = asyncio.create_task(scheduler.run())
            try:
                deadline = time.monotonic() + 30
                while not counted:
                    assert time.monotonic() < deadline, "the record was never processed"
                    assert not task.done(), task.exception()
                    await asyncio.sleep(0.05)
                written = await job.checkpoint_now()  # to S3, without credentials
            finally:
                scheduler.shutdown()
                await task
        return len(written)

    assert asyncio.run(scenario()) == 1
    assert counted == ["hello"]
