"""Structured logs: one JSON object per line on stderr, with the fields a reader filters by.

Why: an agent serving hundreds of pods at once interleaves its stories; a line
that carries `pod`, `pool`, `container` and `took_ms` as fields can be grepped
and parsed, a sentence cannot. `log.info("allocated", pod="ns/name", ip=...)`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_LOGGER = logging.getLogger("spiderpool")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "component": record.name.partition(".")[2] or record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def setup(level: str = "info", stream=None) -> None:
    """Send the `spiderpool.*` loggers to `stream` (stderr) as JSON lines; idempotent."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    _LOGGER.handlers[:] = [handler]
    _LOGGER.setLevel(level.upper())
    _LOGGER.propagate = False


class Log:
    """A component's logger taking keyword fields: `Log("agent").info("ready", node="n1")`."""

    def __init__(self, component: str, **context: Any):
        self._logger = _LOGGER.getChild(component)
        self._context = context

    def bind(self, **context: Any) -> "Log":
        child = Log.__new__(Log)
        child._logger, child._context = self._logger, {**self._context, **context}
        return child

    def _emit(self, level: int, msg: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, msg, extra={"fields": {**self._context, **fields}}, exc_info=exc_info)

    def debug(self, msg: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, msg, fields)

    def info(self, msg: str, **fields: Any) -> None:
        self._emit(logging.INFO, msg, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self._emit(logging.WARNING, msg, fields)

    def error(self, msg: str, *, exc_info: bool = False, **fields: Any) -> None:
        self._emit(logging.ERROR, msg, fields, exc_info)
