"""``shardline verify`` and ``shardline recover`` as processes, on real data directories."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from damage import (
    FAST,
    assert_intact_or_reported,
    database,
    digest,
    fill,
    flip,
    read_everything,
    settle,
    shardline,
    verify_json,
)

from shardline.testing import RegionProcess, kinesis_client, wait_active

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                "Action": "kinesis:GetRecords",
                "Resource": "*",
            }
        ],
    }
)


def _describe(url: str) -> dict[str, Any]:
    """Everything about the region's streams that recover must keep."""
    client = kinesis_client(url)
    state = {}
    for name in sorted(client.list_streams()["StreamNames"]):
        summary = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        arn = summary["StreamARN"]
        state[name] = {
            "summary": {k: v for k, v in summary.items() if k != "OpenShardCount"},
            "shards": client.list_shards(StreamName=name)["Shards"],
            "tags": client.list_tags_for_stream(StreamName=name)["Tags"],
            "consumers": client.list_stream_consumers(StreamARN=arn)["Consumers"],
            "policy": client.get_resource_policy(ResourceARN=arn)["Policy"],
        }
    return state


def test_verify_passes_a_healthy_region_while_it_runs(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    fill(region.url, "orders", batches=5, shards=2)
    fill(region.url, "secret", batches=5, encrypt=True)

    done = shardline("verify", "--data-dir", str(region.data_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "clean: no damage found." in done.stdout
    status, report = verify_json(region.data_dir)
    assert status == 0 and report["clean"] and report["findings"] == []
    assert (report["streams"], report["shards"], report["records"]) == (2, 3, 500)
    full = shardline("verify", "--data-dir", str(region.data_dir), "--full")
    assert full.returncode == 0, full.stdout


def test_verify_names_damage_by_stream_shard_and_range_and_changes_nothing(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    acked = fill(region.url, "orders", batches=10)
    settle(region)
    db = database(region.data_dir)
    flip(db, db.read_bytes().find(b"orders-b004-r007-") + 5)
    before = {k: v for k, v in digest(region.data_dir).items() if not k.endswith("-shm")}

    status, report = verify_json(region.data_dir)

    after = {k: v for k, v in digest(region.data_dir).items() if not k.endswith("-shm")}
    assert after == before  # (SQLite may rebuild the transient wal-index, -shm)
    assert status == 1 and not report["clean"]
    (finding,) = report["findings"]
    assert (finding["kind"], finding["stream"], finding["shard"]) == (
        "records",
        "orders",
        "shardId-000000000000",
    )
    assert "checksum mismatch" in finding["message"]
    region.start()
    served = read_everything(region.url, "orders")
    lost = assert_intact_or_reported(acked, served)
    # verify and the server agree on the range, to the sequence number.
    assert (finding["first_sequence"], finding["last_sequence"]) == (
        served.damaged[0].first_sequence,
        served.damaged[0].last_sequence,
    )
    assert finding["first_sequence"] <= lost[0] and lost[-1] <= finding["last_sequence"]


def test_recover_keeps_streams_consumers_tags_policies_keys_and_sequence_numbers(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    client = kinesis_client(region.url)
    acked = fill(region.url, "orders", batches=6, shards=2)
    client.split_shard(
        StreamName="orders", ShardToSplit="shardId-000000000001", NewStartingHashKey=str(2**127 + 9)
    )
    wait_active(client, "orders")
    acked.update(fill(region.url, "secret", batches=4, encrypt=True))
    client.start_stream_encryption(StreamName="secret", EncryptionType="KMS", KeyId="alias/mine")
    acked.update(fill(region.url, "later", batches=2))
    arn = client.describe_stream_summary(StreamName="orders")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    client.add_tags_to_stream(StreamName="orders", Tags={"team": "payments"})
    client.increase_stream_retention_period(StreamName="orders", RetentionPeriodHours=48)
    client.register_stream_consumer(StreamARN=arn, ConsumerName="audit")
    client.put_resource_policy(ResourceARN=arn, Policy=POLICY)
    iterator = client.get_shard_iterator(
        StreamName="orders", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    state = _describe(region.url)
    region.kill()
    before = digest(region.data_dir)

    recovered = tmp_path / "recovered"
    done = shardline("recover", "--data-dir", str(region.data_dir), "--to", str(recovered))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Nothing was lost." in done.stdout
    assert digest(region.data_dir) == before  # the original was only read
    region.data_dir = recovered
    region.start()
    assert _describe(region.url) == state
    served = {}
    for stream in ("orders", "secret", "later"):
        served.update(read_everything(region.url, stream).records)
    assert served == acked
    client = kinesis_client(region.url)
    assert client.get_records(ShardIterator=iterator)["Records"]  # iterators still open
    put = client.put_record(StreamName="secret", Data=b"new", PartitionKey="p")
    assert put["EncryptionType"] == "KMS" and int(put["SequenceNumber"]) > max(map(int, acked))
    assert shardline("verify", "--data-dir", str(recovered)).returncode == 0


def test_recover_refuses_a_running_region_and_a_used_target(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    region = fresh_region(*FAST, data_dir=tmp_path / "region")
    fill(region.url, "orders", batches=1)
    done = shardline("recover", "--data-dir", str(region.data_dir), "--to", str(tmp_path / "new"))
    assert done.returncode == 75 and "another process" in done.stderr
    assert not (tmp_path / "new" / "shardline.db").exists()
    region.stop()
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    done = shardline("recover", "--data-dir", str(region.data_dir), "--to", str(used))
    assert done.returncode == 73 and "not empty" in done.stderr
