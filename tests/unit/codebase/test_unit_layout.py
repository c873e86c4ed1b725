"""tests/unit mirrors the package, so a module's tests are found where the module is.

``tests/unit/<package>/…`` holds the tests of ``shardline/<package>/`` or of the
top-level module ``shardline/<package>.py``; ``codebase/`` holds the checks of the whole
tree. There are no ``__init__.py`` files in tests, so pytest imports each test module by
its basename: two files of one name would collide, hence the second test.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UNIT = ROOT / "tests" / "unit"
PACKAGE = ROOT / "src" / "shardline"

#: Folders that test the tree as a whole rather than one package.
WHOLE_TREE = {"codebase"}


def test_every_unit_test_folder_names_a_package_or_module() -> None:
    strays = []
    for test_file in sorted(UNIT.rglob("test_*.py")):
        parts = test_file.relative_to(UNIT).parent.parts
        if not parts:
            strays.append(f"{test_file.name} (move it into the folder of what it tests)")
        elif parts[0] not in WHOLE_TREE:
            target = PACKAGE.joinpath(*parts)
            if not (target.is_dir() or target.with_suffix(".py").is_file()):
                strays.append(f"{'/'.join(parts)}/{test_file.name} (no shardline/{target.name})")
    assert strays == []


def test_test_file_names_are_unique_across_tests() -> None:
    names = Counter(path.name for path in (ROOT / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
