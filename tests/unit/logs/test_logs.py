"""Log lines as an operator's tools read them."""

from __future__ import annotations

import json
import logging

from shardline import logs


def test_json_log_lines_carry_time_level_logger_and_message() -> None:
    formatter = logs.formatter("json")
    record = logging.LogRecord("shardline.x", logging.WARNING, __file__, 1, "hi %s", ("a",), None)
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "hi a" and entry["level"] == "WARNING"
    assert entry["logger"] == "shardline.x" and "time" in entry and "process" in entry
