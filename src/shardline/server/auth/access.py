"""Authorization: may this caller perform this action on this resource?

AWS's evaluation rules, as numbered steps (``authorize``):

1. Collect the statements that apply: the caller's identity policy (a key without
   one has full access to its own account, like the account's root user) and the
   resource policy of the stream or consumer acted on, where it names the caller.
2. An explicit ``Deny`` in either wins.
3. Same account: an ``Allow`` from either policy is enough.
4. Another account's resource: both are needed, the caller's identity allowing it
   and the resource policy granting it to the caller (its account or its ARN).
   The resource-policy operations themselves are never cross-account, as on AWS.
5. Otherwise AccessDeniedException, worded as AWS words it: "User: … is not
   authorized to perform: kinesis:PutRecord on resource: … because no
   identity-based policy allows the kinesis:PutRecord action".
"""

from __future__ import annotations

from dataclasses import dataclass

from shardline.errors import AccessDeniedException
from shardline.server.auth.policy import Policy

#: Only the owner's account may manage a resource policy (AWS's rule).
OWNER_ONLY = frozenset(
    {"kinesis:PutResourcePolicy", "kinesis:GetResourcePolicy", "kinesis:DeleteResourcePolicy"}
)


@dataclass(frozen=True)
class Caller:
    """Who sent a request: an account, a principal ARN and its identity policy."""

    account: str
    arn: str
    #: None means full access to its own account (a key without a ``policy``).
    policy: Policy | None = None

    @classmethod
    def root(cls, account: str) -> Caller:
        """The account's root user: the caller of a server without credentials."""
        return cls(account, f"arn:aws:iam::{account}:root")


@dataclass(frozen=True)
class Target:
    """What a request acts on: the owning account and the resource ARN ("*": none)."""

    account: str
    resource: str
    resource_policy: Policy | None = None


def authorize(caller: Caller, action: str, target: Target) -> None:
    """Steps 1-5 of the module docstring; raises AccessDeniedException when refused."""
    resource = target.resource
    identity = caller.policy
    own = identity.effects(caller.account, caller.arn, action, resource) if identity else set()
    granted = set()
    if target.resource_policy is not None:
        granted = target.resource_policy.effects(caller.account, caller.arn, action, resource)
    if "Deny" in own:
        raise _denied(caller, action, resource, "with an explicit deny in an identity-based policy")
    if "Deny" in granted:
        raise _denied(caller, action, resource, "with an explicit deny in a resource-based policy")
    identity_allows = identity is None or "Allow" in own
    resource_allows = "Allow" in granted
    if caller.account == target.account:
        if identity_allows or resource_allows:
            return
        raise _denied(caller, action, resource, _no_allow("identity", action))
    if not identity_allows:
        raise _denied(caller, action, resource, _no_allow("identity", action))
    if not resource_allows or action in OWNER_ONLY:
        raise _denied(caller, action, resource, _no_allow("resource", action))


def _no_allow(kind: str, action: str) -> str:
    return f"because no {kind}-based policy allows the {action} action"


def _denied(caller: Caller, action: str, resource: str, reason: str) -> AccessDeniedException:
    where = "" if resource == "*" else f" on resource: {resource}"
    return AccessDeniedException(
        f"User: {caller.arn} is not authorized to perform: {action}{where} {reason}"
    )
