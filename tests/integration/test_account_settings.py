"""Account settings (the minimum throughput billing commitment) and warm throughput.

The three operations AWS added with warm throughput for on-demand streams:
DescribeAccountSettings, UpdateAccountSettings and UpdateStreamWarmThroughput, plus
``WarmThroughputMiBps`` on CreateStream and UpdateStreamMode and ``WarmThroughput`` in
DescribeStreamSummary. Each test starts its own region: the commitment is account-wide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shardline.testing import RegionProcess, kinesis_client, wait_active

FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")
DAY = dt.timedelta(hours=24)
ON_DEMAND = {"StreamMode": "ON_DEMAND"}


def commit(kinesis: Any, status: str) -> dict[str, Any]:
    out = kinesis.update_account_settings(MinimumThroughputBillingCommitment={"Status": status})
    return dict(out["MinimumThroughputBillingCommitment"])


def error_of(call: Any, **params: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as exc:
        call(**params)
    return dict(exc.value.response["Error"])


def test_an_account_starts_without_a_commitment(fresh_region: Callable[..., RegionProcess]) -> None:
    kinesis = kinesis_client(fresh_region(*FAST).url)
    settings = kinesis.describe_account_settings()
    assert settings["MinimumThroughputBillingCommitment"] == {"Status": "DISABLED"}


def test_a_commitment_runs_at_least_24_hours(fresh_region: Callable[..., RegionProcess]) -> None:
    server: RegionProcess = fresh_region(*FAST)
    kinesis = kinesis_client(server.url)
    before = dt.datetime.now(dt.UTC)
    enabled = commit(kinesis, "ENABLED")
    assert enabled["Status"] == "ENABLED"
    assert before - dt.timedelta(seconds=1) <= enabled["StartedAt"] <= dt.datetime.now(dt.UTC)
    assert enabled["EarliestAllowedEndAt"] == enabled["StartedAt"] + DAY
    assert "EndedAt" not in enabled

    # Disabled before the 24 hours are over: it ends by itself at the earliest end.
    ending = commit(kinesis, "DISABLED")
    assert ending["Status"] == "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
    assert ending["EndedAt"] == enabled["EarliestAllowedEndAt"]
    assert ending["StartedAt"] == enabled["StartedAt"]

    # Enabled again in time: the pending end is cancelled, the commitment continues.
    again = commit(kinesis, "ENABLED")
    assert again == enabled

    # It survives a crash of the server.
    server.kill()
    server.restart()
    assert kinesis.describe_account_settings()["MinimumThroughputBillingCommitment"] == enabled


def test_a_bad_commitment_status_is_a_validation_error(region: RegionProcess) -> None:
    kinesis = kinesis_client(region.url, parameter_validation=False)
    error = error_of(
        kinesis.update_account_settings, MinimumThroughputBillingCommitment={"Status": "ON"}
    )
    assert error == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'ON' at "
        "'minimumThroughputBillingCommitment.status' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ENABLED, DISABLED]",
    }


def test_warm_throughput_needs_an_on_demand_stream_and_a_commitment(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    kinesis = kinesis_client(fresh_region(*FAST).url)
    kinesis.create_stream(StreamName="od", StreamModeDetails=ON_DEMAND)
    kinesis.create_stream(StreamName="prov", ShardCount=1)
    wait_active(kinesis, "od")
    wait_active(kinesis, "prov")
    uncommitted = error_of(
        kinesis.update_stream_warm_throughput, StreamName="od", WarmThroughputMiBps=100
    )
    assert uncommitted["Code"] == "InvalidArgumentException"
    assert "MinimumThroughputBillingCommitment" in uncommitted["Message"]
    commit(kinesis, "ENABLED")
    provisioned = error_of(
        kinesis.update_stream_warm_throughput, StreamName="prov", WarmThroughputMiBps=100
    )
    assert provisioned["Code"] == "InvalidArgumentException"
    assert "ON_DEMAND" in provisioned["Message"]
    too_much = error_of(
        kinesis.update_stream_warm_throughput, StreamName="od", WarmThroughputMiBps=10241
    )
    assert too_much["Code"] == "LimitExceededException"
    missing = error_of(
        kinesis.update_stream_warm_throughput, StreamName="nope", WarmThroughputMiBps=1
    )
    assert missing == {
        "Code": "ResourceNotFoundException",
        "Message": "Stream nope under account 000000000000 not found.",
    }
    summary = kinesis.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]
    assert "WarmThroughput" not in summary


def test_warm_throughput_is_reached_when_the_stream_is_active_again(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    kinesis = kinesis_client(
        fresh_region("--create-delay-ms", "0", "--update-delay-ms", "60000").url
    )
    commit(kinesis, "ENABLED")
    kinesis.create_stream(StreamName="warm", StreamModeDetails=ON_DEMAND, WarmThroughputMiBps=50)
    wait_active(kinesis, "warm")
    summary = kinesis.describe_stream_summary(StreamName="warm")["StreamDescriptionSummary"]
    assert summary["WarmThroughput"] == {"TargetMiBps": 50, "CurrentMiBps": 50}
    out = kinesis.update_stream_warm_throughput(StreamName="warm", WarmThroughputMiBps=200)
    assert out["StreamName"] == "warm"
    assert out["StreamARN"] == summary["StreamARN"]
    assert out["WarmThroughput"] == {"TargetMiBps": 200, "CurrentMiBps": 50}
    summary = kinesis.describe_stream_summary(StreamName="warm")["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "UPDATING"
    assert summary["WarmThroughput"] == {"TargetMiBps": 200, "CurrentMiBps": 50}


def test_update_stream_mode_takes_warm_throughput_to_on_demand_only(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    kinesis = kinesis_client(fresh_region(*FAST).url)
    commit(kinesis, "ENABLED")
    kinesis.create_stream(StreamName="mode", ShardCount=1)
    wait_active(kinesis, "mode")
    arn = kinesis.describe_stream_summary(StreamName="mode")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails=ON_DEMAND, WarmThroughputMiBps=80)
    summary = kinesis.describe_stream_summary(StreamName="mode")["StreamDescriptionSummary"]
    assert summary["WarmThroughput"] == {"TargetMiBps": 80, "CurrentMiBps": 80}
    back = error_of(
        kinesis.update_stream_mode,
        StreamARN=arn,
        StreamModeDetails={"StreamMode": "PROVISIONED"},
        WarmThroughputMiBps=80,
    )
    assert back["Code"] == "InvalidArgumentException"
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"})
    summary = kinesis.describe_stream_summary(StreamName="mode")["StreamDescriptionSummary"]
    assert "WarmThroughput" not in summary
