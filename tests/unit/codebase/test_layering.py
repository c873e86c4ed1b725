"""The real imports follow the layering written in ``shardline/__init__.py``.

The docstring of ``src/shardline/__init__.py`` lists the layers, lowest first, as
numbered items naming packages and top-level modules (``4. ``stores``: …``). Every
``import`` and ``from … import`` in ``src/shardline`` counts, wherever it is written:

- at module level;
- inside a function (a deferred import is still a dependency: it only moves the
  moment it fails);
- under ``if TYPE_CHECKING:`` (a type from a higher layer in a lower layer's
  signatures couples the two just the same; the storage circle of issue 15, item 4,
  was made of such imports).

What is checked: no import from a lower layer to a higher one; no two packages that
import each other; no cycle between modules. Importing a module runs its parent
packages' ``__init__`` too; that is Python's doing, not a dependency the code names,
so only the module named is counted.

There are no exceptions: a violation fails the test, naming the imports (and their
lines) that make it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"
PACKAGE = SRC / "shardline"


@dataclass(frozen=True)
class Import:
    """``importer`` names ``imported`` at ``line`` of its file."""

    importer: str
    imported: str
    line: int


def layers(docstring: str) -> dict[str, int]:
    """Unit name → layer number, from the numbered items of the docstring."""
    found: dict[str, int] = {}
    for number, names in re.findall(r"^(\d+)\. ((?:``[\w.]+``(?:, )?)+):", docstring, re.M):
        for name in re.findall(r"``([\w.]+)``", names):
            assert name not in found, f"{name} is in two layers"
            found[name] = int(number)
    assert sorted(set(found.values())) == list(range(1, max(found.values()) + 1))
    return found


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``; C
    extensions by their ``.pyi`` stubs, which import nothing of the package)."""
    found = {}
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.pyi")]):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def unit(module: str) -> str:
    """The layered unit a module belongs to: ``shardline.consumer.scheduler`` →
    ``consumer``; the package's own ``__init__`` is ``shardline``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """Every Shardline module ``module`` imports, wherever the import statement is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _named(module, alias.name, node.lineno, known)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in known else base
                yield from _named(module, target, node.lineno, known)


def _absolute(package: str, name: str | None, level: int) -> str:
    if not level:
        return name or ""
    base = package.rsplit(".", level - 1)[0] if level > 1 else package
    return f"{base}.{name}" if name else base


def _named(importer: str, name: str, line: int, known: dict[str, Path]) -> Iterator[Import]:
    """The longest prefix of ``name`` that is a Shardline module, if any."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    if name and name != importer:
        yield Import(importer, name, line)


def all_imports() -> list[Import]:
    known = modules()
    return [found for name, path in known.items() for found in imports(name, path, known)]


def cycles(edges: Iterable[tuple[str, str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: set[str] = set()
            while not component or node not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(item: object) -> str:
    """``a -> b`` for an import, ``a <-> b <-> c`` for a cycle."""
    if isinstance(item, tuple):
        return " -> ".join(item)
    if isinstance(item, frozenset):
        return " <-> ".join(sorted(item))
    return str(item)


def test_the_layering_names_every_package_and_module() -> None:
    import shardline

    named = set(layers(shardline.__doc__ or ""))
    units = {unit(name) for name in modules()}
    assert units - named == set(), (
        "add these to the layering in src/shardline/__init__.py's docstring"
    )
    assert named - units == set(), "the layering names what does not exist"


def test_no_import_runs_from_a_lower_layer_to_a_higher_one() -> None:
    import shardline

    layer = layers(shardline.__doc__ or "")
    upward = {
        (found.importer, found.imported): found.line
        for found in all_imports()
        if layer[unit(found.imported)] > layer[unit(found.importer)]
    }
    assert sorted(f"{describe(edge)}: line {line}" for edge, line in upward.items()) == []


def test_no_two_packages_import_each_other() -> None:
    edges = {(unit(found.importer), unit(found.imported)) for found in all_imports()}
    found = cycles((source, target) for source, target in edges if source != target)
    assert sorted(map(describe, found)) == []


def test_no_import_cycles_between_modules() -> None:
    found = cycles((found.importer, found.imported) for found in all_imports())
    assert sorted(map(describe, found)) == []


def test_imports_in_functions_and_under_type_checking_count(tmp_path: Path) -> None:
    package = tmp_path / "shardline"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("")
    (package / "other.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from shardline.high import X\n"
        "def f():\n    import shardline.other\n"
        "from . import b\n"
    )
    (package / "low" / "b.py").write_text("from .a import f\n")
    known = modules(package)
    found = {
        (i.imported, i.line) for i in imports("shardline.low.a", known["shardline.low.a"], known)
    }
    assert found == {("shardline.high", 3), ("shardline.other", 5), ("shardline.low.b", 6)}
    edges = [(i.importer, i.imported) for name in known for i in imports(name, known[name], known)]
    assert cycles(edges) == {frozenset({"shardline.low.a", "shardline.low.b"})}
