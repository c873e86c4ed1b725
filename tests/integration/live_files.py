"""Reading files that a worker process is still writing.

A worker's buffered writer can flush in the middle of a line, so a test that
polls the file may see a torn last line. Only newline-terminated lines are
complete; the rest is read again on the next poll.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def complete_lines(path: Path) -> list[str]:
    """The non-empty lines of ``path`` that the writer has finished, in order."""
    if not path.exists():
        return []
    text = path.read_text()
    finished = text[: text.rfind("\n") + 1]
    return [line for line in finished.splitlines() if line.strip()]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The finished JSON lines of ``path``, decoded."""
    return [json.loads(line) for line in complete_lines(path)]
