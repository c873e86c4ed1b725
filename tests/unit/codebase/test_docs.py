"""The docs fit the code and the clone: generated tables current, every link resolves."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_tables", ROOT / "scripts" / "docs_tables.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_option_tables_match_the_code() -> None:
    stale = _generator().stale_files()
    assert stale == [], "run python scripts/docs_tables.py and commit the tables"


def test_every_generated_table_names_a_known_command_or_config() -> None:
    generator = _generator()
    for path in sorted((ROOT / "docs").glob("*.md")):
        for kind, name in re.findall(
            r"<!-- generated: (command|config) ([\w -]+?) -->", path.read_text()
        ):
            table = (
                generator.command_table(name) if kind == "command" else generator.config_table(name)
            )
            assert table.count("\n") > 2, (path, name)


def test_links_point_at_files_in_the_repository() -> None:
    broken = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_the_readme_keeps_to_its_two_commands_and_quick_starts() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert commands == [
        "python3 -m venv .venv && . .venv/bin/activate",
        "python -m pip install . && shardline up",
        "python -m pip install -e '.[test]' && python -m pytest -q",
    ]
    assert commands[2] in (ROOT / ".ci" / "run").read_text()  # CI runs it verbatim
    assert "../shared" not in readme


def test_the_example_topologies_are_valid() -> None:
    from shardline.topology import load_topology

    files = sorted((ROOT / "examples").rglob("*.toml"))
    assert files
    for path in files:
        load_topology(path)  # raises TopologyError naming the key if one is not
