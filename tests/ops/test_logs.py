"""JSON log lines: one object a line, with the space id from the call or from the context."""

from __future__ import annotations

import json
import logging

from townhall.ops.logs import JsonFormatter, context_of, space_id


def line(msg: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("townhall.test", logging.INFO, __file__, 1, msg, (), None)
    for k, v in extra.items():
        setattr(record, k, v)
    out: dict[str, object] = json.loads(JsonFormatter().format(record))
    return out


def test_a_line_names_the_space_given_with_the_call() -> None:
    doc = line("space went live", space_id="abc123")
    assert doc["msg"] == "space went live" and doc["space_id"] == "abc123"
    assert doc["level"] == "info" and doc["logger"] == "townhall.test"
    assert str(doc["ts"]).endswith("Z")


def test_a_line_written_inside_a_spaces_task_names_that_space() -> None:
    assert "space_id" not in line("no space here")
    assert context_of("xyz9").run(lambda: line("from the program clock"))["space_id"] == "xyz9"
    assert space_id.get() is None  # the context copy did not leak


def test_an_error_keeps_its_traceback_inside_the_one_line() -> None:
    try:
        raise ValueError("disk on fire")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text and "disk on fire" in json.loads(text)["error"]
