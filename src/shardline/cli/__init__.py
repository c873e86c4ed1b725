"""The ``shardline`` command: a thin layer over the public API, one module per group."""

from __future__ import annotations

import click

from shardline import __version__
from shardline.cli.certs import certs
from shardline.cli.console import console_command
from shardline.cli.ha import (
    failback_command,
    failover_command,
    fault_command,
    monitor,
    replicate,
    status,
)
from shardline.cli.integrity import recover_command, verify_command
from shardline.cli.keys import keys
from shardline.cli.pipeline import drill, ticker_group, up
from shardline.cli.put import put
from shardline.cli.serve import serve
from shardline.cli.snapshot import snapshot
from shardline.cli.spool import spool
from shardline.cli.tail import tail


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shardline")
def main() -> None:
    """Shardline: a durable Kinesis-compatible region and a high-availability toolkit."""


main.add_command(serve)
main.add_command(keys)
main.add_command(put)
main.add_command(spool)
main.add_command(tail)
main.add_command(replicate)
main.add_command(monitor)
main.add_command(failover_command)
main.add_command(failback_command)
main.add_command(fault_command)
main.add_command(status)
main.add_command(up)
main.add_command(console_command)
main.add_command(drill)
main.add_command(ticker_group, name="ticker")
main.add_command(snapshot)
main.add_command(certs)
main.add_command(verify_command)
main.add_command(recover_command)
