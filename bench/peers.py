"""Starting and stopping the servers the benchmark compares.

Each target is a local process listening on a free 127.0.0.1 port:

* shardline      ``shardline serve --host 127.0.0.1 --port P --data-dir D``
* shardline-process  the same with ``--durability process`` (no fsync per commit)
* kinesalite     npm ``kinesalite`` 3.3.x (in-memory store, its default)
* kinesis-local  npm ``kinesis-local`` 0.6.x (kinesis-mock compiled to JS)
* moto           ``python -m moto.server`` under ``ulimit -v 4000000``
* stub           ``bench/stub_endpoint.py`` (stores nothing: client ceiling)

Node servers have no host flag, so they are started with a preload
(``shared/tools/force-loopback.js``) that forces every listen() onto
127.0.0.1.  Peers are installed on demand into ``bench/.peers`` (never as
project dependencies).  Every process is started in its own session and is
stopped by its process-group id (which is its own pid).
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_PEERS_DIR = BENCH_DIR / ".peers"

NPM_SPECS = {"kinesalite": "kinesalite@~3.3.0", "kinesis-local": "kinesis-local@~0.6.0"}
MOTO_SPEC = "moto[server]>=5,<6"
PYSPY_SPEC = "py-spy>=0.4,<0.5"
MOTO_ULIMIT_KB = 4_000_000

ALL_TARGETS = ["shardline", "shardline-process", "kinesalite", "kinesis-local", "moto", "stub"]


class Unavailable(Exception):
    """A target could not be prepared or started; the message says why."""


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def force_loopback_js() -> Path:
    candidates = []
    env = os.environ.get("SHARDLINE_SHARED")
    if env:
        candidates.append(Path(env) / "tools" / "force-loopback.js")
    # the shared folder sits beside the repository, or beside the folder of worktrees
    candidates += [
        parent / "shared" / "tools" / "force-loopback.js"
        for parent in Path(__file__).resolve().parents[2:4]
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise Unavailable(
        "force-loopback.js not found (looked in {}); set SHARDLINE_SHARED=<shared dir>".format(
            ", ".join(str(c) for c in candidates)
        )
    )


def _tail(path: Path, n: int = 1500) -> str:
    try:
        data = path.read_bytes()[-n:]
        return data.decode("utf-8", "replace").strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------
# live process registry, so that nothing outlives the benchmark
# --------------------------------------------------------------------------

_LIVE: dict[int, subprocess.Popen[bytes]] = {}


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is not None:
        _LIVE.pop(proc.pid, None)
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)  # the group we created: pgid == pid
        except ProcessLookupError:
            break
        except PermissionError:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # the leader may be gone while children linger; make sure the group is gone
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    _LIVE.pop(proc.pid, None)


def stop_all() -> None:
    for proc in list(_LIVE.values()):
        _kill_group(proc, grace=2.0)


atexit.register(stop_all)


# --------------------------------------------------------------------------
# installing peers
# --------------------------------------------------------------------------


def _run_quiet(
    cmd: list[str], timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, text=True
    )


def ensure_npm_package(name: str, peers_dir: Path, log: Callable[..., None] = print) -> Path:
    """Return the package dir of npm package ``name``, installing it if needed."""
    pkg_dir = peers_dir / "node_modules" / name
    if (pkg_dir / "package.json").is_file():
        return pkg_dir
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise Unavailable("node/npm not on PATH")
    peers_dir.mkdir(parents=True, exist_ok=True)
    # install both node peers in one go: one npm run is much cheaper than two
    specs = [
        spec
        for pkg, spec in NPM_SPECS.items()
        if not (peers_dir / "node_modules" / pkg / "package.json").is_file()
    ]
    log("installing {} into {} ...".format(" ".join(specs), peers_dir))
    try:
        res = _run_quiet(
            [
                npm,
                "install",
                "--prefix",
                str(peers_dir),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                *specs,
            ],
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        raise Unavailable("npm install timed out") from None
    if res.returncode != 0 or not (pkg_dir / "package.json").is_file():
        raise Unavailable(f"npm install {name} failed: {res.stdout.strip()[-500:]}")
    return pkg_dir


def _npm_version(pkg_dir: Path) -> str:
    try:
        return str(json.loads((pkg_dir / "package.json").read_text())["version"])
    except Exception:
        return "?"


def _python_has_moto(python: str) -> str | None:
    try:
        res = _run_quiet(
            [python, "-c", "import moto, moto.server; print(moto.__version__)"], timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode == 0:
        return res.stdout.strip().splitlines()[-1]
    return None


def ensure_moto(peers_dir: Path, log: Callable[..., None] = print) -> tuple[str, str]:
    """Return (python executable that can run moto.server, moto version)."""
    candidates = [sys.executable]
    for exe in ("python3", "python"):
        p = shutil.which(exe)
        if p and p not in candidates:
            candidates.append(p)
    venv_py = peers_dir / "venv" / "bin" / "python"
    if venv_py.exists():
        candidates.append(str(venv_py))
    for py in candidates:
        ver = _python_has_moto(py)
        if ver:
            return py, ver
    log("installing {} into {} ...".format(MOTO_SPEC, peers_dir / "venv"))
    try:
        if not venv_py.exists():
            res = _run_quiet([sys.executable, "-m", "venv", str(peers_dir / "venv")], timeout=300)
            if res.returncode != 0:
                raise Unavailable(f"python -m venv failed: {res.stdout.strip()[-300:]}")
        res = _run_quiet([str(venv_py), "-m", "pip", "install", "-q", MOTO_SPEC], timeout=900)
    except subprocess.TimeoutExpired:
        raise Unavailable("pip install moto timed out") from None
    if res.returncode != 0:
        raise Unavailable(f"pip install moto failed: {res.stdout.strip()[-300:]}")
    ver = _python_has_moto(str(venv_py))
    if not ver:
        raise Unavailable("moto installed but moto.server does not import")
    return str(venv_py), ver


def ensure_pyspy(peers_dir: Path = DEFAULT_PEERS_DIR, log: Callable[..., None] = print) -> str:
    """Path of a ``py-spy`` executable: on PATH, or installed into its own venv under
    ``peers_dir`` (the profiler is a bench tool, never a project dependency)."""
    found = shutil.which("py-spy")
    if found:
        return found
    venv = peers_dir / "pyspy-venv"
    exe = venv / "bin" / "py-spy"
    if exe.exists():
        return str(exe)
    log(f"installing {PYSPY_SPEC} into {venv} ...")
    try:
        res = _run_quiet([sys.executable, "-m", "venv", str(venv)], timeout=300)
        if res.returncode == 0:
            res = _run_quiet([str(venv / "bin" / "pip"), "install", "-q", PYSPY_SPEC], timeout=600)
    except subprocess.TimeoutExpired:
        raise Unavailable("pip install py-spy timed out") from None
    if res.returncode != 0 or not exe.exists():
        raise Unavailable(f"pip install py-spy failed: {res.stdout.strip()[-300:]}")
    return str(exe)


def shardline_command(override: str | None) -> list[str]:
    """The argv prefix that runs Shardline (``serve ...`` is appended)."""
    if override:
        return shlex.split(override)
    from_env = os.environ.get("SHARDLINE_CMD")
    if from_env:
        return shlex.split(from_env)
    exe = shutil.which("shardline")
    if exe:
        return [exe]
    venv_exe = REPO_DIR / ".venv" / "bin" / "shardline"
    if venv_exe.exists():
        return [str(venv_exe)]
    for py in (sys.executable, str(REPO_DIR / ".venv" / "bin" / "python")):
        if not Path(py).exists():
            continue
        env = dict(os.environ)
        src = REPO_DIR / "src"
        if src.is_dir():
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
        try:
            res = subprocess.run(
                [
                    py,
                    "-c",
                    "import importlib.util,sys; "
                    "sys.exit(0 if importlib.util.find_spec('shardline') else 1)",
                ],
                env=env,
                cwd=str(REPO_DIR),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if res.returncode == 0:
            return [py, "-m", "shardline"]
    raise Unavailable(
        "no `shardline` console script and `python -m shardline` is not importable "
        "(install the package, or pass --shardline-cmd)"
    )


# --------------------------------------------------------------------------
# a running target
# --------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    argv: list[str]
    port: int
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    version: str = "?"
    notes: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    startup_s: float | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / (f"{self.name}.log")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float) -> None:
        env = dict(os.environ)
        env.update(self.env)
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=str(self.cwd or self.workdir),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE[self.proc.pid] = self.proc
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                tail = _tail(self.log_path, 600)
                raise Unavailable(f"{self.name} exited with code {code} during startup: {tail}")
            if _answers_kinesis(self.port):
                self.startup_s = time.monotonic() - t0
                return
            if time.monotonic() > deadline:
                self.stop()
                tail = _tail(self.log_path, 600)
                raise Unavailable(
                    f"{self.name} did not answer on port {self.port} within {timeout:.0f}s: {tail}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server process (plus its reaped children)."""
        if self.proc is None:
            return 0.0
        return proc_cpu_seconds(self.proc.pid)

    def log_tail(self, n: int = 800) -> str:
        return _tail(self.log_path, n)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[11..14] = utime stime cutime cstime (stat fields 14..17)
        return sum(int(x) for x in fields[11:15]) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in parts[1:8])
        return (user + nice + system + irq + softirq) / _TICK
    except (OSError, ValueError):
        return 0.0


def _answers_kinesis(port: int) -> bool:
    """True once the port answers a Kinesis ListStreams call with any HTTP response."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request(
            "POST",
            "/",
            body=b"{}",
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "Kinesis_20131202.ListStreams",
                "Authorization": (
                    "AWS4-HMAC-SHA256 "
                    "Credential=AKIDBENCH/20240101/us-east-1/kinesis/aws4_request, "
                    "SignedHeaders=host, Signature=0"
                ),
                "X-Amz-Date": "20240101T000000Z",
            },
        )
        conn.getresponse().read()
        conn.close()
        return True
    except (OSError, http.client.HTTPException):
        return False


def prepare(
    name: str,
    base_tmp: Path,
    peers_dir: Path = DEFAULT_PEERS_DIR,
    shardline_cmd: str | None = None,
    log: Callable[..., None] = print,
    shardline_args: str | None = None,
) -> Target:
    """Build (but do not start) the Target for ``name``; raises Unavailable."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=str(base_tmp)))
    port = free_port()
    if name in ("shardline", "shardline-process"):
        prefix = shardline_command(shardline_cmd)
        if name == "shardline-process":
            shardline_args = f"{shardline_args or ''} --durability process"
        data_dir = workdir / "data"
        data_dir.mkdir()
        env = {}
        src = REPO_DIR / "src"
        # Only the fallback found by shardline_command needs this checkout's sources on
        # the path; a command given on purpose (another build, to compare) runs as is.
        chosen = shardline_cmd or os.environ.get("SHARDLINE_CMD")
        if not chosen and prefix[1:3] == ["-m", "shardline"] and src.is_dir():
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(src), os.environ.get("PYTHONPATH")])
            )
        return Target(
            name,
            prefix
            + ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
            + shlex.split(shardline_args or ""),
            port,
            workdir,
            env=env,
            cwd=REPO_DIR,
            version=_shardline_version(prefix),
        )
    if name == "kinesalite":
        pkg = ensure_npm_package("kinesalite", peers_dir, log)
        return Target(
            name,
            [
                "node",
                "-r",
                str(force_loopback_js()),
                str(pkg / "cli.js"),
                "--port",
                str(port),
                "--shardLimit",
                "1000",
            ],
            port,
            workdir,
            version=_npm_version(pkg),
            notes=["in-memory store (kinesalite default, no --path), --shardLimit 1000"],
        )
    if name == "kinesis-local":
        pkg = ensure_npm_package("kinesis-local", peers_dir, log)
        tls_port = free_port()
        env = {
            # needed even for plain HTTP: it always starts its TLS listener too
            "KINESIS_MOCK_CERT_PATH": str(pkg / "server.json"),
            "KINESIS_MOCK_PLAIN_PORT": str(port),
            "KINESIS_MOCK_TLS_PORT": str(tls_port),
            "SHOULD_PERSIST_DATA": "false",
            "SHARD_LIMIT": "1000",
            "LOG_LEVEL": "WARN",
        }
        return Target(
            name,
            ["node", "-r", str(force_loopback_js()), str(pkg / "main.js")],
            port,
            workdir,
            env=env,
            version=_npm_version(pkg),
            notes=[
                "plain HTTP via KINESIS_MOCK_PLAIN_PORT (TLS listener on another loopback port)",
                "LOG_LEVEL=WARN, in-memory (SHOULD_PERSIST_DATA=false)",
            ],
        )
    if name == "moto":
        py, ver = ensure_moto(peers_dir, log)
        cmd = f'ulimit -v {MOTO_ULIMIT_KB}; exec "$@"'
        return Target(
            name,
            [
                "bash",
                "-c",
                cmd,
                "bash",
                py,
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            port,
            workdir,
            version=ver,
            notes=[f"ulimit -v {MOTO_ULIMIT_KB}"],
        )
    if name == "stub":
        return Target(
            name,
            [
                sys.executable,
                str(BENCH_DIR / "stub_endpoint.py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            port,
            workdir,
            version="bench",
            notes=["stores nothing: client ceiling"],
        )
    raise Unavailable("unknown target {!r} (known: {})".format(name, ", ".join(ALL_TARGETS)))


def _shardline_version(prefix: list[str]) -> str:
    try:
        res = subprocess.run(
            prefix + ["--version"],
            cwd=str(REPO_DIR),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=30,
        )
        if res.returncode == 0 and res.stdout.strip():
            return res.stdout.strip().splitlines()[-1].split()[-1][:40]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "?"
