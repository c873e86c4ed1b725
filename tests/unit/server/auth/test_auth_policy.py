"""Policy grammar, and AWS's evaluation rules: explicit deny wins, else an allow is needed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shardline.errors import AccessDeniedException
from shardline.server.auth.access import Caller, Target, authorize
from shardline.server.auth.policy import (
    MAX_POLICY_CHARS,
    Policy,
    PolicyError,
    PolicyKind,
    parse_policy,
)

OWNER, OTHER = "111122223333", "444455556666"
STREAM = f"arn:aws:kinesis:us-east-1:{OWNER}:stream/orders"
CONSUMER = f"{STREAM}/consumer/app:1700000000"
ALICE = Caller(OWNER, f"arn:aws:iam::{OWNER}:user/alice")
MALLORY = Caller(OTHER, f"arn:aws:iam::{OTHER}:user/mallory")


def policy(*statements: dict[str, Any], kind: PolicyKind = "resource") -> Policy:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), kind)


def identity(*statements: dict[str, Any]) -> Policy:
    return policy(*statements, kind="identity")


def with_policy(caller: Caller, *statements: dict[str, Any]) -> Caller:
    return Caller(caller.account, caller.arn, identity(*statements))


def denied(caller: Caller, action: str, target: Target) -> str:
    with pytest.raises(AccessDeniedException) as exc:
        authorize(caller, action, target)
    return exc.value.message


# -- grammar -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("not json at all", "resource", "Syntax errors in policy."),
        ("[]", "resource", "Syntax errors in policy."),
        ('{"Version": "2012-10-17"}', "resource", "Missing required field Statement"),
        (
            '{"Version": "2020-01-01", "Statement": []}',
            "resource",
            "The policy failed legacy parsing",
        ),
        (
            '{"Statement": [{"Action": "kinesis:*", "Resource": "*", "Principal": "*"}]}',
            "resource",
            "Missing required field Effect",
        ),
        (
            '{"Statement": [{"Effect": "Permit", "Action": "kinesis:*", "Resource": "*"}]}',
            "identity",
            "Invalid effect: Permit",
        ),
        (
            '{"Statement": {"Effect": "Allow", "Resource": "*", "Principal": "*"}}',
            "resource",
            "Policy statement must contain actions.",
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Principal": "*"}}',
            "resource",
            "Policy statement must contain resources.",
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}}',
            "resource",
            "Missing required field Principal",
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*", '
            '"Principal": "*"}}',
            "identity",
            "Policy document should not specify a principal.",
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "PutRecord", "Resource": "*"}}',
            "identity",
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "kinesis:Put:Record", "Resource": "*"}}',
            "identity",
            "Actions/Condition can contain only one colon.",
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Resource": "orders"}}',
            "identity",
            'Resource orders must be in ARN format or "*".',
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*", '
            '"Principal": {"AWS": "alice"}}}',
            "resource",
            'Invalid principal in policy: "AWS":"alice"',
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*", '
            '"Condition": {"Bool": {"aws:SecureTransport": "true"}}}}',
            "identity",
            "Condition is not supported by Shardline; express the rule with Action and Resource.",
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "kinesis:*", "NotAction": "kinesis:Get*", '
            '"Resource": "*"}}',
            "identity",
            "Syntax errors in policy. A statement has both Action and NotAction.",
        ),
        (
            '{"Statement": [], "Extra": 1}',
            "identity",
            "Syntax errors in policy. Unknown field Extra.",
        ),
    ],
)
def test_a_malformed_policy_is_refused_saying_what_is_wrong(
    text: str, kind: PolicyKind, message: str
) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, kind)
    assert str(exc.value) == message


def test_a_policy_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(" " * (MAX_POLICY_CHARS + 1), "resource")
    assert (
        str(exc.value)
        == f"Policy size {MAX_POLICY_CHARS + 1} exceeds the maximum of 20480 characters."
    )


# -- evaluation --------------------------------------------------------------------------


def test_a_key_without_a_policy_may_do_anything_in_its_own_account() -> None:
    authorize(ALICE, "kinesis:DeleteStream", Target(OWNER, STREAM))


def test_an_identity_policy_allows_only_what_it_names() -> None:
    reader = with_policy(ALICE, {"Effect": "Allow", "Action": "kinesis:Get*", "Resource": STREAM})
    authorize(reader, "kinesis:GetRecords", Target(OWNER, STREAM))
    assert denied(reader, "kinesis:PutRecord", Target(OWNER, STREAM)) == (
        f"User: arn:aws:iam::{OWNER}:user/alice is not authorized to perform: kinesis:PutRecord "
        f"on resource: {STREAM} because no identity-based policy allows the "
        "kinesis:PutRecord action"
    )


def test_actions_match_case_insensitively_and_resources_with_wildcards() -> None:
    caller = with_policy(
        ALICE,
        {
            "Effect": "Allow",
            "Action": "KINESIS:putrecord?",
            "Resource": "arn:aws:kinesis:*:*:stream/ord*",
        },
    )
    authorize(caller, "kinesis:PutRecords", Target(OWNER, STREAM))
    denied(caller, "kinesis:PutRecord", Target(OWNER, STREAM))  # '?' is exactly one character


def test_an_account_level_action_names_no_resource() -> None:
    caller = with_policy(ALICE, {"Effect": "Allow", "Action": "kinesis:*", "Resource": STREAM})
    assert denied(caller, "kinesis:ListStreams", Target(OWNER, "*")) == (
        f"User: arn:aws:iam::{OWNER}:user/alice is not authorized to perform: kinesis:ListStreams "
        "because no identity-based policy allows the kinesis:ListStreams action"
    )


def test_an_explicit_deny_wins_over_any_allow() -> None:
    caller = with_policy(
        ALICE,
        {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kinesis:DeleteStream", "Resource": STREAM},
    )
    assert denied(caller, "kinesis:DeleteStream", Target(OWNER, STREAM)).endswith(
        "with an explicit deny in an identity-based policy"
    )


def test_not_action_and_not_resource_invert_the_match() -> None:
    caller = with_policy(
        ALICE,
        {"Effect": "Allow", "NotAction": "kinesis:Delete*", "NotResource": f"{STREAM}*"},
    )
    authorize(caller, "kinesis:PutRecord", Target(OWNER, STREAM.replace("orders", "audit")))
    denied(caller, "kinesis:PutRecord", Target(OWNER, STREAM))
    denied(caller, "kinesis:DeleteStream", Target(OWNER, STREAM.replace("orders", "audit")))


def test_a_resource_policy_deny_stops_even_the_owner() -> None:
    deny_all = policy({"Effect": "Deny", "Principal": "*", "Action": "kinesis:*", "Resource": "*"})
    for action in ("kinesis:PutRecord", "kinesis:GetRecords"):
        assert denied(ALICE, action, Target(OWNER, STREAM, deny_all)).endswith(
            "with an explicit deny in a resource-based policy"
        )


def test_another_account_needs_a_resource_policy_grant() -> None:
    assert denied(MALLORY, "kinesis:PutRecord", Target(OWNER, STREAM)).endswith(
        "because no resource-based policy allows the kinesis:PutRecord action"
    )
    grant = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": OTHER},
            "Action": "kinesis:PutRecord",
            "Resource": STREAM,
        }
    )
    authorize(MALLORY, "kinesis:PutRecord", Target(OWNER, STREAM, grant))
    denied(MALLORY, "kinesis:GetRecords", Target(OWNER, STREAM, grant))


def test_a_grant_to_one_principal_arn_admits_only_that_principal() -> None:
    grant = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": [MALLORY.arn]},
            "Action": "kinesis:*",
            "Resource": "*",
        }
    )
    authorize(MALLORY, "kinesis:SubscribeToShard", Target(OWNER, CONSUMER, grant))
    other = Caller(OTHER, f"arn:aws:iam::{OTHER}:user/trent")
    denied(other, "kinesis:SubscribeToShard", Target(OWNER, CONSUMER, grant))


def test_a_cross_account_call_also_needs_the_callers_identity_to_allow_it() -> None:
    grant = policy({"Effect": "Allow", "Principal": "*", "Action": "kinesis:*", "Resource": "*"})
    limited = with_policy(MALLORY, {"Effect": "Allow", "Action": "kinesis:Get*", "Resource": "*"})
    assert denied(limited, "kinesis:PutRecord", Target(OWNER, STREAM, grant)).endswith(
        "because no identity-based policy allows the kinesis:PutRecord action"
    )


def test_another_account_never_manages_the_resource_policy() -> None:
    grant = policy({"Effect": "Allow", "Principal": "*", "Action": "kinesis:*", "Resource": "*"})
    denied(MALLORY, "kinesis:PutResourcePolicy", Target(OWNER, STREAM, grant))
    authorize(MALLORY, "kinesis:DescribeStreamSummary", Target(OWNER, STREAM, grant))


def test_an_account_principal_and_root_arn_name_the_whole_account() -> None:
    for principal in (OTHER, f"arn:aws:iam::{OTHER}:root"):
        grant = policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "kinesis:*",
                "Resource": "*",
            }
        )
        authorize(MALLORY, "kinesis:PutRecords", Target(OWNER, STREAM, grant))
