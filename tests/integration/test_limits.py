"""What one caller may hold of a real region: memory, connections, time (issue 13).

Each test is one of the issue's attacks against a real ``shardline serve``: bodies
that together took hundreds of MiB, an HTTP/2 frame that declared 16 MiB, idle and
slow connections that were never closed, and idle connections that used up every
file descriptor until no real caller got through.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    WindowUpdated,
)
from h2.settings import SettingCodes
from hyperframe.frame import Frame, GoAwayFrame

from shardline.testing import (
    ChildProcess,
    RegionProcess,
    active_consumer,
    kinesis_client,
    wait_active,
    wait_for,
)

FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")
MIB = 1024 * 1024
AUTH = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request"
FRAME_SIZE_ERROR = 6


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1))


def _list_streams_body(size: int) -> bytes:
    """A valid ListStreams body of ``size`` bytes: ``{`` + spaces + ``}``."""
    return b"{" + b" " * (size - 2) + b"}"


def _head(url: str, length: int) -> bytes:
    host = url.removeprefix("http://")
    return (
        f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n"
        f"X-Amz-Target: Kinesis_20131202.ListStreams\r\nAuthorization: {AUTH}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _status(sock: socket.socket) -> int:
    """The status of the HTTP/1.1 response waiting on ``sock``."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "closed before the status line"
        data += chunk
    return int(data.split(b" ", 2)[1])


class HeldUpload:
    """One HTTP/1.1 request whose body is sent but for its last byte."""

    def __init__(self, url: str, size: int, go: threading.Event) -> None:
        self.sock = socket.create_connection(_address(url), timeout=60)
        self.body = _list_streams_body(size)
        self.head = _head(url, size)
        self.go = go
        self.status: int | None = None
        self.answered_early = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # A refused upload may be closed while it is sent: its answer is waiting.
        with contextlib.suppress(OSError):
            self.sock.sendall(self.head + self.body[:-1])
        while not self.go.is_set():
            readable, _, _ = select.select([self.sock], [], [], 0.1)
            if readable:
                self.status = _status(self.sock)
                self.answered_early.set()
                return
        self.sock.sendall(self.body[-1:])
        self.status = _status(self.sock)

    def close(self) -> None:
        self.thread.join(60)
        self.sock.close()


def test_http1_bodies_beyond_the_server_budget_get_503_and_memory_stays_bounded(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    region = fresh_region(*FAST, "--body-budget-mb", "32")
    baseline = _rss_kib(region.pid)
    go = threading.Event()
    uploads = [HeldUpload(region.url, 15 * MIB, go) for _ in range(12)]
    try:
        # 32 MiB holds two 15 MiB bodies; the other ten are refused unread.
        wait_for(
            lambda: sum(u.answered_early.is_set() for u in uploads) == 10,
            timeout=120,
            what="ten uploads refused with 503",
        )
        growth_mib = (_rss_kib(region.pid) - baseline) / 1024
        assert kinesis_client(region.url).list_streams()["StreamNames"] == []
        go.set()
    finally:
        go.set()
        for upload in uploads:
            upload.close()
    assert sorted(u.status or 0 for u in uploads) == [200] * 2 + [503] * 10  # 0: no answer
    # Before the budget, all twelve bodies were held: 180 MiB.
    assert growth_mib < 100, growth_mib


class H2Client:
    """A bare HTTP/2 client on a socket, enough to upload and read answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sock = socket.create_connection(_address(url), timeout=60)
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.status: dict[int, int] = {}
        self.ended: set[int] = set()
        self.settings: dict[int, int] = {}
        self.terminated: ConnectionTerminated | None = None
        self.flush()

    def flush(self) -> None:
        self.sock.sendall(self.h2.data_to_send())

    def receive(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("server closed the connection")
        for event in self.h2.receive_data(data):
            if isinstance(event, RemoteSettingsChanged):
                self.settings.update({k: v.new_value for k, v in event.changed_settings.items()})
            elif isinstance(event, ResponseReceived):
                assert event.stream_id is not None and event.headers is not None
                # header_encoding="utf-8": h2 hands the names and values over as str
                headers = {str(n): str(v) for n, v in event.headers}
                self.status[event.stream_id] = int(headers[":status"])
            elif isinstance(event, DataReceived):
                assert event.stream_id is not None
                self.h2.acknowledge_received_data(
                    event.flow_controlled_length or 0, event.stream_id
                )
            elif isinstance(event, StreamEnded):
                assert event.stream_id is not None
                self.ended.add(event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self.terminated = event
            elif isinstance(event, WindowUpdated):
                pass
        self.flush()

    def open(self, length: int) -> int:
        stream_id: int = self.h2.get_next_available_stream_id()
        host = self.url.removeprefix("http://")
        self.h2.send_headers(
            stream_id,
            [
                (":method", "POST"),
                (":path", "/"),
                (":scheme", "http"),
                (":authority", host),
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "Kinesis_20131202.ListStreams"),
                ("authorization", AUTH),
                ("content-length", str(length)),
            ],
        )
        self.flush()
        return stream_id

    def upload(self, stream_id: int, data: bytes, end: bool = False) -> None:
        """Send ``data`` within the flow-control windows (waiting for the server's updates)."""
        view = memoryview(data)
        while view:
            window = min(
                self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size
            )
            if window <= 0:
                self.receive()
                continue
            self.h2.send_data(stream_id, view[:window].tobytes())
            view = view[window:]
            self.flush()
        if end:
            self.h2.end_stream(stream_id)
            self.flush()

    def close(self) -> None:
        self.sock.close()


def test_http2_streams_beyond_the_server_budget_get_503_and_memory_stays_bounded(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    region = fresh_region(*FAST, "--body-budget-mb", "32")
    baseline = _rss_kib(region.pid)
    client = H2Client(region.url)
    size = 12 * MIB
    body = _list_streams_body(size)
    try:
        streams = []
        for _ in range(16):  # one after the other, every one left open but for its last byte
            stream_id = client.open(size)
            client.upload(stream_id, body[:-1])
            streams.append(stream_id)
        growth_mib = (_rss_kib(region.pid) - baseline) / 1024
        for stream_id in streams:
            client.upload(stream_id, body[-1:], end=True)
        while client.ended != set(streams):
            client.receive()
    finally:
        client.close()
    # 32 MiB holds two 12 MiB bodies; before the budget all sixteen were: 192 MiB.
    assert [client.status[s] for s in streams] == [200] * 2 + [503] * 14
    assert growth_mib < 100, growth_mib


def _frames(raw: bytes) -> Iterator[Frame]:
    while len(raw) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(raw[:9]))
        if len(raw) < 9 + length:
            return
        frame.parse_body(memoryview(raw[9 : 9 + length]))
        yield frame
        raw = raw[9 + length :]


def _until_closed(sock: socket.socket) -> bytes:
    received = b""
    sock.settimeout(30)
    while chunk := sock.recv(1 << 16):
        received += chunk
    return received


def _goaway_codes(raw: bytes) -> list[int]:
    return [f.error_code for f in _frames(raw) if isinstance(f, GoAwayFrame)]


def _h2_socket(url: str) -> socket.socket:
    sock = socket.create_connection(_address(url), timeout=30)
    h2 = H2Connection(H2Configuration(client_side=True))
    h2.initiate_connection()
    sock.sendall(h2.data_to_send())
    return sock


def test_an_http2_frame_declaring_16_mib_ends_the_connection_before_its_payload(
    region: RegionProcess,
) -> None:
    sock = _h2_socket(region.url)
    with sock:
        # A DATA frame header declaring 16 MiB - 1 on stream 1; no payload follows.
        sock.sendall((0xFFFFFF).to_bytes(3, "big") + b"\x00\x00" + (1).to_bytes(4, "big"))
        received = _until_closed(sock)
    assert FRAME_SIZE_ERROR in _goaway_codes(received)


def test_an_http2_header_block_over_64_kib_ends_the_connection(region: RegionProcess) -> None:
    sock = _h2_socket(region.url)
    with sock:
        junk = b"\x00" * 16_384
        headers = len(junk).to_bytes(3, "big") + b"\x01\x00" + (1).to_bytes(4, "big") + junk
        continuation = len(junk).to_bytes(3, "big") + b"\x09\x00" + (1).to_bytes(4, "big")
        sock.sendall(headers + (continuation + junk) * 4)  # 80 KiB, never END_HEADERS
        received = _until_closed(sock)
    assert FRAME_SIZE_ERROR in _goaway_codes(received)


def test_http2_settings_bound_streams_and_windows(region: RegionProcess) -> None:
    client = H2Client(region.url)
    try:
        while SettingCodes.MAX_CONCURRENT_STREAMS not in client.settings:
            client.receive()
        window = client.h2.outbound_flow_control_window
    finally:
        client.close()
    assert client.settings[SettingCodes.MAX_CONCURRENT_STREAMS] == 100
    assert client.settings[SettingCodes.INITIAL_WINDOW_SIZE] == 1 * MIB
    assert window == 4 * MIB


# -- timeouts and the connection cap -----------------------------------------------------


TIMEOUTS = ("--header-timeout-s", "1", "--idle-timeout-s", "2")


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    region = fresh_region(*FAST, *TIMEOUTS)
    with socket.create_connection(_address(region.url), timeout=30) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        closed = False
        for _ in range(300):  # the attack: one byte of a header every 0.1 s, for 30 s at most
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable and _closed_by_server(sock):
                closed = True
                break
            try:
                sock.sendall(b"a")
            except OSError:
                closed = True
                break
    assert closed


@pytest.mark.parametrize("preface", [b"", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], ids=["h1", "h2"])
def test_an_idle_connection_is_closed(
    fresh_region: Callable[..., RegionProcess], preface: bytes
) -> None:
    region = fresh_region(*FAST, *TIMEOUTS)
    with socket.create_connection(_address(region.url), timeout=30) as sock:
        if preface:
            sock.sendall(preface + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # + empty SETTINGS
        assert _until_closed(sock) is not None  # returns once the server closed it


def test_a_subscription_longer_than_the_idle_timeout_runs_to_its_end(
    fresh_region: Callable[..., RegionProcess],
) -> None:
    region = fresh_region(*FAST, *TIMEOUTS, "--subscription-seconds", "5")
    kinesis = kinesis_client(region.url, read_timeout=30)
    kinesis.create_stream(StreamName="sub", ShardCount=1)
    wait_active(kinesis, "sub")
    arn = kinesis.describe_stream_summary(StreamName="sub")["StreamDescriptionSummary"]["StreamARN"]
    consumer = active_consumer(kinesis, arn, "c")
    kinesis.put_record(StreamName="sub", Data=b"one", PartitionKey="k")
    stream = kinesis.subscribe_to_shard(
        ConsumerARN=consumer,
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "TRIM_HORIZON"},
    )["EventStream"]
    # Iterating fails if the connection is cut before the 5 s subscription ends.
    records = [r["Data"] for e in stream for r in e["SubscribeToShardEvent"]["Records"]]
    assert records == [b"one"]


def _serve_under(tmp_path: Path, ulimit: str, *args: str) -> ChildProcess:
    """``shardline serve`` started by a shell that first sets ``ulimit`` (exec keeps the pid)."""
    command = (
        f"ulimit {ulimit} && exec {sys.executable} -m shardline serve --host 127.0.0.1 "
        f"--port 0 --data-dir {tmp_path / 'region'} {' '.join(args)}"
    )
    return ChildProcess(["sh", "-c", command], r"serving Kinesis API at (http://\S+)")


def _open_files_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files line")


def test_the_open_file_limit_is_raised_to_the_hard_limit(tmp_path: Path) -> None:
    with _serve_under(tmp_path, "-Sn 256") as server:
        soft, hard = _open_files_limits(server.pid)
    assert hard > 256
    assert soft == hard


def test_idle_connections_beyond_the_file_limit_make_room_for_a_real_caller(tmp_path: Path) -> None:
    # 256 descriptors in all: before the cap, 400 idle connections took every one
    # and a real call timed out.
    with _serve_under(tmp_path, "-n 256", "--idle-timeout-s", "600") as server:
        assert server.ready_match is not None
        url = server.ready_match.group(1)
        idle = [socket.create_connection(_address(url), timeout=30) for _ in range(400)]
        try:
            kinesis = kinesis_client(url, connect_timeout=20, read_timeout=20)
            for _ in range(3):
                assert kinesis.list_streams()["StreamNames"] == []
            evicted = wait_for(
                lambda: sum(_closed_by_server(s) for s in idle[:100]) == 100,
                what="the oldest idle connections closed to make room",
            )
        finally:
            for sock in idle:
                sock.close()
    assert evicted
