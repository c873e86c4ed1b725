"""``shardline serve``'s checks before it binds: TLS options and a warning for open binds."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

#: The module (``shardline.cli``'s ``serve`` attribute is the command).
serve_cli = importlib.import_module("shardline.cli.serve")

Served = list[dict[str, Any]]


@pytest.fixture()
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    """What ``serve`` would have served: the command stops before binding anything."""
    calls: Served = []

    async def record(*args: Any, **kwargs: Any) -> None:
        calls.append({"host": args[1], **kwargs})

    monkeypatch.setattr(serve_cli, "run_server", record)
    return calls


def _serve(tmp_path: Path, *args: str) -> Any:
    command = ["--data-dir", str(tmp_path / "data"), *args]
    return CliRunner().invoke(serve_cli.serve, command, catch_exceptions=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.internal"])
def test_plain_http_on_a_non_loopback_address_is_warned_about(
    tmp_path: Path, served: Served, host: str
) -> None:
    result = _serve(tmp_path, "--host", host, "--insecure")
    assert result.exit_code == 0
    assert f"serving plain HTTP on {host}" in result.stderr
    assert served[0]["tls"] is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_is_not_warned_about(tmp_path: Path, served: Served, host: str) -> None:
    result = _serve(tmp_path, "--host", host)
    assert result.exit_code == 0
    assert "warning" not in result.stderr


def test_tls_options_go_together(tmp_path: Path, served: Served) -> None:
    cert = tmp_path / "server.pem"
    cert.write_text("")
    result = _serve(tmp_path, "--tls-cert", str(cert))
    assert result.exit_code != 0
    assert "--tls-cert and --tls-key go together" in result.output
    assert served == []


def test_an_unusable_certificate_is_refused_naming_the_files(
    tmp_path: Path, served: Served
) -> None:
    cert, key = tmp_path / "server.pem", tmp_path / "server-key.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    result = _serve(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    assert result.exit_code != 0
    assert str(cert) in result.output
    assert "shardline certs create" in result.output
    assert served == []
