"""Shardline: a highly available streaming platform modelled on Amazon Kinesis.

Layering (imports point one way):

- ``errors``: the one exception hierarchy, shared by server and clients.
- ``storage``: a region's durable state (SQLite engine, catalog, operations).
- ``server``: the Kinesis wire protocol in front of ``storage``; imported only by
  the CLI and tests.
- the toolkit (producer, consumer, replication, failover, state, sinks) speaks only
  the Kinesis API through a wire client, and keeps its own state in ``stores``.
- ``cli``: the ``shardline`` command, a thin layer over all of the above.
"""

from __future__ import annotations

from shardline.errors import KinesisError, ShardlineError

__version__ = "0.1.0"

__all__ = ["KinesisError", "ShardlineError", "__version__"]
