"""Structured logging in logfmt or JSON, like Prometheus' own exporters (``--log.format``)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def _drop_client_protocol_errors(record: logging.LogRecord) -> bool:
    """Keep aiohttp.server's errors except malformed requests (a scanner or a broken probe sent
    bad HTTP: the client's error, answered with a 400, not an error of ours)."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, HttpProcessingError)


class RateLimitFilter(logging.Filter):
    """At most ``limit`` records per ``window`` seconds of each kind (logger, message template and
    ``reason``), so hostile clients cannot flood the log (a slowloris run once wrote 218k lines in
    40 s); the first record let through after drops carries ``suppressed=N``. What is dropped here
    is counted in metrics (``escrow_exporter_http_*``)."""

    def __init__(
        self, limit: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.limit, self.window, self.clock = limit, window, clock
        self._kinds: dict[tuple[str, str, object], list[float]] = {}  # kind -> [start, passed, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(record.msg), getattr(record, "reason", None))
        now = self.clock()
        if len(self._kinds) > 1024:  # messages built without a template (asyncio's) are all new kinds
            self._kinds = {k: v for k, v in self._kinds.items() if now - v[0] < self.window}
        seen = self._kinds.get(kind)
        if seen is None or now - seen[0] >= self.window:
            if seen is not None and seen[2]:
                record.suppressed = int(seen[2])
            seen = self._kinds[kind] = [now, 0, 0]
        if seen[1] >= self.limit:
            seen[2] += 1
            return False
        seen[1] += 1
        return True


#: Loggers that speak of clients' misbehaviour, one line per connection or request.
CLIENT_LOGGERS = ("exporter.http.clients", "aiohttp.server", "aiohttp.web", "asyncio")


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
    rate_limit = RateLimitFilter()
    for name in CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, RateLimitFilter)]:
            logger.removeFilter(old)
        logger.addFilter(rate_limit)
    # Third-party debug output (one line per SQLite operation) would drown ours.
    for noisy in ("aiosqlite", "asyncio", "asyncpg"):
        logging.getLogger(noisy).setLevel(max(LEVELS[level], logging.INFO))
