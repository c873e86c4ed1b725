"""Stream lifecycle, configuration, tags and limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shardline.testing import RegionProcess, kinesis_client, read_shard, wait_active, wait_for

ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/{}"


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def stream_exists(kinesis: Any, name: str) -> bool:
    try:
        kinesis.describe_stream_summary(StreamName=name)
    except kinesis.exceptions.ResourceNotFoundException:
        return False
    return True


def test_stream_goes_creating_then_active_and_deleting_then_gone(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    server = fresh_region(
        "--create-delay-ms", "1000", "--delete-delay-ms", "1000", "--update-delay-ms", "1000"
    )
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="life", ShardCount=2)
    described = kinesis.describe_stream(StreamName="life")["StreamDescription"]
    assert described["StreamStatus"] == "CREATING"
    assert described["Shards"] == []
    wait_active(kinesis, "life")
    kinesis.increase_stream_retention_period(StreamName="life", RetentionPeriodHours=48)
    summary = kinesis.describe_stream_summary(StreamName="life")["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "UPDATING"
    with pytest.raises(ClientError) as exc:
        kinesis.split_shard(
            StreamName="life", ShardToSplit="shardId-000000000000", NewStartingHashKey="10"
        )
    assert code_of(exc) == "ResourceInUseException"
    assert "not ACTIVE, instead in state UPDATING" in exc.value.response["Error"]["Message"]
    wait_active(kinesis, "life")
    kinesis.delete_stream(StreamName="life")
    summary = kinesis.describe_stream_summary(StreamName="life")["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "DELETING"
    # Gone after the deletion delay (polled: a loaded machine runs timers late).
    wait_for(lambda: not stream_exists(kinesis, "life"), timeout=10, what="the stream deleted")


def test_boto3_waiters_work(kinesis: Any) -> None:
    kinesis.create_stream(StreamName="waited", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="waited")
    kinesis.delete_stream(StreamName="waited")
    kinesis.get_waiter("stream_not_exists").wait(StreamName="waited")


def test_describe_and_summary_shapes(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream(shards=3)
    description = kinesis.describe_stream(StreamName=name, Limit=2)["StreamDescription"]
    assert description["StreamARN"] == ARN.format(name)
    assert description["HasMoreShards"] is True
    assert [s["ShardId"] for s in description["Shards"]] == [
        "shardId-000000000000",
        "shardId-000000000001",
    ]
    rest = kinesis.describe_stream(StreamName=name, ExclusiveStartShardId="shardId-000000000001")[
        "StreamDescription"
    ]
    assert [s["ShardId"] for s in rest["Shards"]] == ["shardId-000000000002"]
    assert rest["HasMoreShards"] is False
    ranges = [s["HashKeyRange"] for s in description["Shards"] + rest["Shards"]]
    assert ranges[0]["StartingHashKey"] == "0"
    assert ranges[-1]["EndingHashKey"] == str(2**128 - 1)
    summary = kinesis.describe_stream_summary(StreamARN=ARN.format(name))
    summary = summary["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 3
    assert summary["RetentionPeriodHours"] == 24
    assert summary["EncryptionType"] == "NONE"
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}


def test_on_demand_stream_starts_with_four_shards_and_switches_mode(kinesis: Any) -> None:
    kinesis.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    wait_active(kinesis, "od")
    summary = kinesis.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 4
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    with pytest.raises(ClientError) as exc:
        kinesis.update_shard_count(
            StreamName="od", TargetShardCount=5, ScalingType="UNIFORM_SCALING"
        )
    assert code_of(exc) == "ValidationException"
    kinesis.update_stream_mode(
        StreamARN=ARN.format("od"), StreamModeDetails={"StreamMode": "PROVISIONED"}
    )
    summary = kinesis.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}


def test_duplicate_create_and_stream_arn_everywhere(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream()
    with pytest.raises(ClientError) as exc:
        kinesis.create_stream(StreamName=name, ShardCount=1)
    assert code_of(exc) == "ResourceInUseException"
    assert exc.value.response["Error"]["Message"] == (
        f"Stream {name} under account 000000000000 already exists."
    )
    arn = ARN.format(name)
    kinesis.put_record(StreamARN=arn, Data=b"via-arn", PartitionKey="k")
    iterator = kinesis.get_shard_iterator(
        StreamARN=arn, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert kinesis.get_records(ShardIterator=iterator, StreamARN=arn)["Records"][0]["Data"] == (
        b"via-arn"
    )
    other_account = f"arn:aws:kinesis:us-east-1:123456789012:stream/{name}"
    with pytest.raises(ClientError) as exc:
        kinesis.describe_stream_summary(StreamARN=other_account)
    assert code_of(exc) == "ResourceNotFoundException"


def test_list_streams_pages(kinesis: Any) -> None:
    names = [f"page-{i:02d}" for i in range(5)]
    for n in names:
        kinesis.create_stream(StreamName=n, ShardCount=1)
    seen = []
    out = kinesis.list_streams(Limit=2)
    while True:
        seen += out["StreamNames"]
        assert [s["StreamName"] for s in out["StreamSummaries"]] == out["StreamNames"]
        if not out["HasMoreStreams"]:
            break
        out = kinesis.list_streams(Limit=2, NextToken=out["NextToken"])
    assert [n for n in seen if n.startswith("page-")] == names
    assert seen == sorted(seen)
    for n in names:
        kinesis.delete_stream(StreamName=n)


def test_retention_changes_are_checked(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream()
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=168)
    with pytest.raises(ClientError) as exc:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    assert (
        "can not be shorter than existing retention period (168 hours)"
        in (exc.value.response["Error"]["Message"])
    )
    with pytest.raises(ClientError) as exc:
        kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=12)
    assert code_of(exc) == "InvalidArgumentException"
    with pytest.raises(ClientError) as exc:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=9000)
    assert code_of(exc) == "InvalidArgumentException"
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 24


def test_records_past_retention_are_trimmed(fresh_region: Callable[..., RegionProcess]) -> None:
    # One retention "hour" lasts 0.05 s here, so 24 hours of retention is 1.2 s.
    server = fresh_region(
        "--create-delay-ms",
        "0",
        "--update-delay-ms",
        "0",
        "--retention-hour-seconds",
        "0.05",
        "--trim-interval-seconds",
        "0.2",
    )
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="trim", ShardCount=1)
    wait_active(kinesis, "trim")
    kinesis.put_record(StreamName="trim", Data=b"old", PartitionKey="k")
    time.sleep(2.0)
    kinesis.put_record(StreamName="trim", Data=b"new", PartitionKey="k")
    records = read_shard(kinesis, "trim", "shardId-000000000000")
    assert [r["Data"] for r in records] == [b"new"]


def test_tags_by_stream_and_by_resource(kinesis: Any, make_stream: Callable[..., str]) -> None:
    name = make_stream(Tags={"team": "data"})
    kinesis.add_tags_to_stream(StreamName=name, Tags={"env": "dev", "cost": "1"})
    out = kinesis.list_tags_for_stream(StreamName=name, Limit=2)
    assert out["Tags"] == [{"Key": "cost", "Value": "1"}, {"Key": "env", "Value": "dev"}]
    assert out["HasMoreTags"] is True
    rest = kinesis.list_tags_for_stream(StreamName=name, ExclusiveStartTagKey="env")
    assert rest["Tags"] == [{"Key": "team", "Value": "data"}]
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["cost"])
    arn = ARN.format(name)
    kinesis.tag_resource(ResourceARN=arn, Tags={"owner": "me"})
    kinesis.untag_resource(ResourceARN=arn, TagKeys=["env"])
    tags = kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"]
    assert tags == [{"Key": "owner", "Value": "me"}, {"Key": "team", "Value": "data"}]
    with pytest.raises(ClientError) as exc:
        kinesis.add_tags_to_stream(StreamName=name, Tags={f"k{i}": "v" for i in range(49)})
    assert code_of(exc) == "InvalidArgumentException"


def test_limits_and_enhanced_monitoring(fresh_region: Callable[..., RegionProcess]) -> None:
    server = fresh_region("--create-delay-ms", "0", "--shard-limit", "6")
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="a", ShardCount=4)
    with pytest.raises(ClientError) as exc:
        kinesis.create_stream(StreamName="b", ShardCount=3)
    assert code_of(exc) == "LimitExceededException"
    assert (
        "Current shard count for the account: 4. Limit: 6."
        in (exc.value.response["Error"]["Message"])
    )
    limits = kinesis.describe_limits()
    assert (limits["ShardLimit"], limits["OpenShardCount"]) == (6, 4)
    wait_active(kinesis, "a")
    out = kinesis.enable_enhanced_monitoring(
        StreamName="a", ShardLevelMetrics=["IncomingBytes", "OutgoingRecords"]
    )
    assert out["CurrentShardLevelMetrics"] == []
    assert out["DesiredShardLevelMetrics"] == ["IncomingBytes", "OutgoingRecords"]
    out = kinesis.disable_enhanced_monitoring(StreamName="a", ShardLevelMetrics=["ALL"])
    assert out["DesiredShardLevelMetrics"] == []


def test_delete_stream_accepts_enforce_consumer_deletion(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    name = make_stream()
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    with pytest.raises(ClientError) as exc:
        kinesis.describe_stream(StreamName=name)
    assert code_of(exc) == "ResourceNotFoundException"


# -- tag characters ---------------------------------------------------------------------------

TAG_CHARACTERS = (
    "Some tags contain invalid characters. Valid characters: "
    "Unicode letters, digits, white space, _ . / = + - % @."
)
BAD_TEXTS = ["a;b", "a,b", "a\tb", "a\nb", "a:b", "a#b"]


def _tag_calls(kinesis: Any, name: str, arn: str, text: str) -> dict[str, Any]:
    """Each way to hand Kinesis a tag key or value, with ``text`` in it."""
    return {
        "add-key": lambda: kinesis.add_tags_to_stream(StreamName=name, Tags={text: "v"}),
        "add-value": lambda: kinesis.add_tags_to_stream(StreamName=name, Tags={"k": text}),
        "tag-resource": lambda: kinesis.tag_resource(ResourceARN=arn, Tags={"k": text}),
        "remove-key": lambda: kinesis.remove_tags_from_stream(StreamName=name, TagKeys=[text]),
        "untag-key": lambda: kinesis.untag_resource(ResourceARN=arn, TagKeys=[text]),
        "create": lambda: kinesis.create_stream(
            StreamName=f"{name}-new", ShardCount=1, Tags={"k": text}
        ),
        "consumer": lambda: kinesis.register_stream_consumer(
            StreamARN=arn, ConsumerName="tagged", Tags={text: "v"}
        ),
    }


@pytest.mark.parametrize("text", BAD_TEXTS, ids=repr)
def test_tags_with_characters_kinesis_refuses(
    kinesis: Any, make_stream: Callable[..., str], text: str
) -> None:
    name = make_stream(Tags={"team": "data"})
    for call_name, call in _tag_calls(kinesis, name, ARN.format(name), text).items():
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"] == {
            "Code": "InvalidArgumentException",
            "Message": TAG_CHARACTERS,
        }, call_name
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [
        {"Key": "team", "Value": "data"}
    ]
    assert not stream_exists(kinesis, f"{name}-new")


def test_tags_with_every_kind_of_allowed_character(
    kinesis: Any, make_stream: Callable[..., str]
) -> None:
    tags = {"Straße 7": "東京 ٣", "_./=+-%@": "", "a\u00a0b": "ok"}  # no-break space is Zs
    name = make_stream(Tags=tags)
    listed = kinesis.list_tags_for_stream(StreamName=name)["Tags"]
    assert {t["Key"]: t["Value"] for t in listed} == tags
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["Straße 7"])
    assert len(kinesis.list_tags_for_stream(StreamName=name)["Tags"]) == 2


# -- retention bounds, checked before the direction -------------------------------------------


@pytest.mark.parametrize("increase", [True, False], ids=["increase", "decrease"])
@pytest.mark.parametrize(
    ("hours", "message"),
    [
        (
            23,
            "Minimum allowed retention period is 24 hours. "
            "Requested retention period (23 hours) is too short.",
        ),
        (
            20,
            "Minimum allowed retention period is 24 hours. "
            "Requested retention period (20 hours) is too short.",
        ),
        (
            8761,
            "Maximum allowed retention period is 8760 hours. "
            "Requested retention period (8761 hours) is too long.",
        ),
    ],
)
def test_retention_bounds_come_before_the_direction(
    kinesis: Any, make_stream: Callable[..., str], increase: bool, hours: int, message: str
) -> None:
    name = make_stream()
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    call = (
        kinesis.increase_stream_retention_period
        if increase
        else kinesis.decrease_stream_retention_period
    )
    with pytest.raises(ClientError) as exc:
        call(StreamName=name, RetentionPeriodHours=hours)
    assert exc.value.response["Error"] == {"Code": "InvalidArgumentException", "Message": message}
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 48


# -- a stream deleted while CREATING ---------------------------------------------------------


def test_a_stream_deleted_while_creating_lists_no_shards(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    # Long delays: the stream is still CREATING when deleted, and still DELETING when
    # described; the test waits for neither.
    server = fresh_region("--create-delay-ms", "60000", "--delete-delay-ms", "60000")
    kinesis = kinesis_client(server.url)
    kinesis.create_stream(StreamName="brief", ShardCount=3)
    kinesis.delete_stream(StreamName="brief")
    described = kinesis.describe_stream(StreamName="brief")["StreamDescription"]
    assert described["StreamStatus"] == "DELETING"
    assert described["Shards"] == []
    assert described["HasMoreShards"] is False
