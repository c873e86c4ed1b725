"""The multi-machine store: an S3 bucket (or any S3-compatible API) and a prefix.

S3 gives what checkpoints need: a PUT is atomic (a reader sees the whole old or
the whole new object) and reads after writes are strongly consistent, so writing
the data objects first and the manifest last makes the manifest the commit point.
Copies are server-side (CopyObject). The bucket must exist.

Resource handling: the aiobotocore client is opened on first use and closed by
:meth:`close`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from shardline.credentials import default_client_options
from shardline.state.exceptions import StateNotFoundError, StateStoreError
from shardline.state.stores.base import ObjectStore

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Store(ObjectStore):
    """Objects under ``s3://bucket/prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region_name: str = "us-east-1",
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self._endpoint_url = endpoint_url
        self._region = region_name
        self._options = default_client_options() if client_options is None else client_options
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None

    async def _s3(self) -> Any:
        if self._client is None:
            self._client = await self._stack.enter_async_context(
                get_session().create_client(
                    "s3",
                    endpoint_url=self._endpoint_url,
                    region_name=self._region,
                    **self._options,
                )
            )
        return self._client

    def _failed(self, action: str, key: str, exc: Exception) -> StateStoreError:
        return StateStoreError(f"{action} {self.url}{key} failed: {exc}")

    def _missing_or_failed(
        self, action: str, key: str, exc: ClientError | BotoCoreError
    ) -> StateStoreError | StateNotFoundError:
        """S3's "no such key" as StateNotFoundError, anything else as a store failure."""
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in _MISSING:
            return StateNotFoundError(f"{self.url}{key} does not exist")
        return self._failed(action, key, exc)

    async def put(self, key: str, data: bytes) -> None:
        try:
            await (await self._s3()).put_object(
                Bucket=self.bucket, Key=self.prefix + key, Body=data
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._failed("writing", key, exc) from exc

    async def get(self, key: str) -> bytes:
        try:
            response = await (await self._s3()).get_object(
                Bucket=self.bucket, Key=self.prefix + key
            )
            async with response["Body"] as body:
                data: bytes = await body.read()
            return data
        except (ClientError, BotoCoreError) as exc:
            raise self._missing_or_failed("reading", key, exc) from exc

    async def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            paginator = (await self._s3()).get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._failed("listing", prefix, exc) from exc
        return sorted(keys)

    async def delete(self, key: str) -> None:
        try:
            await (await self._s3()).delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed("deleting", key, exc) from exc

    async def copy(self, source: str, target: str) -> None:
        try:
            await (await self._s3()).copy_object(
                Bucket=self.bucket,
                Key=self.prefix + target,
                CopySource={"Bucket": self.bucket, "Key": self.prefix + source},
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._missing_or_failed("copying", source, exc) from exc

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()
