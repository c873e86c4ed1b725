"""The ``shardline`` group imports a subcommand's module only when it is used."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from shardline.cli import SUBCOMMANDS, main

#: The toolkit's packages: ``shardline serve`` runs a region and needs none of them.
TOOLKIT = ("consumer", "producer", "failover", "state", "sinks", "replication", "pipeline")


def test_every_subcommand_resolves_under_its_own_name() -> None:
    context = click.Context(main)
    for name in SUBCOMMANDS:
        command = main.get_command(context, name)
        assert command is not None and command.name == name, name
    assert main.get_command(context, "no-such-command") is None


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1]
    assert [line.split()[0] for line in listed.strip().splitlines()] == sorted(SUBCOMMANDS)


def test_serve_loads_no_part_of_the_toolkit() -> None:
    probe = (
        "import sys, click\n"
        "from shardline.cli import main\n"
        "main.get_command(click.Context(main), 'serve')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('shardline.'))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert "shardline.server.runner" in loaded
    assert [m for m in loaded if m.split(".")[1] in TOOLKIT] == []
