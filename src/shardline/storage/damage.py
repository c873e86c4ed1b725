"""Damaged stored records as the client sees them, and as the operator is told.

A read that meets damage (``scan`` raises ``ShardDamage``) answers with a wire error
naming the shard and the damaged range; the operator gets one log line per range,
with the commands that list and salvage it, however often clients retry.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shardline.errors import DamagedRecords, InternalFailure
from shardline.storage.catalog import Shard, Stream
from shardline.storage.exceptions import IndexDamage, ShardDamage
from shardline.storage.sequence import format_sequence

#: The region's logger: operators filter on it, and these lines were always its.
log = logging.getLogger("shardline.storage.region")


class DamageReports:
    """Turns ``ShardDamage`` into the wire error, logging each damaged range once."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._reported: set[tuple[int, int, int]] = set()

    def error(self, stream: Stream, shard: Shard, damage: ShardDamage) -> InternalFailure:
        """The wire error for damaged records of ``shard``, logged the first time."""
        first = format_sequence(max(damage.first_key, shard.created_key), shard.index)
        last = format_sequence(max(damage.last_key, damage.first_key), shard.index)
        seen = (shard.uid, damage.first_key, damage.last_key)
        if seen not in self._reported:
            self._reported.add(seen)
            log.error(
                "stream %s %s: records %s to %s cannot be served: %s. `shardline verify "
                "--data-dir %s` lists all damage; `shardline recover` salvages the rest.",
                stream.name,
                shard.shard_id,
                first,
                last,
                damage.cause,
                self._data_dir,
            )
        if isinstance(damage, IndexDamage):
            return InternalFailure(
                f"The chunk index of {shard.shard_id} in stream {stream.name} is damaged from "
                f"sequence number {first} on ({damage.cause}); its records cannot be located "
                "until the region's operator runs `shardline recover`."
            )
        return DamagedRecords(stream.name, shard.shard_id, first, last, damage.cause)
