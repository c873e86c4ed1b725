#!/usr/bin/env python3
"""Write the option tables in docs/ from the code, so they cannot drift.

A table sits between two markers in a Markdown file::

    <!-- generated: command serve -->          every visible option of `shardline serve`
    <!-- generated: config ProducerConfig -->  every field of a config class
    …the table…
    <!-- end generated -->

Commands are read from click (names, defaults, help); config classes from their
dataclass fields (type and allowed range as :mod:`shardline.settings` checks them,
default, and the ``#:`` comment above the field). Run it after changing an option or
a field::

    python scripts/docs_tables.py           # rewrite the tables in docs/*.md
    python scripts/docs_tables.py --check   # exit 1 if any table is out of date

``tests/unit/codebase/test_docs.py`` runs the check, so a stale table fails the tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
import typing
from pathlib import Path
from typing import Any

import click

from shardline.cli import main as cli
from shardline.consumer import ConsumerConfig
from shardline.pipeline.drill import DrillOptions
from shardline.producer import ProducerConfig
from shardline.settings import allowed, bounds_of
from shardline.state import StateConfig
from shardline.storage.config import RegionConfig
from shardline.topology import (
    FailoverSpec,
    MetricsSpec,
    PipelineSpec,
    RegionSpec,
    ReplicationSpec,
    StoresSpec,
    StreamSpec,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"
CONFIGS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        ProducerConfig,
        ConsumerConfig,
        RegionConfig,
        StateConfig,
        DrillOptions,
        RegionSpec,
        StreamSpec,
        StoresSpec,
        ReplicationSpec,
        FailoverSpec,
        PipelineSpec,
        MetricsSpec,
    )
}
#: Defaults made by a factory, in words.
FACTORIES = {
    "_default_spool": "`$SHARDLINE_SPOOL` or `./shardline-spool.sqlite`",
    "_default_name": "host name and pid",
    "_default_worker_id": "host name, pid and a random suffix",
    "default_client_options": "placeholder keys unless AWS credentials are configured",
}
MARKER = re.compile(
    r"(<!-- generated: (command|config) ([\w -]+?) -->\n)(.*?)(<!-- end generated -->)", re.S
)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _markdown(text: str) -> str:
    """A docstring comment as a table cell: reST roles and double backquotes to Markdown."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return _cell(text.replace("``", "`"))


def _command(path: str) -> click.Command:
    command: click.Command | None = cli
    context = click.Context(cli)
    for name in path.split():
        assert isinstance(command, click.Group), path
        command = command.get_command(context, name)
    assert command is not None, path
    return command


def _option_default(option: click.Option) -> str:
    if isinstance(option.show_default, str):
        return _cell(option.show_default)
    if option.required:
        return "required"
    if option.is_flag and not option.secondary_opts:
        return ""
    default = option.default
    # click 8.2+ marks "no default" with a sentinel of its own.
    if callable(default) or default is None or type(default).__name__ == "Sentinel":
        return ""
    if option.secondary_opts:  # --x/--no-x
        return f"`{option.opts[0] if default else option.secondary_opts[0]}`"
    if isinstance(default, tuple | list):
        return ", ".join(f"`{v}`" for v in default)
    return f"`{default}`"


def command_table(path: str) -> str:
    """Markdown table of the visible options of ``shardline PATH``."""
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for param in _command(path).params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        names = " / ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        if isinstance(param.type, click.Choice):
            names += " " + "\\|".join(str(c) for c in param.type.choices)
        rows.append(f"| {names} | {_option_default(param)} | {_cell(param.help or '')} |")
    return "\n".join(rows) + "\n"


def _comments(cls: type[Any]) -> dict[str, str]:
    """Each field's ``#:`` comment (the one right above it)."""
    found: dict[str, str] = {}
    block: list[str] = []
    current = ""
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            block.append(stripped[2:].strip())
            continue
        if block:
            current, block = " ".join(block), []
        if line.startswith("     "):
            continue  # the continuation of a field's line
        field = re.match(r"(\w+): ", stripped)
        if field and line.startswith("    "):
            found[field.group(1)] = current
        current = ""  # a comment describes the one field right below it
    return found


def _field_default(item: dataclasses.Field[Any]) -> str:
    if item.default_factory is not dataclasses.MISSING:
        name = getattr(item.default_factory, "__name__", "")
        if name in FACTORIES:
            return FACTORIES[name]
        value = item.default_factory()
        return f"`{value!r}`" if value not in ({}, (), []) else "empty"
    if item.default is dataclasses.MISSING:
        return "required"
    value = item.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"`{value:_}`"
    return f"`{value}`" if not isinstance(value, str) else f'`"{value}"`'


def config_table(name: str) -> str:
    """Markdown table of the fields of config class ``name``."""
    cls = CONFIGS[name]
    hints = typing.get_type_hints(cls)
    comments = _comments(cls)
    rows = ["| field | allowed | default | meaning |", "| --- | --- | --- | --- |"]
    for item in dataclasses.fields(cls):
        what = allowed(hints[item.name], bounds_of(item))
        rows.append(
            f"| `{item.name}` | {_cell(what)} | {_field_default(item)} "
            f"| {_markdown(comments.get(item.name, ''))} |"
        )
    return "\n".join(rows) + "\n"


def render(text: str) -> str:
    """``text`` with every generated table brought up to date."""

    def table(match: re.Match[str]) -> str:
        kind, name = match.group(2), match.group(3)
        body = command_table(name) if kind == "command" else config_table(name)
        return match.group(1) + body + match.group(5)

    return MARKER.sub(table, text)


def stale_files() -> list[Path]:
    """The docs whose generated tables differ from the code."""
    return [
        path for path in sorted(DOCS.glob("*.md")) if render(path.read_text()) != path.read_text()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale tables")
    args = parser.parse_args()
    stale = stale_files()
    if args.check:
        for path in stale:
            print(f"{path}: generated tables are out of date; run python scripts/docs_tables.py")
        return 1 if stale else 0
    for path in stale:
        path.write_text(render(path.read_text()))
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
