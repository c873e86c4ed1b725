"""Stream lifecycle and configuration operations."""

from __future__ import annotations

from typing import Any

from shardline.errors import InvalidArgumentException, ResourceNotFoundException
from shardline.server.auth.policy import PolicyError, parse_policy
from shardline.server.handlers import operation
from shardline.server.handlers.params import stream_name
from shardline.server.handlers.shapes import (
    encryption,
    monitoring,
    shard_shape,
    stream_summary,
    warm_throughput,
)
from shardline.storage.catalog import Consumer, Stream, parse_shard_id
from shardline.storage.region import Region

DESCRIBE_STREAM_DEFAULT_LIMIT = 100
LIST_STREAMS_DEFAULT_LIMIT = 100


@operation("CreateStream")
async def create_stream(region: Region, p: dict[str, Any]) -> None:
    mode = p.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
    await region.create_stream(
        p["StreamName"],
        p.get("ShardCount"),
        mode,
        p.get("Tags", {}),
        p.get("MaxRecordSizeInKiB"),
        p.get("WarmThroughputMiBps"),
    )


@operation("DeleteStream")
async def delete_stream(region: Region, p: dict[str, Any]) -> None:
    await region.delete_stream(stream_name(region, p), p.get("EnforceConsumerDeletion", False))


def _description_common(stream: Stream) -> dict[str, Any]:
    return {
        "RetentionPeriodHours": stream.retention_hours,
        "EnhancedMonitoring": monitoring(stream),
        **encryption(stream),
    }


@operation("DescribeStream")
async def describe_stream(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    stream = region.describe(stream_name(region, p))
    limit = p.get("Limit", DESCRIBE_STREAM_DEFAULT_LIMIT)
    shards = sorted(stream.shards.values(), key=lambda s: s.index)
    if not stream.ever_active:
        shards = []  # CREATING, or deleted while CREATING
    start = p.get("ExclusiveStartShardId")
    if start is not None:
        after = parse_shard_id(start)
        shards = [s for s in shards if after is None or s.index > after]
    page = shards[:limit]
    description = {
        **stream_summary(stream),
        "Shards": [shard_shape(s) for s in page],
        "HasMoreShards": len(shards) > limit,
        **_description_common(stream),
    }
    return {"StreamDescription": description}


@operation("DescribeStreamSummary")
async def describe_stream_summary(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    stream = region.describe(stream_name(region, p))
    summary = {
        **stream_summary(stream),
        **_description_common(stream),
        "OpenShardCount": len(stream.open_shards()),
        "ConsumerCount": len(stream.consumers),
        "MaxRecordSizeInKiB": stream.max_record_size_kib,
        **warm_throughput(stream),
    }
    return {"StreamDescriptionSummary": summary}


@operation("ListStreams")
async def list_streams(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    limit = p.get("Limit", LIST_STREAMS_DEFAULT_LIMIT)
    names = sorted(region.streams)
    after = p.get("ExclusiveStartStreamName")
    token = p.get("NextToken")
    if token is not None:
        (after,) = region.signer.open_next_token("ListStreams", token)
    if after is not None:
        names = [n for n in names if n > after]
    page = names[:limit]
    more = len(names) > limit
    out: dict[str, Any] = {
        "StreamNames": page,
        "HasMoreStreams": more,
        "StreamSummaries": [stream_summary(region.streams[n]) for n in page],
    }
    if more:
        out["NextToken"] = region.signer.next_token("ListStreams", page[-1])
    return out


@operation("IncreaseStreamRetentionPeriod")
async def increase_retention(region: Region, p: dict[str, Any]) -> None:
    await region.set_retention(stream_name(region, p), p["RetentionPeriodHours"], increase=True)


@operation("DecreaseStreamRetentionPeriod")
async def decrease_retention(region: Region, p: dict[str, Any]) -> None:
    await region.set_retention(stream_name(region, p), p["RetentionPeriodHours"], increase=False)


@operation("UpdateStreamMode")
async def update_stream_mode(region: Region, p: dict[str, Any]) -> None:
    await region.update_stream_mode(
        stream_name(region, p), p["StreamModeDetails"]["StreamMode"], p.get("WarmThroughputMiBps")
    )


@operation("UpdateStreamWarmThroughput")
async def update_stream_warm_throughput(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    stream = await region.update_warm_throughput(stream_name(region, p), p["WarmThroughputMiBps"])
    return {"StreamARN": stream.arn, "StreamName": stream.name, **warm_throughput(stream)}


@operation("UpdateMaxRecordSize")
async def update_max_record_size(region: Region, p: dict[str, Any]) -> None:
    await region.update_max_record_size(stream_name(region, p), p["MaxRecordSizeInKiB"])


@operation("StartStreamEncryption")
async def start_encryption(region: Region, p: dict[str, Any]) -> None:
    if p["EncryptionType"] != "KMS":
        raise InvalidArgumentException("EncryptionType must be KMS to start stream encryption.")
    await region.set_encryption(stream_name(region, p), "KMS", p["KeyId"])


@operation("StopStreamEncryption")
async def stop_encryption(region: Region, p: dict[str, Any]) -> None:
    if p["EncryptionType"] != "KMS":
        raise InvalidArgumentException("EncryptionType must be KMS to stop stream encryption.")
    await region.set_encryption(stream_name(region, p), "NONE", p["KeyId"])


async def _monitoring(region: Region, p: dict[str, Any], enable: bool) -> dict[str, Any]:
    name = stream_name(region, p)
    before = await region.set_monitoring(name, p["ShardLevelMetrics"], enable)
    stream = region.describe(name)
    return {
        "StreamName": name,
        "StreamARN": stream.arn,
        "CurrentShardLevelMetrics": before,
        "DesiredShardLevelMetrics": list(stream.shard_level_metrics),
    }


@operation("EnableEnhancedMonitoring")
async def enable_monitoring(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    return await _monitoring(region, p, enable=True)


@operation("DisableEnhancedMonitoring")
async def disable_monitoring(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    return await _monitoring(region, p, enable=False)


@operation("DescribeLimits")
async def describe_limits(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    on_demand = sum(1 for s in region.streams.values() if s.mode == "ON_DEMAND")
    return {
        "ShardLimit": region.config.shard_limit,
        "OpenShardCount": region.open_shard_count(),
        "OnDemandStreamCount": on_demand,
        "OnDemandStreamCountLimit": region.config.on_demand_stream_limit,
    }


class _PolicyHolder:
    """The stream or consumer a ResourceARN names, whose resource policy is read or set."""

    def __init__(self, region: Region, arn: str) -> None:
        self.region = region
        self.consumer: Consumer | None = None
        if "/consumer/" in arn:
            try:
                self.stream, self.consumer = region.consumers.find(consumer_arn=arn)
            except ResourceNotFoundException:
                raise ResourceNotFoundException(f"Resource {arn} not found.") from None
            self.arn = self.consumer.arn(self.stream.arn)
        else:
            stream = region.streams.get(region.catalog.name_in_arn(arn))
            if stream is None:
                raise ResourceNotFoundException(f"Resource {arn} not found.")
            self.stream, self.arn = stream, stream.arn

    @property
    def policy(self) -> str | None:
        holder = self.consumer or self.stream
        return holder.resource_policy

    async def set_policy(self, policy: str | None) -> None:
        holder = self.consumer or self.stream
        holder.resource_policy = policy
        await self.region.persist(self.stream)


@operation("PutResourcePolicy")
async def put_resource_policy(region: Region, p: dict[str, Any]) -> None:
    holder = _PolicyHolder(region, p["ResourceARN"])
    try:
        parse_policy(p["Policy"], "resource")
    except PolicyError as exc:
        raise InvalidArgumentException(str(exc)) from None
    await holder.set_policy(p["Policy"])


@operation("GetResourcePolicy")
async def get_resource_policy(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    return {"Policy": _PolicyHolder(region, p["ResourceARN"]).policy or "{}"}


@operation("DeleteResourcePolicy")
async def delete_resource_policy(region: Region, p: dict[str, Any]) -> None:
    holder = _PolicyHolder(region, p["ResourceARN"])
    if holder.policy is None:
        raise ResourceNotFoundException(f"No resource policy found for resource {holder.arn}.")
    await holder.set_policy(None)
