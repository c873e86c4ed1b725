"""Per-shard rate limiting at a percentage of Kinesis's write limits.

Kinesis lets each shard take 1,000 records/s and 1 MiB/s; beyond that it answers
ProvisionedThroughputExceededException. Sending far beyond the limit only buys
throttling errors and retries, so the producer holds records for a shard whose
allowance is used up, as the KPL does (RateLimit, default 150 %). Each shard has two
token buckets (Kinesis records, bytes) holding one second of allowance and refilled
on the monotonic clock. ``now`` is passed in, so tests drive the clock.
"""

from __future__ import annotations

from shardline.producer.config import SHARD_BYTES_PER_S, SHARD_RECORDS_PER_S


class _Bucket:
    __slots__ = ("rate", "tokens", "stamp")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = now

    def refill(self, now: float) -> float:
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return self.tokens

    def ready_in(self, amount: float) -> float:
        """Seconds until ``amount`` tokens (at most a full bucket) are available."""
        return max(0.0, (min(amount, self.rate) - self.tokens) / self.rate)


class ShardRateLimiter:
    """Token buckets per shard for ``percent`` % of the shard write limits."""

    def __init__(self, percent: int) -> None:
        self.records_per_s = SHARD_RECORDS_PER_S * percent / 100
        self.bytes_per_s = SHARD_BYTES_PER_S * percent / 100
        self._buckets: dict[str, tuple[_Bucket, _Bucket]] = {}

    def _pair(self, shard_id: str, now: float) -> tuple[_Bucket, _Bucket]:
        pair = self._buckets.get(shard_id)
        if pair is None:
            pair = self._buckets[shard_id] = (
                _Bucket(self.records_per_s, now),
                _Bucket(self.bytes_per_s, now),
            )
        pair[0].refill(now)
        pair[1].refill(now)
        return pair

    def allows(self, shard_id: str, size: int, now: float) -> bool:
        """Whether one more Kinesis record of ``size`` bytes may go to the shard now.

        A record larger than a whole second of byte allowance goes once the bucket is
        full (it then overdraws it), so no record waits forever.
        """
        records, data = self._pair(shard_id, now)
        return records.tokens >= 1 and data.tokens >= min(size, data.rate)

    def consume(self, shard_id: str, size: int, now: float) -> None:
        records, data = self._pair(shard_id, now)
        records.tokens -= 1
        data.tokens -= size

    def ready_at(self, shard_id: str, size: int, now: float) -> float:
        """Monotonic time at which a record of ``size`` bytes will be allowed."""
        records, data = self._pair(shard_id, now)
        return now + max(records.ready_in(1), data.ready_in(size))

    def forget(self) -> None:
        """Drop every bucket (the shards changed: new map or new destination)."""
        self._buckets.clear()
