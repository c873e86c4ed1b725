"""State stores: a local directory (default) or S3, behind :class:`ObjectStore`."""

from __future__ import annotations

import typing
import urllib.parse

from shardline.state.stores.base import ObjectStore
from shardline.state.stores.local import LocalStore
from shardline.state.stores.s3 import S3Store


def open_store(url: str, endpoint_url: str | None = None, **s3_options: typing.Any) -> ObjectStore:
    """``s3://bucket/prefix`` → :class:`S3Store`; a path or ``file://`` URL → :class:`LocalStore`.

    ``endpoint_url`` and ``s3_options`` (``region_name``, ``client_options``) apply
    to S3 only, e.g. a local S3 API or another region's bucket.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "s3":
        return S3Store(parsed.netloc, parsed.path, endpoint_url=endpoint_url, **s3_options)
    if parsed.scheme == "file":
        return LocalStore(parsed.path)
    return LocalStore(url)


__all__ = ["LocalStore", "ObjectStore", "S3Store", "open_store"]
