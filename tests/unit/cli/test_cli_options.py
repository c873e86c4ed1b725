"""The command line: every option explained, one duration style, defaults from the configs."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from shardline.cli import main
from shardline.cli.common import seconds_option
from shardline.consumer import ConsumerConfig
from shardline.storage.config import RegionConfig


def _commands(
    command: click.Command, path: str = "shardline"
) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, name
            yield from _commands(sub, f"{path} {name}")


def _visible_options() -> Iterator[tuple[str, click.Option]]:
    for path, command in _commands(main):
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                yield path, param


def test_every_option_has_help() -> None:
    missing = [f"{path} {param.opts[0]}" for path, param in _visible_options() if not param.help]
    assert missing == []


def test_durations_are_given_in_seconds_and_spelled_dash_s() -> None:
    odd = [
        f"{path} {opt}"
        for path, param in _visible_options()
        for opt in param.opts
        if opt.endswith(("-ms", "-seconds", "-secs", "-sec"))
        or (param.name or "").endswith("_s") != opt.endswith("-s")
    ]
    assert odd == []


def test_defaults_come_from_the_config_classes() -> None:
    options = {(path, opt): param for path, param in _visible_options() for opt in param.opts}
    assert options[("shardline serve", "--shard-limit")].default == RegionConfig.shard_limit
    assert options[("shardline serve", "--trim-interval-s")].default == RegionConfig.trim_interval_s
    failover = ConsumerConfig.__dataclass_fields__["failover_time_s"].default
    assert options[("shardline replicate", "--lease-failover-s")].default == failover


def test_older_spellings_still_work_and_convert_to_seconds() -> None:
    @click.command()
    @seconds_option("--delay-s", default=0.5, help="d", ms_aliases=("--delay-ms",))
    @seconds_option("--wait-s", default=1.0, help="w", aliases=("--wait",))
    def command(delay_s: float, wait_s: float) -> None:
        click.echo(f"{delay_s} {wait_s}")

    runner = CliRunner()
    assert runner.invoke(command, []).output == "0.5 1.0\n"
    assert runner.invoke(command, ["--delay-ms", "250", "--wait", "3"]).output == "0.25 3.0\n"
    assert runner.invoke(command, ["--delay-ms", "250", "--delay-s", "2"]).output == "2.0 1.0\n"
    assert "--delay-ms" not in runner.invoke(command, ["--help"]).output
