"""Structured logging: one JSON object per line on stdout."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

_LOGGER_NAME = "loader"
# Lambda's application log levels, as Python levels.
_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
}


# Lambda's names, which its log-level filtering reads from a JSON line's `level`.
_LAMBDA_LEVEL_NAMES = {logging.WARNING: "WARN", logging.CRITICAL: "FATAL"}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": _LAMBDA_LEVEL_NAMES.get(record.levelno, record.levelname),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time (the Lambda runtime, or a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record) + "\n")
        sys.stdout.flush()


def _logger() -> logging.Logger:
    logger = logging.getLogger(_LOGGER_NAME)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(_JsonFormatter())
        logger.addHandler(handler)
        # Our lines are already JSON: the runtime's root handler must not wrap them again.
        logger.propagate = False
        logger.setLevel(_LEVELS.get(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper(), logging.INFO))
    return logger


class Log:
    """A logger that takes structured fields: `log.info("load succeeded", rows=3)`."""

    def __init__(self) -> None:
        self._logger = _logger()

    def info(self, message: str, **fields) -> None:
        self._logger.info(message, extra={"fields": fields})

    def warning(self, message: str, **fields) -> None:
        self._logger.warning(message, extra={"fields": fields})

    def error(self, message: str, **fields) -> None:
        self._logger.error(message, extra={"fields": fields})


log = Log()
