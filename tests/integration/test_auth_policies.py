"""Accounts kept apart, and identity and resource policies enforced, on a real region.

The keys (``conftest.secure_region``): ``owner`` and ``reader`` in account
111122223333 (``reader`` may only describe, list, and read streams named
``open-*``), ``other`` in account 444455556666.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import (
    ACCOUNT,
    FAST,
    OTHER_ACCOUNT,
    SecureRegion,
    active_consumer,
    create_key,
    shardline,
)
from botocore.exceptions import ClientError

from shardline.testing import RegionProcess, kinesis_client, wait_active, wait_for


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def make_stream(client: Any, prefix: str = "pol", shards: int = 1) -> tuple[str, str]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=shards)
    wait_active(client, name)
    arn = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return name, arn


def read_all(client: Any, **stream: str) -> list[bytes]:
    iterator = client.get_shard_iterator(
        ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON", **stream
    )["ShardIterator"]
    by_arn = {k: v for k, v in stream.items() if k == "StreamARN"}
    return [r["Data"] for r in client.get_records(ShardIterator=iterator, **by_arn)["Records"]]


def statement(principal: Any, action: Any, resource: Any, effect: str = "Allow") -> dict[str, Any]:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource}


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# -- accounts -------------------------------------------------------------------------------


def test_each_account_sees_only_its_own_streams_and_arns_carry_it(
    secure_region: SecureRegion,
) -> None:
    owner, other = secure_region.clients(secure_region.owner, secure_region.other)
    name = f"same-{uuid.uuid4().hex[:8]}"
    for client in (owner, other):
        client.create_stream(StreamName=name, ShardCount=1)
        wait_active(client, name)
    owner.put_record(StreamName=name, Data=b"owner's", PartitionKey="k")
    other.put_record(StreamName=name, Data=b"other's", PartitionKey="k")
    assert read_all(owner, StreamName=name) == [b"owner's"]
    assert read_all(other, StreamName=name) == [b"other's"]
    arns = {
        c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        for c in (owner, other)
    }
    assert arns == {
        f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}",
        f"arn:aws:kinesis:us-east-1:{OTHER_ACCOUNT}:stream/{name}",
    }
    owner.delete_stream(StreamName=name)
    wait_for(lambda: name not in owner.list_streams()["StreamNames"], what="the deletion")
    assert name in other.list_streams()["StreamNames"]


def test_shard_limits_count_per_account(
    tmp_path: Path, fresh_region: Callable[..., RegionProcess]
) -> None:
    path = tmp_path / "credentials.toml"
    first, second = create_key(path, ACCOUNT), create_key(path, OTHER_ACCOUNT)
    region = fresh_region(*FAST, "--shard-limit", "2", "--credentials", str(path))
    a, b = (
        kinesis_client(region.url, first.credentials),
        kinesis_client(region.url, second.credentials),
    )
    a.create_stream(StreamName="big", ShardCount=2)
    b.create_stream(StreamName="big", ShardCount=2)  # another account's quota
    with pytest.raises(ClientError) as exc:
        a.create_stream(StreamName="more", ShardCount=1)
    code, message = error_of(exc)
    assert code == "LimitExceededException"
    assert f"shard limit for the account {ACCOUNT} in us-east-1" in message


# -- identity policies -----------------------------------------------------------------------


def test_an_identity_policy_limits_what_its_key_may_do(secure_region: SecureRegion) -> None:
    owner, reader = secure_region.clients(secure_region.owner, secure_region.reader)
    readable, readable_arn = make_stream(owner, "open")
    closed, closed_arn = make_stream(owner, "closed")
    owner.put_record(StreamName=readable, Data=b"public", PartitionKey="k")
    assert read_all(reader, StreamName=readable) == [b"public"]
    assert readable in reader.list_streams()["StreamNames"]
    with pytest.raises(ClientError) as exc:
        reader.put_record(StreamName=readable, Data=b"x", PartitionKey="k")
    assert error_of(exc) == (
        "AccessDeniedException",
        f"User: {secure_region.reader.arn} is not authorized to perform: kinesis:PutRecord on "
        f"resource: {readable_arn} because no identity-based policy allows the "
        "kinesis:PutRecord action",
    )
    with pytest.raises(ClientError) as exc:
        reader.get_shard_iterator(
            StreamName=closed, ShardId="shardId-000000000000", ShardIteratorType="LATEST"
        )
    assert error_of(exc)[0] == "AccessDeniedException"
    assert closed_arn in error_of(exc)[1]


# -- resource policies -----------------------------------------------------------------------


def test_a_resource_policy_denying_everyone_stops_puts_and_reads(
    secure_region: SecureRegion,
) -> None:
    # the repro: a deny-all policy used to leave PutRecord and GetRecords working
    owner = secure_region.client(secure_region.owner)
    name, arn = make_stream(owner)
    owner.put_record(StreamName=name, Data=b"before", PartitionKey="k")
    iterator = owner.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    deny = statement("*", "kinesis:*", "*", effect="Deny")
    deny_reads_and_writes = {**deny, "NotAction": "kinesis:*ResourcePolicy"}
    del deny_reads_and_writes["Action"]
    owner.put_resource_policy(ResourceARN=arn, Policy=document(deny_reads_and_writes))
    calls: list[Callable[[], object]] = [
        lambda: owner.put_record(StreamName=name, Data=b"x", PartitionKey="k"),
        lambda: owner.get_records(ShardIterator=iterator),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        code, message = error_of(exc)
        assert code == "AccessDeniedException"
        assert message.endswith("with an explicit deny in a resource-based policy")
    owner.delete_resource_policy(ResourceARN=arn)
    assert read_all(owner, StreamName=name) == [b"before"]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("not json at all", "Syntax errors in policy."),
        (
            document({"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}),
            "Missing required field Principal",
        ),
        (
            document(statement({"AWS": "nobody"}, "kinesis:*", "*")),
            'Invalid principal in policy: "AWS":"nobody"',
        ),
    ],
)
def test_put_resource_policy_checks_json_and_grammar(
    secure_region: SecureRegion, policy: str, message: str
) -> None:
    owner = secure_region.client(secure_region.owner)
    _, arn = make_stream(owner)
    with pytest.raises(ClientError) as exc:
        owner.put_resource_policy(ResourceARN=arn, Policy=policy)
    assert error_of(exc) == ("InvalidArgumentException", message)
    assert owner.get_resource_policy(ResourceARN=arn)["Policy"] == "{}"


def test_a_resource_policy_grants_another_account_what_it_names(
    secure_region: SecureRegion,
) -> None:
    owner, other = secure_region.clients(secure_region.owner, secure_region.other)
    name, arn = make_stream(owner)
    with pytest.raises(ClientError) as exc:
        other.put_record(StreamARN=arn, Data=b"x", PartitionKey="k")
    assert error_of(exc) == (
        "AccessDeniedException",
        f"User: {secure_region.other.arn} is not authorized to perform: kinesis:PutRecord on "
        f"resource: {arn} because no resource-based policy allows the kinesis:PutRecord action",
    )
    grant = statement(
        {"AWS": OTHER_ACCOUNT},
        [
            "kinesis:PutRecord*",
            "kinesis:GetShardIterator",
            "kinesis:GetRecords",
            "kinesis:DescribeStreamSummary",
        ],
        arn,
    )
    owner.put_resource_policy(ResourceARN=arn, Policy=document(grant))
    other.put_record(StreamARN=arn, Data=b"from the partner", PartitionKey="k")
    assert read_all(other, StreamARN=arn) == [b"from the partner"]
    assert read_all(owner, StreamName=name) == [b"from the partner"]
    with pytest.raises(ClientError) as exc:
        other.delete_stream(StreamARN=arn)
    assert error_of(exc)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:  # never another account's, as on AWS
        other.put_resource_policy(ResourceARN=arn, Policy=document(grant))
    assert error_of(exc)[0] == "AccessDeniedException"


def test_a_consumer_policy_lets_another_account_subscribe(secure_region: SecureRegion) -> None:
    owner, other = secure_region.clients(secure_region.owner, secure_region.other)
    name, arn = make_stream(owner)
    consumer_arn = active_consumer(owner, arn, "shared")
    subscribe = {
        "ConsumerARN": consumer_arn,
        "ShardId": "shardId-000000000000",
        "StartingPosition": {"Type": "TRIM_HORIZON"},
    }
    with pytest.raises(ClientError) as exc:
        other.subscribe_to_shard(**subscribe)
    assert error_of(exc)[0] == "AccessDeniedException"
    consumer_wildcard = f"{arn}/consumer/shared:*"
    grant = statement(
        {"AWS": secure_region.other.arn}, "kinesis:SubscribeToShard", consumer_wildcard
    )
    owner.put_resource_policy(ResourceARN=consumer_arn, Policy=document(grant))
    assert json.loads(owner.get_resource_policy(ResourceARN=consumer_arn)["Policy"]) == json.loads(
        document(grant)
    )
    owner.put_record(StreamName=name, Data=b"shared", PartitionKey="k")
    events = other.subscribe_to_shard(**subscribe)["EventStream"]
    seen: list[bytes] = []
    for event in events:
        seen += [r["Data"] for r in event["SubscribeToShardEvent"]["Records"]]
        if seen:
            break
    events.close()
    assert seen == [b"shared"]


def test_a_server_without_credentials_enforces_a_deny_all_resource_policy(
    region: RegionProcess,
) -> None:
    kinesis = kinesis_client(region.url)
    name, arn = make_stream(kinesis)
    deny = statement({"AWS": "*"}, ["kinesis:PutRecord*", "kinesis:Get*"], "*", effect="Deny")
    kinesis.put_resource_policy(ResourceARN=arn, Policy=document(deny))
    with pytest.raises(ClientError) as exc:
        kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")
    assert error_of(exc) == (
        "AccessDeniedException",
        "User: arn:aws:iam::000000000000:root is not authorized to perform: kinesis:PutRecord "
        f"on resource: {arn} with an explicit deny in a resource-based policy",
    )


def test_keys_create_refuses_a_malformed_policy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*", '
        '"Principal": "*"}}'
    )
    result = shardline(
        "keys",
        "create",
        "--account",
        ACCOUNT,
        "--policy",
        str(bad),
        "--file",
        str(tmp_path / "c.toml"),
    )
    assert result.returncode == 1
    assert "Policy document should not specify a principal." in result.stderr
    assert not (tmp_path / "c.toml").exists()


def test_get_records_is_authorized_on_the_iterators_stream_not_the_one_it_names(
    secure_region: SecureRegion,
) -> None:
    owner, reader = secure_region.clients(secure_region.owner, secure_region.reader)
    _, readable_arn = make_stream(owner, "open")
    closed, closed_arn = make_stream(owner, "closed")
    owner.put_record(StreamName=closed, Data=b"not for the reader", PartitionKey="k")
    iterator = owner.get_shard_iterator(
        StreamName=closed, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    with pytest.raises(ClientError) as exc:
        reader.get_records(ShardIterator=iterator, StreamARN=readable_arn)
    code, message = error_of(exc)
    assert code == "AccessDeniedException"
    assert f"kinesis:GetRecords on resource: {closed_arn} " in message
