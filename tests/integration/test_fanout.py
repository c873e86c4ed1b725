"""Enhanced fan-out: consumer registration and SubscribeToShard with boto3."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shardline.testing import RegionProcess, kinesis_client, wait_active, wait_for

FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")

# The server, a boto3 Kinesis client (botocore builds its methods at run time, so it is
# typed Any), the stream's ARN and the registered consumer's ARN.
Efo = tuple[RegionProcess, Any, str, str]


def error_code(call: Callable[[], object]) -> str | None:
    """The AWS error code ``call`` fails with, or None when it succeeds."""
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def stream_with_consumers(
    server: RegionProcess, stream: str, *consumers: str
) -> tuple[Any, str, list[str]]:
    """A one-shard stream with registered consumers: (client, stream ARN, consumer ARNs)."""
    client = kinesis_client(server.url)
    client.create_stream(StreamName=stream, ShardCount=1)
    wait_active(client, stream)
    arn = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    arns = [
        client.register_stream_consumer(StreamARN=arn, ConsumerName=name)["Consumer"]["ConsumerARN"]
        for name in consumers
    ]
    return client, arn, arns


@pytest.fixture()
def efo(fresh_region: Callable[..., RegionProcess]) -> Efo:
    """A server whose subscriptions last 3 s (AWS: 300 s) so expiry is observable."""
    server = fresh_region(*FAST, "--subscription-seconds", "3")
    client, arn, (consumer_arn,) = stream_with_consumers(server, "fan", "app")
    return server, client, arn, consumer_arn


def events(
    client: Any, consumer_arn: str, position: dict[str, Any], shard: str = "shardId-000000000000"
) -> Generator[dict[str, Any], None, None]:
    """The subscription's events; closing the generator drops the connection."""
    stream = client.subscribe_to_shard(
        ConsumerARN=consumer_arn, ShardId=shard, StartingPosition=position
    )["EventStream"]
    try:
        for event in stream:
            yield event["SubscribeToShardEvent"]
    finally:
        stream.close()


def subscribe_when_free(
    client: Any, consumer_arn: str, position: dict[str, Any], timeout: float = 15.0
) -> Any:
    """Subscribe, retrying while the server still holds a dropped subscription's slot.

    A closed connection frees the slot only once the server notices it (its check
    runs every 0.5 s, later on a loaded machine); until then AWS's answer, and ours,
    is ResourceInUseException.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.subscribe_to_shard(
                ConsumerARN=consumer_arn, ShardId="shardId-000000000000", StartingPosition=position
            )["EventStream"]
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ResourceInUseException"
            assert time.monotonic() < deadline, "the dropped subscription's slot stayed taken"
            time.sleep(0.2)


def test_consumer_registry_lifecycle(fresh_region: Callable[..., RegionProcess]) -> None:
    server = fresh_region(
        "--create-delay-ms", "200", "--delete-delay-ms", "200", "--update-delay-ms", "0"
    )
    client = kinesis_client(server.url)
    client.create_stream(StreamName="reg", ShardCount=1)
    wait_active(client, "reg")
    arn = client.describe_stream_summary(StreamName="reg")["StreamDescriptionSummary"]["StreamARN"]
    consumer = client.register_stream_consumer(StreamARN=arn, ConsumerName="a")["Consumer"]
    assert consumer["ConsumerStatus"] == "CREATING"
    assert consumer["ConsumerARN"].startswith(f"{arn}/consumer/a:")
    with pytest.raises(ClientError) as exc:
        client.register_stream_consumer(StreamARN=arn, ConsumerName="a")
    assert exc.value.response["Error"]["Code"] == "ResourceInUseException"
    # ACTIVE after the 200 ms creation delay (polled: a loaded machine runs timers late).
    wait_for(
        lambda: (
            client.describe_stream_consumer(StreamARN=arn, ConsumerName="a")["ConsumerDescription"][
                "ConsumerStatus"
            ]
            == "ACTIVE"
        ),
        timeout=10,
        what="the consumer ACTIVE",
    )
    described = client.describe_stream_consumer(StreamARN=arn, ConsumerName="a")
    assert described["ConsumerDescription"]["StreamARN"] == arn
    for name in ("b", "c"):
        client.register_stream_consumer(StreamARN=arn, ConsumerName=name)
    page = client.list_stream_consumers(StreamARN=arn, MaxResults=2)
    assert [c["ConsumerName"] for c in page["Consumers"]] == ["a", "b"]
    rest = client.list_stream_consumers(StreamARN=arn, NextToken=page["NextToken"])
    assert [c["ConsumerName"] for c in rest["Consumers"]] == ["c"]
    assert (
        client.describe_stream_summary(StreamName="reg")["StreamDescriptionSummary"][
            "ConsumerCount"
        ]
        == 3
    )
    with pytest.raises(ClientError) as exc:
        client.delete_stream(StreamName="reg")
    assert exc.value.response["Error"]["Code"] == "ResourceInUseException"
    client.deregister_stream_consumer(ConsumerARN=consumer["ConsumerARN"])
    wait_for(
        lambda: (
            error_code(lambda: client.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"]))
            == "ResourceNotFoundException"
        ),
        timeout=10,
        what="the consumer gone after its deletion delay",
    )
    client.delete_stream(StreamName="reg", EnforceConsumerDeletion=True)


def test_subscription_delivers_in_order_and_pushes_new_records(efo: Efo) -> None:
    server, client, _, consumer_arn = efo
    sent = [f"r{i}".encode() for i in range(50)]
    client.put_records(StreamName="fan", Records=[{"Data": d, "PartitionKey": "k"} for d in sent])

    def late_writer() -> None:
        time.sleep(0.3)
        kinesis_client(server.url).put_record(StreamName="fan", Data=b"late", PartitionKey="k")

    threading.Thread(target=late_writer).start()
    received = []
    for event in events(client, consumer_arn, {"Type": "TRIM_HORIZON"}):
        received += [r["Data"] for r in event["Records"]]
        if b"late" in received:
            break
    assert received == [*sent, b"late"]


def test_resubscribing_at_the_continuation_has_no_gap_or_duplicate(efo: Efo) -> None:
    server, client, _, consumer_arn = efo
    writer = kinesis_client(server.url)
    received: list[bytes] = []
    position: dict[str, Any] = {"Type": "TRIM_HORIZON"}
    sent: list[bytes] = []

    for round_ in range(3):
        batch = [f"{round_}-{i}".encode() for i in range(20)]
        writer.put_records(
            StreamName="fan", Records=[{"Data": d, "PartitionKey": "k"} for d in batch]
        )
        sent += batch
        continuation = None
        subscription = subscribe_when_free(client, consumer_arn, position)
        for event in subscription:
            event = event["SubscribeToShardEvent"]
            received += [r["Data"] for r in event["Records"]]
            continuation = event["ContinuationSequenceNumber"]
            if len(received) >= len(sent):
                break
        subscription.close()
        position = {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": continuation}
    assert received == sent


def test_subscription_expires_after_its_lifetime(efo: Efo) -> None:
    _, client, _, consumer_arn = efo
    started = time.monotonic()
    count = sum(1 for _ in events(client, consumer_arn, {"Type": "LATEST"}))
    elapsed = time.monotonic() - started
    assert 2.5 <= elapsed <= 30  # expired: the default lifetime would be 300 s
    assert count >= 1  # at least the first (empty) event before expiry


def test_second_subscription_within_five_seconds_is_refused_later_one_takes_over(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    server = fresh_region(*FAST, "--subscription-seconds", "120")
    client, _, (consumer_arn,) = stream_with_consumers(server, "one", "c")
    first = events(client, consumer_arn, {"Type": "LATEST"})
    next(first)
    other = kinesis_client(server.url)
    with pytest.raises(ClientError) as exc:
        other.subscribe_to_shard(
            ConsumerARN=consumer_arn,
            ShardId="shardId-000000000000",
            StartingPosition={"Type": "LATEST"},
        )
    assert exc.value.response["Error"]["Code"] == "ResourceInUseException"
    time.sleep(5.2)
    second = events(other, consumer_arn, {"Type": "LATEST"})
    next(second)
    # The superseded subscription ends: its stream runs out instead of waiting 120 s.
    started = time.monotonic()
    for _ in first:
        pass
    assert time.monotonic() - started < 30
    second.close()


def test_closed_shard_ends_with_child_shards(efo: Efo) -> None:
    _, client, _, consumer_arn = efo
    client.put_record(StreamName="fan", Data=b"before-split", PartitionKey="k")
    client.split_shard(
        StreamName="fan", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    seen = list(events(client, consumer_arn, {"Type": "TRIM_HORIZON"}))
    assert [r["Data"] for e in seen for r in e["Records"]] == [b"before-split"]
    last = seen[-1]
    assert "ContinuationSequenceNumber" not in last
    assert sorted(c["ShardId"] for c in last["ChildShards"]) == [
        "shardId-000000000001",
        "shardId-000000000002",
    ]


def test_disconnecting_subscriber_does_not_disturb_others(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    server = fresh_region(*FAST, "--subscription-seconds", "10")
    client, _, (quitter_arn, stayer_arn) = stream_with_consumers(server, "two", "q", "s")
    quitting = kinesis_client(server.url).subscribe_to_shard(
        ConsumerARN=quitter_arn,
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "LATEST"},
    )["EventStream"]
    next(iter(quitting))
    quitting.close()  # drop the connection mid-stream
    client.put_record(StreamName="two", Data=b"still-flowing", PartitionKey="k")
    got = []
    for event in events(kinesis_client(server.url), stayer_arn, {"Type": "TRIM_HORIZON"}):
        got += [r["Data"] for r in event["Records"]]
        if got:
            break
    assert got == [b"still-flowing"]
    # The dropped subscription's slot is free again once the server notices the disconnect.
    subscribe_when_free(client, quitter_arn, {"Type": "LATEST"}).close()
