"""Cross-region replication: a consumer of one region that writes to another.

The public surface is :class:`Replicator` (``shardline replicate``): it follows the
control state and runs the replication run it names. Inner modules: ``replicator``
(the runs), ``copier`` (the record processor that copies one shard), ``progress``
(watermarks and reports), ``metrics``. The origin marker that prevents loops is
framing, in :mod:`shardline.framing.origin`.
"""

from __future__ import annotations

from shardline.replication.replicator import Replicator

__all__ = ["Replicator"]
