"""Per-shard throughput limits, enforced only when the operator asks for them.

Kinesis gives each provisioned shard 1,000 records/s and 1 MiB/s of writes and
5 GetRecords calls/s and 2 MiB/s of reads. Local development usually wants no limits
(the default), but testing a producer's back-off needs real
``ProvisionedThroughputExceededException``\\ s, so the limits are token buckets holding
one second of allowance, refilled on the monotonic clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

WRITE_RECORDS_PER_S = 1000
WRITE_BYTES_PER_S = 1024 * 1024
READ_CALLS_PER_S = 5
READ_BYTES_PER_S = 2 * 1024 * 1024


@dataclass
class _Bucket:
    rate: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


class ShardThrottle:
    """Token buckets per shard uid for writes (records, bytes) and reads (calls, bytes)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[int, str], _Bucket] = {}

    def _bucket(self, uid: int, kind: str, rate: float, now: float) -> _Bucket:
        bucket = self._buckets.get((uid, kind))
        if bucket is None:
            bucket = self._buckets[(uid, kind)] = _Bucket(rate, rate, now)
        bucket.refill(now)
        return bucket

    def admit_write(self, uid: int, size: int) -> bool:
        """Take one record of ``size`` bytes from the shard's write allowance, if it has it."""
        now = time.monotonic()
        records = self._bucket(uid, "wr", WRITE_RECORDS_PER_S, now)
        data = self._bucket(uid, "wb", WRITE_BYTES_PER_S, now)
        if records.tokens < 1 or data.tokens < size:
            return False
        records.tokens -= 1
        data.tokens -= size
        return True

    def admit_read(self, uid: int) -> bool:
        """Take one GetRecords call; refused while the byte allowance is overdrawn."""
        now = time.monotonic()
        calls = self._bucket(uid, "rc", READ_CALLS_PER_S, now)
        data = self._bucket(uid, "rb", READ_BYTES_PER_S, now)
        if calls.tokens < 1 or data.tokens < 0:
            return False
        calls.tokens -= 1
        return True

    def charge_read(self, uid: int, size: int) -> None:
        """Charge the bytes a GetRecords returned (may overdraw, as on AWS)."""
        self._bucket(uid, "rb", READ_BYTES_PER_S, time.monotonic()).tokens -= size
