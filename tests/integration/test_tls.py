"""HTTPS on a region's port: local certificates, real clients, and the HA toolkit.

``shardline certs create`` makes a CA and a server certificate; a region serves
them with ``--tls-cert``/``--tls-key``. boto3 (``verify=ca.pem``), the AWS CLI
(``--ca-bundle``) and raw TLS sockets talk to it here; the JS SDK v3 over HTTPS is in
``test_js_sdk``. The producer and the replicator reach HTTPS regions with the CA
named in their destination or in the topology file.
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import SSLError
from cryptography import x509
from producer_helpers import config as producer_config
from prometheus_client import CollectorRegistry
from test_aws_cli import Cli

from shardline.framing import origin
from shardline.producer import Destination, SyncProducer
from shardline.server.certs import LocalCertificates, create_local_certificates
from shardline.testing import (
    RegionProcess,
    ShardlineProcess,
    active_consumer,
    kinesis_client,
    read_stream,
    wait_active,
    wait_for,
    write_topology,
)

FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")
SHARD0 = "shardId-000000000000"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificates:
    return create_local_certificates(tmp_path_factory.mktemp("certs"))


def _tls_args(certs: LocalCertificates) -> tuple[str, ...]:
    return ("--tls-cert", str(certs.cert), "--tls-key", str(certs.key))


@pytest.fixture(scope="module")
def tls_region(
    certs: LocalCertificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegionProcess]:
    with RegionProcess(tmp_path_factory.mktemp("tls"), *FAST, *_tls_args(certs)) as region:
        yield region


def _stream(kinesis: Any, shards: int = 1) -> str:
    name = f"tls-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    wait_active(kinesis, name)
    return name


def test_certs_create_writes_a_ca_and_a_loopback_server_certificate(tmp_path):
    directory = tmp_path / "certs"
    command = [sys.executable, "-m", "shardline", "certs", "create", str(directory)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    for name, mode in (("ca.pem", 0o644), ("server.pem", 0o600), ("server-key.pem", 0o600)):
        assert stat.S_IMODE((directory / name).stat().st_mode) == mode, name
    cert = x509.load_pem_x509_certificate((directory / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode != 0
    assert "--replace" in again.stderr


def test_boto3_puts_reads_and_subscribes_over_https(tls_region, certs):
    assert tls_region.url.startswith("https://")
    kinesis = kinesis_client(tls_region.url, verify=str(certs.ca), read_timeout=30)
    name = _stream(kinesis)
    kinesis.put_record(StreamName=name, Data=b"over tls", PartitionKey="k")
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId=SHARD0, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [
        b"over tls"
    ]
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = active_consumer(kinesis, arn, "c")
    events = kinesis.subscribe_to_shard(
        ConsumerARN=consumer,
        ShardId=SHARD0,
        StartingPosition={"Type": "TRIM_HORIZON"},
    )["EventStream"]
    for event in events:
        records = event["SubscribeToShardEvent"]["Records"]
        if records:
            assert [r["Data"] for r in records] == [b"over tls"]
            break
    events.close()


def test_a_client_without_the_ca_refuses_the_certificate(tls_region):
    with pytest.raises(SSLError):
        kinesis_client(tls_region.url).list_streams()


def test_the_aws_cli_lists_streams_over_https_with_its_ca_bundle(tls_region, certs, tmp_path):
    kinesis = kinesis_client(tls_region.url, verify=str(certs.ca))
    name = _stream(kinesis)
    cli = Cli(tls_region.url, tmp_path)
    assert name in cli.json("list-streams", "--ca-bundle", str(certs.ca))["StreamNames"]
    unverified = cli.run("list-streams", check=False)
    assert unverified.returncode != 0
    assert "SSL" in unverified.stderr


def _alpn(url: str, ca: Path, offer: list[str] | None) -> tuple[str | None, bytes]:
    """The protocol TLS agreed on, and the server's first bytes after a request line."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca))
    if offer is not None:
        context.set_alpn_protocols(offer)
    with (
        socket.create_connection((host, int(port)), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=host) as sock,
    ):
        chosen = sock.selected_alpn_protocol()
        if chosen == "h2":
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        else:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return chosen, sock.recv(9)


def test_alpn_h2_gets_http2_and_everything_else_http1(tls_region, certs):
    chosen, first = _alpn(tls_region.url, certs.ca, ["h2", "http/1.1"])
    assert chosen == "h2"
    assert first[3] == 0x4  # a SETTINGS frame: the server speaks HTTP/2
    chosen, first = _alpn(tls_region.url, certs.ca, ["http/1.1"])
    assert chosen == "http/1.1"
    assert first.startswith(b"HTTP/1.1")
    chosen, first = _alpn(tls_region.url, certs.ca, None)
    assert chosen is None
    assert first.startswith(b"HTTP/1.1")


def test_the_producer_writes_to_an_https_region_trusting_its_ca(tls_region, certs):
    kinesis = kinesis_client(tls_region.url, verify=str(certs.ca))
    name = _stream(kinesis, shards=2)
    destination = Destination(name, tls_region.url, ca_bundle=str(certs.ca))
    config = producer_config()
    with SyncProducer(destination, config, registry=CollectorRegistry()) as producer:
        futures = [producer.put(f"r{i}".encode(), f"k{i}") for i in range(50)]
        producer.flush(timeout=60)
        assert all(f.result(timeout=60).sequence_number for f in futures)
    records = read_stream(tls_region.url, name, verify=str(certs.ca))
    assert sorted(r["Data"] for r in records) == sorted(f"r{i}".encode() for i in range(50))


def test_the_replicator_copies_between_https_regions_named_in_the_topology(
    tmp_path, certs, fresh_region
):
    east = fresh_region(*FAST, *_tls_args(certs), data_dir=tmp_path / "east")
    west = fresh_region(*FAST, *_tls_args(certs), data_dir=tmp_path / "west")
    ca = str(certs.ca)
    for url in (east.url, west.url):
        kinesis = kinesis_client(url, verify=ca)
        kinesis.create_stream(StreamName="orders", ShardCount=1)
        wait_active(kinesis, "orders")
    topology = write_topology(
        tmp_path / "shardline.toml",
        east.url,
        west.url,
        {"orders": 1},
        failover={"poll_interval_s": 0.2},
        replication={"publish_interval_s": 0.2},
    )
    bundle = os.path.relpath(ca, tmp_path)  # relative to the topology file
    text = topology.read_text().replace("endpoint_url", f'ca_bundle = "{bundle}"\nendpoint_url')
    topology.write_text(text)
    entries = [{"Data": f"e{i}".encode(), "PartitionKey": f"k{i}"} for i in range(20)]
    assert (
        kinesis_client(east.url, verify=ca).put_records(StreamName="orders", Records=entries)[
            "FailedRecordCount"
        ]
        == 0
    )
    replicate = ShardlineProcess(
        "replicate", "-t", str(topology), "--lease-failover-s", "2",
        ready="following the control store",
    )  # fmt: skip
    with replicate:
        copied = wait_for(
            lambda: (r := read_stream(west.url, "orders", verify=ca)) and len(r) >= 20 and r,
            timeout=90,
            what="the records in the standby",
        )
    assert sorted(origin.unwrap(r["Data"])[1] for r in copied) == sorted(e["Data"] for e in entries)
