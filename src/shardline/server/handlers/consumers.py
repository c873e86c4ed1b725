"""Enhanced fan-out consumer registration (SubscribeToShard streams in ``subscribe``)."""

from __future__ import annotations

from typing import Any

from shardline.server.handlers import operation
from shardline.server.protocol import Timestamp
from shardline.storage.catalog import Consumer, Stream
from shardline.storage.region import Region

LIST_CONSUMERS_DEFAULT_LIMIT = 100


def consumer_shape(stream: Stream, consumer: Consumer, with_stream: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ConsumerName": consumer.name,
        "ConsumerARN": consumer.arn(stream.arn),
        "ConsumerStatus": consumer.status,
        "ConsumerCreationTimestamp": Timestamp(consumer.created_s),
    }
    if with_stream:
        out["StreamARN"] = stream.arn
    return out


@operation("RegisterStreamConsumer")
async def register(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    name = region.catalog.name_in_arn(p["StreamARN"])
    consumer = await region.consumers.register(name, p["ConsumerName"], p.get("Tags", {}))
    return {"Consumer": consumer_shape(region.describe(name), consumer, with_stream=False)}


@operation("DescribeStreamConsumer")
async def describe(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    stream, consumer = region.consumers.find(
        p.get("ConsumerARN"), p.get("StreamARN"), p.get("ConsumerName")
    )
    return {"ConsumerDescription": consumer_shape(stream, consumer, with_stream=True)}


@operation("DeregisterStreamConsumer")
async def deregister(region: Region, p: dict[str, Any]) -> None:
    stream, consumer = region.consumers.find(
        p.get("ConsumerARN"), p.get("StreamARN"), p.get("ConsumerName")
    )
    await region.consumers.deregister(stream, consumer)


@operation("ListStreamConsumers")
async def list_consumers(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    token = p.get("NextToken")
    if token is not None:
        name, after = region.signer.open_next_token("ListStreamConsumers", token)
    else:
        name, after = region.catalog.name_in_arn(p["StreamARN"]), ""
    stream = region.describe(name)
    consumers = sorted(
        (c for c in stream.consumers.values() if c.name > after), key=lambda c: c.name
    )
    limit = p.get("MaxResults", LIST_CONSUMERS_DEFAULT_LIMIT)
    page = consumers[:limit]
    out: dict[str, Any] = {
        "Consumers": [consumer_shape(stream, c, with_stream=False) for c in page]
    }
    if len(consumers) > limit:
        out["NextToken"] = region.signer.next_token("ListStreamConsumers", name, page[-1].name)
    return out
