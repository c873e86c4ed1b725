"""Cross-region replication: a consumer of one region that writes to another.

The public surface is :class:`Replicator` (``shardline replicate``): it follows the
control state and runs the replication run it names. Inner modules: ``replicator``
(the runs), ``copier`` (the record processor that copies one shard), ``progress``
(watermarks and reports), ``origin`` (the origin marker that prevents loops),
``metrics``.

:class:`Replicator` is imported on first use, not with the package: the consumer
imports ``replication.origin`` (issue 15, item 2 moves it to the ground floor), and
an eager import here would import the consumer's scheduler back while the consumer
is still being imported.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from shardline.replication.replicator import Replicator

__all__ = ["Replicator"]


def __getattr__(name: str) -> typing.Any:
    if name == "Replicator":
        from shardline.replication.replicator import Replicator

        return Replicator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
