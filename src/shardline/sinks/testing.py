"""A throwaway PostgreSQL server for tests and benchmarks of the PostgreSQL sink.

:class:`LocalPostgres` runs the distribution's own server binaries (``initdb``,
``pg_ctl``) in a fresh temporary directory, listening only on 127.0.0.1 on a free
port, with trust authentication, and removes everything on :meth:`stop`. PostgreSQL
refuses to run as root, so under root it runs as the ``postgres`` user that the
distribution's package creates. ``scripts/install-postgres`` installs the binaries.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Self

_INSTALL_HINT = "run scripts/install-postgres (Debian/Ubuntu) or install PostgreSQL's server"


def find_postgres_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: the newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian's layout), else the one on ``PATH``.
    Raises FileNotFoundError saying how to install them."""
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: [int(part) for part in Path(path).parts[4].split(".") if part.isdigit()],
    )
    found = debian[-1] if debian else shutil.which("initdb")
    if found is None:
        raise FileNotFoundError(f"PostgreSQL server binaries (initdb) not found; {_INSTALL_HINT}")
    return Path(found).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalPostgres:
    """A private PostgreSQL server; ``with LocalPostgres() as pg: connect(pg.conninfo)``.

    ``durable=False`` turns fsync off: much faster, and right for tests, where the
    server's crash safety is not what is under test. Benchmarks keep the default so
    their figures include the commit's fsync, as in production.
    """

    def __init__(self, durable: bool = True) -> None:
        self.durable = durable
        self.port = 0
        self._dir: Path | None = None
        self._bin = find_postgres_bin()
        self._as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise FileNotFoundError(
                    "PostgreSQL refuses to run as root and there is no 'postgres' user; "
                    + _INSTALL_HINT
                ) from None
            self._as_user = {"user": account.pw_uid, "group": account.pw_gid}

    @property
    def conninfo(self) -> str:
        """A libpq URL for the ``postgres`` database as superuser ``postgres``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self._dir is not None
        return subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            cwd=self._dir,
            capture_output=True,
            text=True,
            timeout=60,
            **self._as_user,
        )

    def start(self) -> Self:
        """Create the cluster and start the server; returns when it accepts connections.
        Raises RuntimeError with the server's log if it does not start."""
        self._dir = Path(tempfile.mkdtemp(prefix="shardline-pg-"))
        if self._as_user:
            os.chown(self._dir, self._as_user["user"], self._as_user["group"])
        data = str(self._dir / "data")
        init = self._run(
            "initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode:
            self.stop()
            raise RuntimeError(f"initdb failed: {init.stderr}")
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self._dir),
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
        }
        # A port picked free may be taken before the server binds it: try a few.
        for _ in range(3):
            self.port = _free_port()
            options = " ".join(
                f"-c {name}={shlex.quote(value)}"
                for name, value in {**settings, "port": str(self.port)}.items()
            )
            log = str(self._dir / "server.log")
            started = self._run(
                "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "30", "start"
            )
            if started.returncode == 0:
                return self
        server_log = Path(log).read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{server_log}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its files; safe to call twice."""
        if self._dir is None:
            return
        if (self._dir / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self._dir / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
