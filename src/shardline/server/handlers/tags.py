"""Tagging operations, by stream name (legacy) and by resource ARN."""

from __future__ import annotations

from typing import Any

from shardline.server.handlers import operation
from shardline.server.handlers.params import stream_name
from shardline.storage.region import Region

LIST_TAGS_DEFAULT_LIMIT = 10


def _tag_list(tags: dict[str, str], keys: list[str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": tags[k]} for k in keys]


@operation("AddTagsToStream")
async def add_tags(region: Region, p: dict[str, Any]) -> None:
    await region.add_tags(stream_name(region, p), p["Tags"])


@operation("RemoveTagsFromStream")
async def remove_tags(region: Region, p: dict[str, Any]) -> None:
    await region.remove_tags(stream_name(region, p), p["TagKeys"])


@operation("ListTagsForStream")
async def list_tags(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    stream = region.readable(stream_name(region, p))
    keys = sorted(stream.tags)
    start = p.get("ExclusiveStartTagKey")
    if start is not None:
        keys = [k for k in keys if k > start]
    limit = p.get("Limit", LIST_TAGS_DEFAULT_LIMIT)
    return {"Tags": _tag_list(stream.tags, keys[:limit]), "HasMoreTags": len(keys) > limit}


@operation("TagResource")
async def tag_resource(region: Region, p: dict[str, Any]) -> None:
    await region.add_tags(region.catalog.name_in_arn(p["ResourceARN"]), p["Tags"])


@operation("UntagResource")
async def untag_resource(region: Region, p: dict[str, Any]) -> None:
    await region.remove_tags(region.catalog.name_in_arn(p["ResourceARN"]), p["TagKeys"])


@operation("ListTagsForResource")
async def list_tags_for_resource(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    stream = region.readable(region.catalog.name_in_arn(p["ResourceARN"]))
    return {"Tags": _tag_list(stream.tags, sorted(stream.tags))}
