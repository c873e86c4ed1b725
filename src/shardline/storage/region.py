"""One Kinesis region: the stream catalog and the control-plane operations on it.

The region runs on the event loop thread and owns the in-memory catalog; durable
changes go through the storage engine, and an operation returns only after its
change is committed. Operations raise the Kinesis errors AWS would raise, with AWS's
messages; they take and return Python values, and ``server.handlers`` maps those to
wire shapes. The data plane (records in and out) is ``records.RecordLog``, reached
as ``region.records``; enhanced fan-out consumers are ``consumers.Consumers``
(``region.consumers``).

The region composes its parts, and each part receives only the collaborators it
uses: the ``catalog.Catalog`` (streams by name, persisted), the ``engine``, the
``keys.KeyRegistry`` (KeyIds and the cipher), the ``throttle``, the ``metrics`` and
the ``tasks.BackgroundTasks`` that end state-transition periods. None of them knows
the region, and none knows a wire format: a request's ``StreamName``/``StreamARN``
is read by ``server.handlers``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Iterable

from shardline.errors import (
    InvalidArgumentException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)
from shardline.storage import account, resharding, schema
from shardline.storage.account import Commitment
from shardline.storage.catalog import (
    ON_DEMAND_INITIAL_SHARDS,
    Catalog,
    MergeChange,
    Reshard,
    ScaleChange,
    Shard,
    SplitChange,
    Stream,
    StreamMode,
    parse_shard_id,
    shard_id,
)
from shardline.storage.config import RegionConfig
from shardline.storage.consumers import Consumers
from shardline.storage.crypto import (
    RecordCipher,
    check_key_id,
    key_check_value,
    load_master_key,
)
from shardline.storage.damage import DamageReports
from shardline.storage.engine import StorageEngine
from shardline.storage.exceptions import DatabaseDamaged, MasterKeyMismatch
from shardline.storage.files import warn_if_key_beside_data
from shardline.storage.hashing import even_ranges
from shardline.storage.integrity import preflight
from shardline.storage.iterators import TokenSigner
from shardline.storage.keys import KeyRegistry
from shardline.storage.metrics import SHARD_LEVEL_METRICS, RegionMetrics
from shardline.storage.records import RecordLog
from shardline.storage.sequence import arrival_ms, key_for_time, now_ms
from shardline.storage.tags import check_characters, check_count, check_tags
from shardline.storage.tasks import BackgroundTasks
from shardline.storage.throttle import ShardThrottle

log = logging.getLogger(__name__)

MIN_RETENTION_HOURS = 24
#: Warm throughput an on-demand stream may ask for (AWS's default limit: 10 GiB/s).
MAX_WARM_THROUGHPUT_MIBPS = 10 * 1024
MAX_RETENTION_HOURS = 8760


class Region:
    """The catalog of one region's streams and the Kinesis operations on them."""

    def __init__(self, config: RegionConfig) -> None:
        """Open the data directory (see ``preflight`` for the checks made first).

        Error handling: ``StartupRefused`` (a one-line message naming the file, the
        cause and the next command) when the directory is unusable or locked, the
        database or its log is damaged, or the master key is not the database's.
        """
        self.config = config
        self.throttle = ShardThrottle() if config.enforce_throughput else None
        #: Stream and shard metrics (None: not counted, see ``RegionConfig.metrics``).
        self.metrics = RegionMetrics() if config.metrics else None
        self.tasks = BackgroundTasks()
        self._key_placement_checked = False
        self._lock = preflight.open_data_dir(config.data_dir, config.database_path)
        try:
            self.engine = StorageEngine(config.database_path, config.durability, wal=config.wal)
            self.catalog = Catalog(self.engine, config.account_id, config.stream_arn(""))
            self.signer = TokenSigner(self.engine.run_now(self._load))
        except sqlite3.DatabaseError as exc:
            self._abandon()
            raise DatabaseDamaged(
                f"{config.database_path}: SQLite cannot read it ({exc}). Nothing was changed. "
                f"Run `shardline verify --data-dir {config.data_dir}` for details, then "
                f"`shardline recover --data-dir {config.data_dir} --to NEW_DIR`."
            ) from None
        except BaseException:
            self._abandon()
            raise
        self.consumers = Consumers(self.catalog, self.tasks, config)
        self.records = RecordLog(
            self.catalog,
            self.engine,
            self.keys,
            DamageReports(config.data_dir),
            throttle=self.throttle,
            metrics=self.metrics,
            verify_checksums=config.verify_checksums,
        )

    def _abandon(self) -> None:
        """Release what a failed start took (the engine, if it opened, and the lock)."""
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.close()
        self._lock.release()

    # -- start-up and shutdown ---------------------------------------------------------

    def _load(self, conn: sqlite3.Connection) -> bytes:
        """Rebuild the catalog from disk; returns the token secret (creating it once)."""
        secret = self._meta(conn, "token_secret")
        fresh = secret is None
        if secret is None:
            secret = os.urandom(32)
            conn.execute("INSERT INTO meta VALUES ('token_secret', ?)", (secret,))
        self.keys = KeyRegistry(self.engine, self._open_cipher(conn, fresh))
        self.commitment = account.load(conn)
        self.keys.load(conn)
        if schema.needs_upgrade(conn):
            self._upgrade(conn)
        self.catalog.load(conn)
        return bytes(secret)

    @staticmethod
    def _meta(conn: sqlite3.Connection, key: str) -> bytes | None:
        row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def _open_cipher(self, conn: sqlite3.Connection, fresh: bool) -> RecordCipher:
        """Load the master key and check it against the database's key check value.

        A database from before key checks has none: its key file is created only if
        no chunk is encrypted, and checked by opening chunks during the upgrade.
        """
        path = self.config.key_path
        check = self._meta(conn, "key_check")
        legacy = check is None and not fresh
        if legacy and not path.exists():
            encrypted = conn.execute("SELECT 1 FROM chunks WHERE key_ref != 0 LIMIT 1")
            if encrypted.fetchone():
                raise MasterKeyMismatch(
                    f"{path}: the master key file is missing, and the database holds "
                    "encrypted records. Restore the original key file, or pass it with "
                    "--master-key-file."
                )
        key = load_master_key(path, check)
        if check is None:
            conn.execute("INSERT INTO meta VALUES ('key_check', ?)", (key_check_value(key),))
        return RecordCipher(key)

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        """Checksum the chunks of a database written before checksums (``schema``)."""
        log.warning("%s predates chunk checksums; upgrading it", self.config.database_path)
        report = schema.upgrade(conn, self.keys.unseal)
        if report.sealed_failed and not report.sealed_opened:
            raise MasterKeyMismatch(
                f"{self.config.key_path}: none of the {report.sealed_failed} encrypted chunks "
                f"of {self.config.database_path} opens with this master key. Restore the "
                "original key file, or pass it with --master-key-file."
            )
        log.warning(
            "upgraded %s: %d chunks checksummed, %d failed their checks and will be reported "
            "as damaged: %s",
            self.config.database_path,
            report.checksummed,
            len(report.unreadable),
            "; ".join(
                f"shard uid {u.shard_uid} keys {u.first_key}..{u.last_key}: {u.cause}"
                for u in report.unreadable
            )
            or "none",
        )

    async def start(self) -> None:
        """Finish transitions interrupted by a restart and start background trimming.

        A stream caught UPDATING completes its accepted change (a reshard included)
        rather than forgetting it: the call that asked for it was acknowledged.
        """
        for stream in list(self.streams.values()):
            if stream.status == "DELETING":
                await self._purge(stream)
            elif stream.status != "ACTIVE":
                await self._become_active(stream)
        self._check_key_placement()
        self.tasks.spawn(self._trim_loop())

    def _check_key_placement(self) -> None:
        """Warn once if an encrypted stream's master key sits beside its data."""
        encrypted = any(s.encryption == "KMS" for s in self.streams.values())
        if encrypted and not self._key_placement_checked:
            self._key_placement_checked = True
            warn_if_key_beside_data(self.config.key_path, self.config.data_dir)

    async def close(self) -> None:
        await self.tasks.close()
        self.engine.close()
        self._lock.release()

    # -- helpers --------------------------------------------------------------------------

    @property
    def account(self) -> str:
        return self.config.account_id

    @property
    def streams(self) -> dict[str, Stream]:
        """The region's streams by name (the catalog's, see ``catalog.Catalog``)."""
        return self.catalog.streams

    def not_found(self, name: str) -> ResourceNotFoundException:
        return self.catalog.not_found(name)

    def describe(self, name: str) -> Stream:
        """Any stream that exists, whatever its status."""
        return self.catalog.describe(name)

    def readable(self, name: str) -> Stream:
        """A stream that serves records: ACTIVE or UPDATING."""
        return self.catalog.readable(name)

    def _mutable(self, name: str) -> Stream:
        """A stream that accepts a control-plane change: ACTIVE only."""
        stream = self.describe(name)
        if stream.status != "ACTIVE":
            raise ResourceInUseException(
                f"Stream {name} under account {self.account} not ACTIVE, "
                f"instead in state {stream.status}"
            )
        return stream

    def shard_index(self, stream_name: str, text: str) -> int:
        """The index a ShardId names, read as AWS reads it (``shardId-5`` is shard 5).

        An unreadable ShardId is refused before the stream is looked up, so a missing
        stream with a bad ShardId gets this message too, as on AWS. GetShardIterator,
        SplitShard and MergeShards all read ShardIds through here.
        """
        index = parse_shard_id(text)
        if index is None:
            raise ResourceNotFoundException(
                f"Could not find shard {text} in stream {stream_name} under account {self.account}."
            )
        return index

    def _reshardable(self, stream: Stream, index: int) -> Shard:
        """An open shard of ``stream`` that SplitShard or MergeShards may take."""
        shard = stream.shards.get(index)
        if shard is None:
            raise ResourceNotFoundException(
                f"Could not find shard {shard_id(index)} in stream {stream.name} under account "
                f"{self.account}."
            )
        if not shard.is_open:
            raise InvalidArgumentException(
                f"Shard {shard.shard_id} in stream {stream.name} under account {self.account} "
                "has already been merged or split, and thus is not eligible for merging or "
                "splitting."
            )
        return shard

    async def persist(self, stream: Stream) -> None:
        """Write ``stream``'s document (see ``Catalog.persist``)."""
        await self.catalog.persist(stream)

    async def _become_active(self, stream: Stream) -> None:
        """End a CREATING or UPDATING period: what waited for it takes effect now.

        A pending reshard is applied here, as AWS applies one when the stream becomes
        ACTIVE (until then the old open shards are listed and take the writes):

        1. Parents close at a key above every key already handed out, children open
           above it and the routes are rebuilt, all without yielding to the event
           loop: each put routes wholly before the switch (to a parent) or wholly
           after it (to a child).
        2. In the same step the stream document is queued for the writer
           (``persist`` queues before it first yields), ahead of any write routed to a
           child, so no child record can be committed without its shard on disk.
        3. Once the document is durable the parents are sealed and their readers
           woken: a reader declares a parent ended only when it is sealed and has no
           write in flight (``RecordLog.read``), so no acknowledged record is missed.
        """
        if self.streams.get(stream.name) is not stream or stream.status == "DELETING":
            return  # deleted meanwhile
        stream.status = "ACTIVE"
        stream.ever_active = True
        stream.warm_current_mibps = stream.warm_target_mibps
        change, stream.pending = stream.pending, None
        if change is not None:
            resharding.apply(stream, change, self.catalog.new_uid)
        await self.persist(stream)
        if change is not None:
            for shard in stream.shards.values():
                shard.sealed = shard.closed_key is not None
                self.records.wake(shard)

    async def _change(self, stream: Stream) -> None:
        """Persist an accepted control-plane change, holding the stream UPDATING for
        the update delay; what must wait for ACTIVE (a reshard, warm throughput)
        completes in ``_become_active``, at once when there is no delay."""
        if self.config.update_delay_s > 0:
            stream.status = "UPDATING"
            await self.persist(stream)
            self.tasks.after(self.config.update_delay_s, lambda: self._become_active(stream))
        else:
            await self._become_active(stream)

    def open_shard_count(self) -> int:
        return sum(len(s.open_shards()) for s in self.streams.values())

    def _check_shard_limit(self, extra: int) -> None:
        current = self.open_shard_count()
        if current + extra > self.config.shard_limit:
            raise LimitExceededException(
                f"This request would exceed the shard limit for the account {self.account} in "
                f"{self.config.region}. Current shard count for the account: {current}. "
                f"Limit: {self.config.shard_limit}. Number of additional shards that would have "
                f"resulted from this request: {extra}. Refer to the AWS Service Limits page "
                "(https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for "
                "current limits and how to request higher limits."
            )

    # -- stream lifecycle -------------------------------------------------------------------

    async def create_stream(
        self,
        name: str,
        shard_count: int | None,
        mode: StreamMode,
        tags: dict[str, str],
        max_record_size_kib: int | None,
        warm_throughput_mibps: int | None = None,
    ) -> None:
        check_tags(tags)
        if name in self.streams:
            raise ResourceInUseException(
                f"Stream {name} under account {self.account} already exists."
            )
        if mode == "PROVISIONED" and shard_count is None:
            raise InvalidArgumentException("ShardCount is required for PROVISIONED streams.")
        if mode == "ON_DEMAND":
            self._check_on_demand_limit()
            shard_count = shard_count or ON_DEMAND_INITIAL_SHARDS
        assert shard_count is not None
        self._check_shard_limit(shard_count)
        check_count({}, tags)
        if warm_throughput_mibps is not None:
            self._check_warm_throughput(mode, warm_throughput_mibps)
        created = now_ms()
        stream = Stream(
            name=name,
            arn=self.config.stream_arn(name),
            created_ms=created,
            mode=mode,
            tags=dict(tags),
        )
        if max_record_size_kib is not None:
            stream.max_record_size_kib = max_record_size_kib
        stream.warm_target_mibps = stream.warm_current_mibps = warm_throughput_mibps
        stream.last_key = key_for_time(created)
        for index, (start, end) in enumerate(even_ranges(shard_count)):
            stream.shards[index] = Shard(
                index=index,
                uid=self.catalog.new_uid(),
                start_hash=start,
                end_hash=end,
                created_key=stream.last_key,
                last_key=stream.last_key,
            )
        stream.next_shard_index = shard_count
        stream.rebuild_routes()
        self.streams[name] = stream
        if self.config.create_delay_s <= 0:
            stream.status = "ACTIVE"
            stream.ever_active = True
        try:
            await self.persist(stream)
        except Exception:
            self.streams.pop(name, None)
            raise
        if stream.status == "CREATING":
            self.tasks.after(self.config.create_delay_s, lambda: self._become_active(stream))

    def _check_on_demand_limit(self) -> None:
        on_demand = sum(1 for s in self.streams.values() if s.mode == "ON_DEMAND")
        if on_demand >= self.config.on_demand_stream_limit:
            raise LimitExceededException(
                f"This request would exceed the on-demand stream limit for the account "
                f"{self.account} in {self.config.region}. Limit: "
                f"{self.config.on_demand_stream_limit}."
            )

    async def delete_stream(self, name: str, enforce_consumer_deletion: bool) -> None:
        stream = self.describe(name)
        if stream.status == "DELETING":
            return
        if stream.consumers and not enforce_consumer_deletion:
            raise ResourceInUseException(
                f"Stream {name} under account {self.account} has registered consumers. "
                "Set EnforceConsumerDeletion to true to delete the stream and its consumers."
            )
        stream.status = "DELETING"
        await self.persist(stream)
        if self.config.delete_delay_s <= 0:
            await self._purge(stream)
        else:
            self.tasks.after(self.config.delete_delay_s, lambda: self._purge(stream))

    async def _purge(self, stream: Stream) -> None:
        uids = [s.uid for s in stream.shards.values()]

        def purge(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM streams WHERE name=?", (stream.name,))
            conn.executemany("DELETE FROM chunks WHERE shard_uid=?", [(u,) for u in uids])

        await self.engine.write(purge)
        if self.streams.get(stream.name) is stream:
            del self.streams[stream.name]
            if self.metrics is not None:
                self.metrics.forget(stream.name)
        for shard in stream.shards.values():
            self.records.wake(shard)

    # -- retention ----------------------------------------------------------------------------

    async def set_retention(self, name: str, hours: int, increase: bool) -> None:
        """Increase/DecreaseStreamRetentionPeriod: the absolute bounds are checked
        first, then the direction, in that order for both operations, as on AWS."""
        stream = self._mutable(name)
        current = stream.retention_hours
        if hours < MIN_RETENTION_HOURS:
            raise InvalidArgumentException(
                f"Minimum allowed retention period is {MIN_RETENTION_HOURS} hours. "
                f"Requested retention period ({hours} hours) is too short."
            )
        if hours > MAX_RETENTION_HOURS:
            raise InvalidArgumentException(
                f"Maximum allowed retention period is {MAX_RETENTION_HOURS} hours. "
                f"Requested retention period ({hours} hours) is too long."
            )
        if increase:
            if hours < current:
                raise InvalidArgumentException(
                    f"Requested retention period ({hours} hours) for stream {name} can not be "
                    f"shorter than existing retention period ({current} hours). "
                    "Use DecreaseRetentionPeriod API."
                )
        elif hours > current:
            raise InvalidArgumentException(
                f"Requested retention period ({hours} hours) for stream {name} can not be "
                f"longer than existing retention period ({current} hours). "
                "Use IncreaseRetentionPeriod API."
            )
        if hours == current:
            return
        stream.retention_hours = hours
        await self._change(stream)
        if not increase:
            await self.trim(stream)

    def trim_horizon_ms(self, stream: Stream) -> int:
        hour_ms = self.config.retention_hour_s * 1000
        return now_ms() - int(stream.retention_hours * hour_ms)

    async def trim(self, stream: Stream) -> None:
        """Delete records older than the retention period; forget long-closed shards."""
        cutoff_ms = self.trim_horizon_ms(stream)
        cutoff = key_for_time(cutoff_ms)
        uids = [s.uid for s in stream.shards.values()]
        # Readers learn the new trim point before any chunk below it disappears, and
        # it is saved with the deletion, so a chain that starts below it is no damage.
        stream.trimmed_key = max(stream.trimmed_key, cutoff)
        doc = stream.to_doc()

        def delete(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM chunks WHERE shard_uid=? AND last_key<?", [(u, cutoff) for u in uids]
            )
            conn.execute("UPDATE streams SET doc=? WHERE name=?", (doc, stream.name))

        await self.engine.write(delete)
        expired = [
            s
            for s in stream.shards.values()
            if s.closed_key is not None and arrival_ms(s.closed_key) < cutoff_ms and s.inflight == 0
        ]
        if expired and self.streams.get(stream.name) is stream:
            for shard in expired:
                del stream.shards[shard.index]
            await self.persist(stream)

    async def _trim_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.trim_interval_s)
            for stream in list(self.streams.values()):
                if stream.status in ("ACTIVE", "UPDATING"):
                    try:
                        await self.trim(stream)
                    except Exception:
                        log.exception("trimming %s failed", stream.name)

    # -- control plane changes ------------------------------------------------------------

    async def split_shard(self, name: str, shard_text: str, new_start: int) -> None:
        """SplitShard: the new child's start must leave each child at least two keys.

        The split is accepted now and happens when the stream becomes ACTIVE again
        (``_reshard``).
        """
        index = self.shard_index(name, shard_text)
        stream = self._mutable(name)
        shard = self._reshardable(stream, index)
        if not shard.start_hash + 1 < new_start < shard.end_hash:
            raise InvalidArgumentException(
                f"NewStartingHashKey {new_start} used in SplitShard() on shard {shard.shard_id} "
                f"in stream {name} under account {self.account} is not both greater than one "
                f"plus the shard's StartingHashKey {shard.start_hash} and less than the shard's "
                f"EndingHashKey {shard.end_hash}."
            )
        self._check_shard_limit(1)
        await self._reshard(stream, SplitChange(shard.index, new_start))

    async def merge_shards(self, name: str, shard_text: str, adjacent_text: str) -> None:
        """MergeShards: ``AdjacentShardToMerge`` must follow ``ShardToMerge`` in hash
        order, as AWS requires; the merge happens when the stream becomes ACTIVE."""
        index = self.shard_index(name, shard_text)
        adjacent_index = self.shard_index(name, adjacent_text)
        stream = self._mutable(name)
        shard = self._reshardable(stream, index)
        adjacent = self._reshardable(stream, adjacent_index)
        if shard.end_hash + 1 != adjacent.start_hash:
            raise InvalidArgumentException(
                f"Shards {shard.shard_id} and {adjacent.shard_id} in stream {name} under "
                f"account {self.account} are not an adjacent pair of shards eligible for merging"
            )
        await self._reshard(stream, MergeChange(shard.index, adjacent.index))

    async def _reshard(self, stream: Stream, change: Reshard) -> None:
        """Accept a lineage change: the stream turns UPDATING with the change pending.

        The pending change is part of the stream document, so a restart during the
        UPDATING period completes it (``start``). Until ``_become_active`` applies it,
        the old open shards stay listed and keep taking writes, as on AWS.
        """
        stream.pending = change
        await self._change(stream)

    async def update_shard_count(self, name: str, target: int) -> int:
        stream = self._mutable(name)
        if stream.mode == "ON_DEMAND":
            raise ValidationException(
                "UpdateShardCount is not supported for streams in ON_DEMAND mode."
            )
        current = len(stream.open_shards())
        if target > current * 2:
            raise InvalidArgumentException(
                f"UpdateShardCount cannot scale up over double your current open shard count. "
                f"Current open shard count: {current} Target shard count: {target}"
            )
        if target * 2 < current:
            raise InvalidArgumentException(
                f"UpdateShardCount cannot scale down below half your current open shard count. "
                f"Current open shard count: {current} Target shard count: {target}"
            )
        self._check_shard_limit(target - current)
        if target != current or any(
            (s.start_hash, s.end_hash) not in even_ranges(current) for s in stream.open_shards()
        ):
            await self._reshard(stream, ScaleChange(target))
        return current

    async def update_stream_mode(
        self, name: str, mode: StreamMode, warm_throughput_mibps: int | None = None
    ) -> None:
        stream = self._mutable(name)
        if stream.mode == mode:
            raise ResourceInUseException(
                f"Stream {name} under account {self.account} is already in {mode} mode."
            )
        if warm_throughput_mibps is not None:
            self._check_warm_throughput(mode, warm_throughput_mibps)
        stream.mode = mode
        stream.warm_target_mibps = warm_throughput_mibps
        if mode == "PROVISIONED":
            stream.warm_current_mibps = None
        await self._change(stream)

    async def update_max_record_size(self, name: str, kib: int) -> None:
        stream = self._mutable(name)
        stream.max_record_size_kib = kib
        await self._change(stream)

    async def set_encryption(self, name: str, encryption: str, key_id: str) -> None:
        stream = self._mutable(name)
        if encryption == "KMS":
            check_key_id(key_id)
            await self.keys.ref(key_id)
            stream.encryption, stream.key_id = "KMS", key_id
            self._check_key_placement()
        else:
            if stream.encryption == "NONE":
                return
            stream.encryption, stream.key_id = "NONE", None
        await self._change(stream)

    async def set_monitoring(self, name: str, metrics: Iterable[str], enable: bool) -> list[str]:
        """Returns the metrics enabled before the change."""
        stream = self._mutable(name)
        before = list(stream.shard_level_metrics)
        chosen = set(SHARD_LEVEL_METRICS if "ALL" in metrics else metrics)
        current = set(before)
        current = current | chosen if enable else current - chosen
        stream.shard_level_metrics = [m for m in SHARD_LEVEL_METRICS if m in current]
        await self.persist(stream)
        return before

    # -- account settings and warm throughput ---------------------------------------------

    async def update_commitment(self, enable: bool) -> Commitment:
        """UpdateAccountSettings: start, cancel the end of, or end the commitment."""
        now = now_ms()
        commitment = self.commitment.enable(now) if enable else self.commitment.disable(now)

        def save(conn: sqlite3.Connection) -> None:
            account.save(conn, commitment)

        await self.engine.write(save)
        self.commitment = commitment
        return commitment

    def _check_warm_throughput(self, mode: StreamMode, mibps: int) -> None:
        """Warm throughput is for on-demand streams of committed accounts, up to 10 GiB/s."""
        if mode != "ON_DEMAND":
            raise InvalidArgumentException(
                "Warm throughput is only supported for streams in ON_DEMAND mode."
            )
        if not self.commitment.active(now_ms()):
            raise InvalidArgumentException(
                "Warm throughput requires the account's MinimumThroughputBillingCommitment to be "
                "enabled. Enable it with UpdateAccountSettings first."
            )
        if mibps > MAX_WARM_THROUGHPUT_MIBPS:
            raise LimitExceededException(
                f"Requested warm throughput ({mibps} MiBps) exceeds the limit of "
                f"{MAX_WARM_THROUGHPUT_MIBPS} MiBps for an on-demand stream."
            )

    async def update_warm_throughput(self, name: str, mibps: int) -> Stream:
        """UpdateStreamWarmThroughput: the stream turns UPDATING and is scaled to the
        target when it becomes ACTIVE again."""
        stream = self._mutable(name)
        self._check_warm_throughput(stream.mode, mibps)
        stream.warm_target_mibps = mibps
        await self._change(stream)
        return stream

    # -- tags ------------------------------------------------------------------------------

    async def add_tags(self, name: str, added: dict[str, str]) -> None:
        check_tags(added)
        stream = self.describe(name)
        if stream.status == "DELETING":
            raise self.not_found(name)
        check_count(stream.tags, added)
        stream.tags.update(added)
        await self.persist(stream)

    async def remove_tags(self, name: str, keys: list[str]) -> None:
        check_characters(keys)
        stream = self.describe(name)
        if stream.status == "DELETING":
            raise self.not_found(name)
        for key in keys:
            stream.tags.pop(key, None)
        await self.persist(stream)
