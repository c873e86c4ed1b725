"""No function in ``src/shardline`` is longer than 60 lines (issue 15, "Done when").

A function's length runs from its ``def`` line to its last line (docstring included,
decorators not), the way ``ast`` reports it (``end_lineno - lineno + 1``). Every function
counts: sync and async, methods, and functions nested inside others (a nested
function's lines also count towards the function holding it). A long function is
split into named steps that each do one thing and read top-down.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "src" / "shardline"
MAX_LINES = 60


def _long_functions(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > MAX_LINES:
                where = path.relative_to(PACKAGE.parent)
                yield f"{where}:{node.lineno} {node.name} ({length} lines)"


def test_no_function_is_longer_than_60_lines() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert modules, f"no module found under {PACKAGE}"
    long = [found for path in modules for found in _long_functions(path)]
    assert not long, "functions longer than 60 lines:\n" + "\n".join(long)
