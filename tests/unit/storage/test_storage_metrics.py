"""Region metrics as storage counts them: histogram buckets and per-stream counts."""

from __future__ import annotations

from shardline.storage.metrics import Histogram, StreamMetrics


def test_histogram_buckets_are_cumulative_and_end_at_infinity() -> None:
    histogram = Histogram((0.01, 0.1, 1.0))
    for value in (0.005, 0.01, 0.05, 0.5, 7.0):
        histogram.observe(value)
    assert histogram.cumulative() == [("0.01", 2.0), ("0.1", 3.0), ("1.0", 4.0), ("+Inf", 5.0)]
    assert histogram.total == 0.005 + 0.01 + 0.05 + 0.5 + 7.0


def test_a_put_records_call_counts_stored_throttled_and_failed_entries() -> None:
    stream = StreamMetrics()
    stream.put(single=False, stored=3, size=30, throttled=2, failed=0, seconds=0.002)
    stream.put(single=False, stored=0, size=0, throttled=0, failed=4, seconds=0.5)
    stream.put(single=True, stored=1, size=9, throttled=0, failed=0, seconds=0.001)
    assert stream.incoming_records == 4 and stream.incoming_bytes == 39
    assert stream.put_records_total == 9
    assert stream.put_records_success == 1  # a call with at least one stored record
    assert stream.put_records_throttled == 2 and stream.write_throttled == 2
    assert stream.put_records_failed == 4
    assert stream.put_record_success == 1 and stream.put_record_bytes == 9
    assert sum(stream.put_records_latency.counts) == 2
