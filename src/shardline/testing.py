"""A kit for testing against real Shardline processes.

- ``RegionProcess`` starts ``shardline serve`` on 127.0.0.1 port 0 in its own process,
  waits for the ready line that reports the bound URL, and can SIGKILL and restart it
  on the same data directory (and the same port, so clients keep their endpoint).
- ``ShardlineProcess`` runs any ``shardline`` command (replicate, monitor, failover, …)
  and ``ChildProcess`` any command line, each ready on a line it prints.
- ``write_topology`` writes a two-region topology file for local regions;
  ``moto_server`` runs a real local DynamoDB/S3 API for the scale backends.
- ``run_shardline`` runs one ``shardline`` command to its end, as a person would,
  with no AWS credentials in its environment (``without_aws_credentials``);
- ``kinesis_client``, ``wait_active``, ``active_consumer``, ``read_shard``,
  ``read_stream``: boto3 helpers; ``set_fault`` and ``fault_in_force`` drive a
  region's fault-injection endpoint; ``scrape_metrics`` reads a ``/metrics`` page;
  ``wait_for`` polls a condition so a test reads as the specification it checks.

Resource handling: use the processes as context managers, or call ``stop()``; a
process that does not exit on SIGTERM within the timeout is killed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from shardline.admin import AdminClient
from shardline.credentials import StaticCredentials
from shardline.errors import ShardlineError

T = TypeVar("T")

_READY = re.compile(r"serving Kinesis API at (https?://\S+)")


class ProcessStartError(ShardlineError):
    """A child process exited or stayed silent instead of reporting ready."""


class ChildProcess:
    """A child process that prints a ready line, and can be SIGKILLed and restarted.

    ``ready`` is a regular expression matched against each output line (stdout and
    stderr together); the first match ends :meth:`start`, and its groups are kept
    in :attr:`ready_match`. Everything the process prints is kept in
    :attr:`output`.
    """

    def __init__(
        self,
        args: list[str],
        ready: str | re.Pattern[str],
        *,
        env: dict[str, str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.args = args
        self.ready = re.compile(ready) if isinstance(ready, str) else ready
        self.env = env or {}
        self.start_timeout = start_timeout
        self.output: list[str] = []
        self.ready_match: re.Match[str] | None = None
        self._proc: subprocess.Popen[str] | None = None

    def command(self) -> list[str]:
        """The command line of the next start (subclasses may vary it per start)."""
        return self.args

    def start(self) -> ChildProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self._proc = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        ready = threading.Event()
        proc = self._proc

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.output.append(line)
                match = self.ready.search(line)
                if match and not ready.is_set():
                    self.ready_match = match
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while not ready.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise ProcessStartError(
                    f"{' '.join(self.command()[:4])} did not start:\n" + "".join(self.output)
                )
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush or clean up."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait (graceful); SIGKILL if it does not exit in time."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._proc.returncode

    def restart(self) -> ChildProcess:
        self.stop()
        return self.start()

    def __enter__(self) -> ChildProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RegionProcess(ChildProcess):
    """One ``shardline serve`` child process on a data directory.

    Example::

        with RegionProcess(tmp_path / "region-a", "--create-delay-ms", "0") as region:
            kinesis = boto3.client("kinesis", endpoint_url=region.url, ...)

    A restart keeps the port, so clients keep their endpoint.
    """

    def __init__(self, data_dir: Path, *extra_args: str, start_timeout: float = 30.0) -> None:
        super().__init__([], _READY, start_timeout=start_timeout)
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.url = ""
        self.port = 0

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "shardline",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]

    def start(self) -> RegionProcess:
        super().start()
        assert self.ready_match is not None
        self.url = self.ready_match.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def restart(self) -> RegionProcess:
        self.stop()
        return self.start()

    def __enter__(self) -> RegionProcess:
        return self.start()


class ShardlineProcess(ChildProcess):
    """``python -m shardline <args>`` (replicate, monitor, …), ready on a log line."""

    def __init__(self, *args: str, ready: str, start_timeout: float = 30.0) -> None:
        super().__init__(
            [sys.executable, "-m", "shardline", *args], ready, start_timeout=start_timeout
        )


#: Variables through which the AWS credential chain finds credentials.
_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)


_NO_FILE = "/nonexistent/shardline/aws-credentials"


def without_aws_credentials(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with no AWS credentials to find anywhere."""
    clean = {k: v for k, v in (env or os.environ).items() if k not in _CREDENTIAL_VARIABLES}
    clean["AWS_SHARED_CREDENTIALS_FILE"] = _NO_FILE
    clean["AWS_CONFIG_FILE"] = _NO_FILE
    clean["AWS_EC2_METADATA_DISABLED"] = "true"
    return clean


def run_shardline(
    *args: str, stdin: str = "", timeout: float = 120.0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m shardline ARGS`` to its end; output captured as text.

    The command gets no AWS credentials (see :func:`without_aws_credentials`), as on
    a machine where nobody configured any.
    """
    return subprocess.run(
        [sys.executable, "-m", "shardline", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=without_aws_credentials(),
    )


def write_topology(
    path: Path,
    primary_url: str,
    standby_url: str,
    streams: dict[str, int],
    *,
    directory: Path | None = None,
    stores: dict[str, Any] | None = None,
    failover: dict[str, Any] | None = None,
    replication: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    region_options: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write a two-region topology file for local regions; returns its path.

    Region names are ``east`` (primary) and ``west`` (standby); SQLite stores live
    in ``directory`` (default: next to the file) unless ``stores`` gives the whole
    ``[stores]`` table (DynamoDB, say). ``metrics`` is the ``[metrics]`` table
    (ports of the components' ``/metrics``; ``consumers`` as a region → port dict).
    ``region_options`` adds keys to a region's table by name, e.g.
    ``{"west": {"access_key_id": …, "signing_region": …}}``.
    """

    def toml(value: Any) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + " }"
        return json.dumps(value)

    def table(values: dict[str, Any]) -> str:
        return "".join(f"{key} = {toml(value)}\n" for key, value in values.items())

    options = region_options or {}
    text = "".join(
        f'[[regions]]\nname = "{name}"\nrole = "{role}"\nendpoint_url = "{url}"\n'
        + table(options.get(name, {}))
        + "\n"
        for name, role, url in (("east", "primary", primary_url), ("west", "standby", standby_url))
    )
    for name, shards in streams.items():
        text += f'[[streams]]\nname = "{name}"\nshards = {shards}\n\n'
    stores = stores or {"directory": str(directory or path.parent / "stores")}
    text += "[stores]\n" + table(stores) + "\n"
    if failover:
        text += "[failover]\n" + table(failover) + "\n"
    if replication:
        text += "[replication]\n" + table(replication) + "\n"
    if metrics:
        text += "[metrics]\n" + table(metrics) + "\n"
    path.write_text(text)
    return path


def kinesis_client(
    url: str,
    credentials: StaticCredentials | None = None,
    region_name: str = "us-east-1",
    *,
    verify: str | None = None,
    **config: Any,
) -> Any:
    """A boto3 Kinesis client for ``url`` with no retries.

    It signs with ``credentials`` (a key of a server started with ``--credentials``),
    or with dummy keys that a server without credentials accepts. ``verify``: the CA
    bundle an ``https://`` region's certificate is checked against.
    """
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    options.update(config)
    keys = credentials or StaticCredentials("test", "test")
    return boto3.client(
        "kinesis",
        endpoint_url=url,
        region_name=region_name,
        config=Config(**options),
        **keys.client_options(),
        verify=verify,
    )


def wait_active(kinesis: Any, name: str, timeout: float = 10.0) -> None:
    """Poll DescribeStreamSummary until ``name`` is ACTIVE (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream {name} stuck in {summary['StreamStatus']}")
        time.sleep(0.05)


def active_consumer(kinesis: Any, stream_arn: str, name: str, timeout: float = 30.0) -> str:
    """Register an enhanced fan-out consumer and wait until it is ACTIVE; its ARN."""
    arn: str = kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)[
        "Consumer"
    ]["ConsumerARN"]

    def status() -> str:
        described = kinesis.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]
        return str(described["ConsumerStatus"])

    wait_for(lambda: status() == "ACTIVE", timeout, what=f"consumer {name} ACTIVE")
    return arn


def read_shard(
    kinesis: Any, name: str, shard_id: str, iterator_type: str = "TRIM_HORIZON", **position: Any
) -> list[dict[str, Any]]:
    """Every record now in a shard, following NextShardIterator until caught up or ended."""
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard_id, ShardIteratorType=iterator_type, **position
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    for _ in range(100_000):
        out = kinesis.get_records(ShardIterator=iterator)
        records.extend(out["Records"])
        iterator = out.get("NextShardIterator")
        if iterator is None or (not out["Records"] and out["MillisBehindLatest"] == 0):
            return records
    raise TimeoutError(f"shard {shard_id} of {name} never caught up")


def set_fault(
    url: str, *, credentials: StaticCredentials | None = None, **fault: Any
) -> dict[str, Any]:
    """Set the server's injected fault (see ``shardline.server.faults``); {} clears it.

    The call is signed (``shardline.admin``): with ``credentials``, an admin key of a
    server started with ``--credentials``. Synchronous, for tests; async code should
    await ``AdminClient.set_fault`` itself (called from an event loop, this blocks the
    loop until the call returns, as any blocking call would).
    """
    return _blocking(AdminClient(url, credentials).set_fault(fault))


def fault_in_force(url: str, *, credentials: StaticCredentials | None = None) -> dict[str, Any]:
    """The server's injected fault, with ``delayed_calls``: calls its latency holds now."""
    return _blocking(AdminClient(url, credentials).fault())


def _blocking(call: Coroutine[Any, Any, T]) -> T:
    """Run ``call`` to its end from synchronous code, also inside a running event loop
    (then on a thread of its own, since a loop cannot run two ``asyncio.run``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call)
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, call).result()


def read_stream(url: str, stream: str, *, verify: str | None = None) -> list[dict[str, Any]]:
    """Every record now in every shard of ``stream`` (each with its ``ShardId``)."""
    client = kinesis_client(url, verify=verify)
    records: list[dict[str, Any]] = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        for record in read_shard(client, stream, shard["ShardId"]):
            records.append({**record, "ShardId": shard["ShardId"]})
    return records


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape_metrics(url: str) -> Samples:
    """Every sample a ``/metrics`` page serves, by (sample name, sorted label pairs).

    ``url`` is the page itself or the server it is on. Parsed with prometheus-client's
    own text parser, so what a test checks is what Prometheus would store.
    """
    from prometheus_client.parser import text_string_to_metric_families

    page = url if url.endswith("/metrics") else f"{url}/metrics"
    with urllib.request.urlopen(page, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def wait_for(condition: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    Raises AssertionError naming ``what`` after ``timeout`` seconds, so a test that
    waits reads as the specification it checks.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


@contextlib.contextmanager
def moto_server(command: Callable[[int], list[str]] | None = None) -> Iterator[str]:
    """A real local AWS API (moto in server mode) on a free 127.0.0.1 port; yields its URL.

    ``command(port)`` gives the command line (default: ``python -m moto.server``);
    the server is ready when ``/moto-api/`` answers, and is stopped on exit.
    Raises :class:`ProcessStartError` if it does not start within 30 s.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    argv = (
        command(port)
        if command
        else [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    )
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ProcessStartError(f"moto server ({argv[1:3]}) did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def script_command(script: str | Path, *extra: str, **options: object) -> list[str]:
    """``python SCRIPT --opt value … EXTRA``: the command line of a worker script.

    Keyword names become options (``worker_id`` → ``--worker-id``), so test workers
    and benchmarks build their command lines one way.
    """
    argv = [sys.executable, str(script)]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return [*argv, *extra]
