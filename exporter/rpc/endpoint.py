"""One JSON-RPC provider: HTTP, rate and concurrency limits, error classification.

The endpoint does not retry; the pool decides whether to retry here or elsewhere.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from exporter.config.model import EndpointConfig
from exporter.rpc.errors import (
    RpcError,
    RpcMalformed,
    RpcNodeError,
    RpcRateLimited,
    RpcRedirected,
    RpcTimeout,
    RpcTransportError,
)
from exporter.rpc.limiter import TokenBucket
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.redact import Redactor

_ids = itertools.count(1)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _cause(e: aiohttp.ClientError) -> str:
    """What failed, for the log. str(e) of aiohttp errors can contain the URL (and its API key):
    name the error class, plus host:port and the OS reason for a failed connection."""
    if isinstance(e, aiohttp.ClientConnectorError):
        err = e.os_error  # asyncio's strerror is "Connect call failed (...)": the errno says why
        reason = os.strerror(err.errno) if err.errno else (err.strerror or type(err).__name__)
        return f"{type(e).__name__}: cannot connect to {e.host}:{e.port}: {reason}"
    return type(e).__name__


class Endpoint:
    def __init__(
        self,
        config: EndpointConfig,
        session: aiohttp.ClientSession,
        metrics: RpcMetrics,
        redact: Redactor | None = None,
    ) -> None:
        self.config = config
        #: Applied to every error message: providers echo keys back (see ``redact``).
        self.redact = redact or Redactor([config])
        self.name = config.name
        self._session = session
        self._metrics = metrics
        self._limiter = TokenBucket(config.rate_limit_rps)
        self._concurrency = asyncio.Semaphore(config.max_concurrency)
        # Health, maintained by the pool's health checks and by request outcomes.
        self.healthy = True
        self.healthy_since = time.monotonic()
        self.slot: int | None = None
        #: Reported a slot far ahead of the other endpoints': never used (see RpcPool).
        self.ahead = False
        #: Why the last health check failed, for the log line when the endpoint turns unhealthy.
        self.last_probe_error = ""
        self.consecutive_errors = 0
        self.cooldown_until = 0.0  # set by 429s: do not send before this (monotonic)

    async def call(self, method: str, params: Sequence[Any] | None = None) -> Any:
        """One request; returns ``result`` or raises an ``RpcError`` subclass."""
        body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": list(params or [])}
        reply = await self._post(body, method, [method])
        if not isinstance(reply, dict):
            raise self._count(RpcMalformed(self.name, f"{method}: reply is not a JSON object"), method)
        return self._unwrap(reply, method)

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """A JSON-RPC batch. Returns one item per call: its ``result`` or an ``RpcNodeError``.

        A transport-level failure raises for the whole batch.
        """
        if not calls:
            return []
        bodies = [{"jsonrpc": "2.0", "id": next(_ids), "method": m, "params": list(p)} for m, p in calls]
        label = calls[0][0] if len({m for m, _ in calls}) == 1 else "batch"
        reply = await self._post(bodies, label, [m for m, _ in calls])
        if not isinstance(reply, list):
            if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
                self._unwrap(reply, label)  # raises the node's error for the whole batch
            raise self._count(RpcMalformed(self.name, f"{label}: batch reply is not a JSON array"), label)
        # Only the ids we send (integers) can match; an id of another type (an array is not even
        # hashable) leaves its item missing.
        by_id = {item["id"]: item for item in reply if isinstance(item, dict) and type(item.get("id")) is int}
        out: list[Any] = []
        for body in bodies:
            item = by_id.get(body["id"])
            method = str(body["method"])
            if item is None:
                raise self._count(RpcMalformed(self.name, f"{method}: batch reply lacks an item"), method)
            try:
                out.append(self._unwrap(item, method))
            except RpcNodeError as e:
                if e.endpoint_fault:
                    raise
                out.append(e)
        return out

    def _count(self, err: RpcError, method: str) -> RpcError:
        self._metrics.requests.labels(self.name, method, err.outcome).inc()
        return self._redacted(err)

    def _redacted(self, err: RpcError) -> RpcError:
        """``err`` with configured secrets removed from its message (every error raised here
        passes through ``_count`` or ``_count_n``)."""
        err.args = tuple(self.redact(a) if isinstance(a, str) else a for a in err.args)
        if isinstance(err, RpcNodeError):
            err.rpc_message = self.redact(err.rpc_message)
        return err

    def _unwrap(self, reply: dict[str, Any], method: str) -> Any:
        if "error" in reply and reply["error"] is not None:
            err = reply["error"]
            if not isinstance(err, dict):
                raise self._count(RpcMalformed(self.name, f"{method}: error is not an object"), method)
            code = err.get("code")
            # Redacted before it is cut short: a cut could leave half a key that no longer matches.
            message = self.redact(str(err.get("message", "")))[:200]
            if code == 429:
                raise self._count(RpcRateLimited(self.name, None), method)
            raise self._count(
                RpcNodeError(self.name, int(code) if isinstance(code, int) else 0, message), method
            )
        if "result" not in reply:
            raise self._count(
                RpcMalformed(self.name, f"{method}: reply has neither result nor error"), method
            )
        self._metrics.requests.labels(self.name, method, "success").inc()
        return reply["result"]

    async def _post(self, body: Any, method: str, methods: list[str]) -> Any:
        """POST ``body``; ``method`` labels the round trip, ``methods`` (one per JSON-RPC item)
        are counted as failed if the whole request fails, as they are counted one by one on success."""
        await self._limiter.acquire(len(methods) if self.config.rate_limit_per_batch_item else 1)
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        async with self._concurrency:
            started = time.perf_counter()
            try:
                # Never follow a redirect: it would send the key headers and the body to
                # whatever origin the answer names.
                async with self._session.post(
                    self.config.url,
                    json=body,
                    headers=self.config.headers,
                    timeout=timeout,
                    allow_redirects=False,
                ) as resp:
                    if 300 <= resp.status < 400:
                        raise self._count_n(
                            RpcRedirected(self.name, f"{method}: HTTP {resp.status}"), methods
                        )
                    if resp.status == 429:
                        retry = _retry_after(resp.headers.get("Retry-After"))
                        raise self._count_n(RpcRateLimited(self.name, retry), methods)
                    if resp.status >= 400:
                        raise self._count_n(
                            RpcTransportError(self.name, f"{method}: HTTP {resp.status}"), methods
                        )
                    raw = await self._read_capped(resp, method, methods)
            except TimeoutError:
                raise self._count_n(
                    RpcTimeout(self.name, f"{method}: no answer within {self.config.timeout_seconds:g}s"),
                    methods,
                ) from None
            except (aiohttp.ClientError, ValueError) as e:
                # ValueError: aiohttp refuses some requests before sending them (credentials in the
                # URL plus an Authorization header). str(e) of aiohttp errors can contain the URL:
                # _cause names the error class, host:port and the OS reason only.
                cause = _cause(e) if isinstance(e, aiohttp.ClientError) else type(e).__name__
                raise self._count_n(RpcTransportError(self.name, f"{method}: {cause}"), methods) from None
            finally:
                self._metrics.duration.labels(self.name, method).observe(time.perf_counter() - started)
        try:
            return json.loads(raw)
        except ValueError:
            raise self._count_n(RpcMalformed(self.name, f"{method}: body is not JSON"), methods) from None
        except RecursionError:  # valid JSON nested deeper than any real answer
            raise self._count_n(
                RpcMalformed(self.name, f"{method}: body is JSON nested too deep to parse"), methods
            ) from None

    async def _read_capped(self, resp: aiohttp.ClientResponse, method: str, methods: list[str]) -> bytes:
        """The body, refused once it passes ``max_response_bytes`` (checked while streaming)."""
        cap = self.config.max_response_bytes
        too_big = RpcMalformed(self.name, f"{method}: answer larger than max_response_bytes ({cap})")
        if resp.content_length is not None and resp.content_length > cap:
            raise self._count_n(too_big, methods)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(256 * 1024):
            body += chunk
            if len(body) > cap:
                raise self._count_n(too_big, methods)
        return bytes(body)

    def _count_n(self, err: RpcError, methods: list[str]) -> RpcError:
        """Count a whole request's failure once per item, under each item's own method."""
        for method, n in collections.Counter(methods).items():
            self._metrics.requests.labels(self.name, method, err.outcome).inc(n)
        return self._redacted(err)
