"""Structured logging in logfmt or JSON, like Prometheus' own exporters (``--log.format``)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def _drop_client_protocol_errors(record: logging.LogRecord) -> bool:
    """Keep aiohttp.server's errors except malformed requests (a scanner or a broken probe sent
    bad HTTP: the client's error, answered with a 400, not an error of ours)."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, HttpProcessingError)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower().replace("warning", "warn"),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    out.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
    if record.exc_info and record.levelno <= logging.DEBUG:
        out["trace"] = logging.Formatter().formatException(record.exc_info)
    elif record.exc_info and record.exc_info[1] is not None:
        out["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str)


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for k, v in _fields(record).items():
            s = str(v)
            if not s or any(c in s for c in ' ="\n'):
                s = json.dumps(s)
            parts.append(f"{k}={s}")
        return " ".join(parts)


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(_drop_client_protocol_errors)
    # Third-party debug output (one line per SQLite operation) would drown ours.
    for noisy in ("aiosqlite", "asyncio", "asyncpg"):
        logging.getLogger(noisy).setLevel(max(LEVELS[level], logging.INFO))
