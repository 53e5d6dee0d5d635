"""Log lines as JSON objects, one a line, each with the space it is about (`--log-format json`).

The space id comes from the record's `space_id` (log calls pass `extra={"space_id": ...}`) or,
failing that, from the context variable `space_id` that the services set around the work of one
space (tasks inherit it). Never raises on an odd record: a log line must not break serving.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time

space_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("space_id", default=None)


def context_of(sid: str) -> contextvars.Context:
    """A copy of the current context in which `space_id` is `sid` (for a space's tasks)."""
    ctx = contextvars.copy_context()
    ctx.run(space_id.set, sid)
    return ctx


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        sid = getattr(record, "space_id", None) or space_id.get()
        if sid:
            doc["space_id"] = sid
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def configure(fmt: str, level: int = logging.INFO) -> None:
    """The process's logging: "text" (people) or "json" (collectors), to stderr."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own lines go the same way
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
