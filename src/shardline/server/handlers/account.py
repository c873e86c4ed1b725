"""Account-level settings: the minimum throughput billing commitment."""

from __future__ import annotations

from typing import Any

from shardline.server.handlers.registry import operation
from shardline.server.handlers.shapes import commitment_shape
from shardline.storage.region import Region
from shardline.storage.sequence import now_ms


@operation("DescribeAccountSettings")
async def describe_account_settings(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    return {"MinimumThroughputBillingCommitment": commitment_shape(region.commitment, now_ms())}


@operation("UpdateAccountSettings")
async def update_account_settings(region: Region, p: dict[str, Any]) -> dict[str, Any]:
    enable = p["MinimumThroughputBillingCommitment"]["Status"] == "ENABLED"
    commitment = await region.update_commitment(enable)
    return {"MinimumThroughputBillingCommitment": commitment_shape(commitment, now_ms())}
