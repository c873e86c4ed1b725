"""The lease table in DynamoDB, with the Java KCL's item schema.

Attribute names and types are the KCL's (``leaseKey`` S hash key, ``leaseCounter``
N, ``parentShardId`` SS, …), so a table written here can be read by the Java KCL
and vice versa. Conditional writes use ``ConditionExpression`` on ``leaseCounter``
(and ``leaseOwner``); a ``ConditionalCheckFailedException`` is the normal "someone
else changed it" outcome.

Resource handling: the aiobotocore client (opened on first use, see
:mod:`~shardline.stores.dynamodb_table`) is closed by :meth:`close`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shardline.errors import error_code
from shardline.stores.dynamodb_table import DynamoDBStore
from shardline.stores.leases import Lease, LeaseStore, LeaseStoreError, apply

_ATTRIBUTE = {
    "owner": ("leaseOwner", "S"),
    "checkpoint": ("checkpoint", "S"),
    "checkpoint_sub": ("checkpointSubSequenceNumber", "N"),
    "pending_checkpoint": ("pendingCheckpoint", "S"),
    "pending_checkpoint_sub": ("pendingCheckpointSubSequenceNumber", "N"),
    "pending_checkpoint_state": ("pendingCheckpointState", "B"),
    "owner_switches": ("ownerSwitchesSinceCheckpoint", "N"),
    "parents": ("parentShardId", "SS"),
    "children": ("childShardIds", "SS"),
    "starting_hash_key": ("startingHashKey", "S"),
    "ending_hash_key": ("endingHashKey", "S"),
}


def _encode(kind: str, value: Any) -> dict[str, Any] | None:
    """A DynamoDB attribute value, or None when the attribute must be absent."""
    if value is None:
        return None
    if kind == "SS":
        return {"SS": sorted(value)} if value else None
    if kind == "N":
        return {"N": str(value)}
    return {kind: value}


def _decode(item: dict[str, Any]) -> Lease:
    def get(name: str, kind: str) -> Any:
        attr = item.get(name)
        if attr is None:
            return None
        value = attr[kind]
        return int(value) if kind == "N" else value

    return Lease(
        key=item["leaseKey"]["S"],
        owner=get("leaseOwner", "S"),
        counter=get("leaseCounter", "N") or 0,
        checkpoint=get("checkpoint", "S") or "TRIM_HORIZON",
        checkpoint_sub=get("checkpointSubSequenceNumber", "N") or 0,
        pending_checkpoint=get("pendingCheckpoint", "S"),
        pending_checkpoint_sub=get("pendingCheckpointSubSequenceNumber", "N"),
        pending_checkpoint_state=get("pendingCheckpointState", "B"),
        owner_switches=get("ownerSwitchesSinceCheckpoint", "N") or 0,
        parents=frozenset(get("parentShardId", "SS") or ()),
        children=frozenset(get("childShardIds", "SS") or ()),
        starting_hash_key=get("startingHashKey", "S"),
        ending_hash_key=get("endingHashKey", "S"),
    )


class DynamoDBLeaseStore(DynamoDBStore, LeaseStore):
    """Leases of one application in the DynamoDB table ``table``."""

    error_type = LeaseStoreError
    key_schema = (("leaseKey", "HASH"),)

    async def list_leases(self) -> list[Lease]:
        leases: list[Lease] = []
        params: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = await self._table.call("scan", **params)
            leases += [_decode(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(leases, key=lambda lease: lease.key)
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def create_if_absent(self, lease: Lease) -> bool:
        item: dict[str, Any] = {
            "leaseKey": {"S": lease.key},
            "leaseCounter": {"N": str(lease.counter)},
        }
        for name, (attribute, kind) in _ATTRIBUTE.items():
            encoded = _encode(kind, getattr(lease, name))
            if encoded is not None:
                item[attribute] = encoded
        try:
            await self._table.call(
                "put_item",
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(leaseKey)",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise LeaseStoreError(str(exc)) from exc
        return True

    async def _update(
        self, lease: Lease, check_owner: bool, changes: dict[str, Any]
    ) -> Lease | None:
        updated = apply(lease, changes)
        names = {"#counter": "leaseCounter"}
        values: dict[str, Any] = {
            ":new": {"N": str(updated.counter)},
            ":old": {"N": str(lease.counter)},
        }
        sets = ["#counter = :new"]
        removes = []
        for position, (name, value) in enumerate(changes.items()):
            attribute, kind = _ATTRIBUTE[name]
            names[f"#a{position}"] = attribute
            encoded = _encode(kind, value)
            if encoded is None:
                removes.append(f"#a{position}")
            else:
                values[f":v{position}"] = encoded
                sets.append(f"#a{position} = :v{position}")
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        condition = "#counter = :old"
        if check_owner:
            names["#owner"] = "leaseOwner"
            if lease.owner is None:
                condition += " AND attribute_not_exists(#owner)"
            else:
                condition += " AND #owner = :owner"
                values[":owner"] = {"S": lease.owner}
        try:
            await self._table.call(
                "update_item",
                TableName=self.table,
                Key={"leaseKey": {"S": lease.key}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise LeaseStoreError(str(exc)) from exc
        return updated

    async def delete(self, lease: Lease) -> bool:
        try:
            await self._table.call(
                "delete_item",
                TableName=self.table,
                Key={"leaseKey": {"S": lease.key}},
                ConditionExpression="leaseCounter = :c",
                ExpressionAttributeValues={":c": {"N": str(lease.counter)}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise LeaseStoreError(str(exc)) from exc
        return True
