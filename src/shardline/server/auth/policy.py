"""IAM-style policy documents: grammar, validation, and what a statement covers.

Two kinds, as on AWS:

- an **identity policy** (a key's ``policy`` in the credentials file) says what its
  holder may do; it names no ``Principal``;
- a **resource policy** (PutResourcePolicy on a stream or consumer) says who may act
  on that resource; each statement names a ``Principal`` (or ``NotPrincipal``).

Grammar checked (``parse_policy``), with IAM's MalformedPolicyDocument wording, since
Kinesis refuses a bad policy with InvalidArgumentException without documenting its
texts: a JSON object of at most 20,480 characters with ``Version`` (2012-10-17 or
2008-10-17, optional), ``Id`` (optional) and ``Statement`` (one object or a non-empty
list); each statement has ``Effect`` (Allow | Deny), exactly one of ``Action`` /
``NotAction`` and of ``Resource`` / ``NotResource`` (a string or a non-empty list),
and the principal rule above. Actions are ``*`` or ``vendor:pattern``; resources
``*`` or ARNs; both may use ``*`` and ``?`` (matched by ``wildcard``, linear time).
``Condition`` is refused rather than ignored: ignoring it would silently widen an
Allow or narrow a Deny.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from shardline.errors import ShardlineError
from shardline.server.auth.wildcard import Wildcard

PolicyKind = Literal["identity", "resource"]
Effect = Literal["Allow", "Deny"]

#: Upper bound on a policy document; it bounds the work of evaluating one.
MAX_POLICY_CHARS = 20_480
VERSIONS = frozenset({"2012-10-17", "2008-10-17"})
_TOP_LEVEL = frozenset({"Version", "Id", "Statement"})
_STATEMENT = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_PRINCIPAL_TYPES = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_ACCOUNT = re.compile(r"\d{12}")
_IAM_PRINCIPAL = re.compile(r"arn:aws[a-z-]*:(iam|sts)::(\d{12}):[!-~]{1,512}")
_VENDOR = re.compile(r"[a-z0-9-]{1,64}")


class PolicyError(ShardlineError):
    """A policy document is malformed; the message says what to fix."""


@dataclass(frozen=True)
class Principals:
    """Who a resource-policy statement names (only AWS principals can match a key)."""

    everyone: bool = False
    accounts: frozenset[str] = frozenset()
    arns: frozenset[str] = frozenset()

    def include(self, account: str, arn: str) -> bool:
        return self.everyone or account in self.accounts or arn in self.arns


@dataclass(frozen=True)
class Statement:
    effect: Effect
    actions: tuple[Wildcard, ...]
    resources: tuple[Wildcard, ...]
    not_action: bool = False
    not_resource: bool = False
    #: None in identity policies.
    principals: Principals | None = None
    not_principal: bool = False

    def covers(self, action: str, resource: str) -> bool:
        """Whether the statement speaks about ``action`` on ``resource``."""
        acted = any(p.matches(action) for p in self.actions) != self.not_action
        return acted and any(p.matches(resource) for p in self.resources) != self.not_resource

    def names(self, account: str, arn: str) -> bool:
        """Whether the caller (``account``, principal ``arn``) is among its principals."""
        if self.principals is None:
            return True
        return self.principals.include(account, arn) != self.not_principal


@dataclass(frozen=True)
class Policy:
    """A parsed, validated policy document (see ``parse_policy``)."""

    statements: tuple[Statement, ...]
    kind: PolicyKind

    def effects(self, account: str, arn: str, action: str, resource: str) -> set[Effect]:
        """The effects of the statements that apply to this caller, action and resource."""
        return {
            s.effect
            for s in self.statements
            if s.names(account, arn) and s.covers(action, resource)
        }


def parse_policy(text: str, kind: PolicyKind) -> Policy:
    """Validate ``text`` as a policy of ``kind``; raises PolicyError saying what is wrong."""
    if len(text) > MAX_POLICY_CHARS:
        raise PolicyError(
            f"Policy size {len(text)} exceeds the maximum of {MAX_POLICY_CHARS} characters."
        )
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise PolicyError("Syntax errors in policy.") from None
    if not isinstance(document, dict):
        raise PolicyError("Syntax errors in policy.")
    _known_fields(document, _TOP_LEVEL)
    version = document.get("Version", "2012-10-17")
    if version not in VERSIONS:
        raise PolicyError("The policy failed legacy parsing")
    if not isinstance(document.get("Id", ""), str):
        raise PolicyError("Syntax errors in policy.")
    raw = document.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        raise PolicyError("Missing required field Statement")
    return Policy(tuple(_statement(s, kind) for s in statements), kind)


def _known_fields(element: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(element) - known)
    if unknown:
        raise PolicyError(f"Syntax errors in policy. Unknown field {unknown[0]}.")


def _one_of(element: dict[str, Any], name: str, missing: str) -> tuple[Any, bool]:
    """The value of ``name`` or ``Not<name>`` (exactly one), and whether it was Not."""
    plain, negated = element.get(name), element.get(f"Not{name}")
    if plain is not None and negated is not None:
        raise PolicyError(f"Syntax errors in policy. A statement has both {name} and Not{name}.")
    if plain is None and negated is None:
        raise PolicyError(missing)
    return (plain, False) if plain is not None else (negated, True)


def _strings(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise PolicyError("Syntax errors in policy.")
    return values


def _statement(element: Any, kind: PolicyKind) -> Statement:
    if not isinstance(element, dict):
        raise PolicyError("Syntax errors in policy.")
    _known_fields(element, _STATEMENT)
    if "Condition" in element:
        raise PolicyError(
            "Condition is not supported by Shardline; express the rule with Action and Resource."
        )
    if not isinstance(element.get("Sid", ""), str):
        raise PolicyError("Syntax errors in policy.")
    effect = element.get("Effect")
    if effect is None:
        raise PolicyError("Missing required field Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"Invalid effect: {effect}")
    actions, not_action = _one_of(element, "Action", "Policy statement must contain actions.")
    resources, not_resource = _one_of(
        element, "Resource", "Policy statement must contain resources."
    )
    principals, not_principal = None, False
    if kind == "identity":
        if "Principal" in element or "NotPrincipal" in element:
            raise PolicyError("Policy document should not specify a principal.")
    else:
        raw, not_principal = _one_of(element, "Principal", "Missing required field Principal")
        principals = _principals(raw)
    return Statement(
        effect,
        tuple(_action(a) for a in _strings(actions)),
        tuple(_resource(r) for r in _strings(resources)),
        not_action,
        not_resource,
        principals,
        not_principal,
    )


def _action(text: str) -> Wildcard:
    if text != "*":
        vendor, colon, name = text.partition(":")
        if not colon or not _VENDOR.fullmatch(vendor.lower()) or not name:
            raise PolicyError(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
            )
        if ":" in name:
            raise PolicyError("Actions/Condition can contain only one colon.")
    return Wildcard.compile(text, ignore_case=True)


def _resource(text: str) -> Wildcard:
    if text != "*" and (not text.startswith("arn:") or text.count(":") < 5):
        raise PolicyError(f'Resource {text} must be in ARN format or "*".')
    return Wildcard.compile(text)


def _principals(raw: Any) -> Principals:
    if raw == "*":
        return Principals(everyone=True)
    if not isinstance(raw, dict) or not raw or not set(raw) <= _PRINCIPAL_TYPES:
        raise PolicyError(f"Invalid principal in policy: {orjson.dumps(raw).decode()}")
    everyone, accounts, arns = False, set(), set()
    for kind, values in raw.items():
        for value in _strings(values):
            if kind != "AWS":
                continue  # service, federated and canonical principals never sign with a key
            if value == "*":
                everyone = True
            elif _ACCOUNT.fullmatch(value):
                accounts.add(value)
            elif (match := _IAM_PRINCIPAL.fullmatch(value)) is not None:
                if value.endswith(":root"):
                    accounts.add(match.group(2))
                else:
                    arns.add(value)
            else:
                raise PolicyError(f'Invalid principal in policy: "AWS":"{value}"')
    return Principals(everyone, frozenset(accounts), frozenset(arns))
