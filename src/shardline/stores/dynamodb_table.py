"""One DynamoDB table used by a store: the client, error mapping and table creation.

Why a shared piece: every DynamoDB-backed store opens an aiobotocore client the same
way, turns transport failures into its own error class and creates its table on
first use, waiting until it is ACTIVE. Service answers (``ClientError``) are passed
through unchanged, because a conditional-check failure is an expected outcome whose
meaning only the store knows; :func:`shardline.errors.error_code` reads their code.

:class:`DynamoDBStore` is what the control store and the lease store built on one
table share: their constructor, table creation and closing.

Resource handling: the client is opened on the first call and closed by
:meth:`DynamoDBTable.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from shardline.credentials import default_client_options
from shardline.errors import ShardlineError, error_code

#: How long :meth:`DynamoDBTable.create` waits for ACTIVE (DynamoDB usually needs
#: seconds for an on-demand table; a minute covers a slow control plane).
_ACTIVE_TIMEOUT = 60.0
_ACTIVE_POLL = 0.1


class DynamoDBTable:
    """Calls against the DynamoDB table ``name`` for a store.

    Error handling: timeouts, connection and botocore failures become ``error_type``
    (the store's own error class); ``ClientError`` is raised unchanged.

    ``client`` is an open DynamoDB client (aiobotocore's, or anything with its async
    methods) to use instead of opening one: a seam for callers that share a client and
    for tests that script DynamoDB's answers, such as cancellation reasons moto never
    gives.
    """

    def __init__(
        self,
        name: str,
        error_type: type[ShardlineError],
        endpoint_url: str | None = None,
        region_name: str = "us-east-1",
        client_options: dict[str, Any] | None = None,
        *,
        client: Any = None,
    ) -> None:
        self.name = name
        self.error_type = error_type
        self._options = {
            "endpoint_url": endpoint_url,
            "region_name": region_name,
            **(default_client_options() if client_options is None else client_options),
        }
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        #: A caller's client: used as is, never closed here.
        self._given: Any = client

    async def _dynamodb(self) -> Any:
        if self._given is not None:
            return self._given
        if self._client is None:
            session = get_session()
            self._client = await self._stack.enter_async_context(
                session.create_client("dynamodb", **self._options)
            )
        return self._client

    async def call(self, operation: str, **params: Any) -> Any:
        """Run ``operation`` (snake_case, e.g. ``"put_item"``) and return its response."""
        client = await self._dynamodb()
        try:
            return await getattr(client, operation)(**params)
        except ClientError:
            raise
        except (TimeoutError, BotoCoreError, OSError) as exc:
            raise self.error_type(f"DynamoDB {operation} on {self.name}: {exc}") from exc

    async def create(
        self, keys: list[tuple[str, str]], attribute_types: dict[str, str] | None = None
    ) -> None:
        """Create the table (on demand) if missing, then wait until it is ACTIVE.

        ``keys`` are ``(attribute, key type)`` pairs in key-schema order, e.g.
        ``[("pk", "HASH"), ("sk", "RANGE")]``; key attributes are strings unless
        ``attribute_types`` says otherwise.
        """
        types = attribute_types or {}
        try:
            await self.call(
                "create_table",
                TableName=self.name,
                KeySchema=[{"AttributeName": a, "KeyType": kind} for a, kind in keys],
                AttributeDefinitions=[
                    {"AttributeName": a, "AttributeType": types.get(a, "S")} for a, _ in keys
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise self.error_type(f"cannot create {self.name}: {exc}") from exc
        for _ in range(int(_ACTIVE_TIMEOUT / _ACTIVE_POLL)):
            try:
                table = (await self.call("describe_table", TableName=self.name))["Table"]
            except ClientError as exc:
                raise self.error_type(f"cannot describe {self.name}: {exc}") from exc
            if table["TableStatus"] == "ACTIVE":
                return
            await asyncio.sleep(_ACTIVE_POLL)
        raise self.error_type(f"table {self.name} did not become ACTIVE")

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None


class DynamoDBStore:
    """The base of a store kept in one DynamoDB table ``table``.

    A subclass names its error class (raised for transport failures, see
    :class:`DynamoDBTable`) and its key schema; it reaches the table as ``_table``.
    List it before the store's interface, so that these methods are the ones used.
    """

    #: The store's own error class.
    error_type: ClassVar[type[ShardlineError]]
    #: ``(attribute, key type)`` pairs in key-schema order, as :meth:`DynamoDBTable.create`
    #: takes them.
    key_schema: ClassVar[tuple[tuple[str, str], ...]]

    def __init__(
        self,
        table: str,
        endpoint_url: str | None = None,
        region_name: str = "us-east-1",
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.table = table
        self._table = DynamoDBTable(
            table, self.error_type, endpoint_url, region_name, client_options
        )

    async def ensure_table(self) -> None:
        """Create the table if missing and wait until it is ACTIVE."""
        await self._table.create(list(self.key_schema))

    async def close(self) -> None:
        """Close the client (it opens again on the next call)."""
        await self._table.close()
