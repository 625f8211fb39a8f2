"""The HTTP server's sockets, held against hostile clients; aiohttp parses and answers requests.

* **Connection cap**: at most ``max_connections`` open at once, TLS handshakes included; past it a
  new connection is closed as soon as it is accepted, so descriptors never run out (at the limit
  asyncio's own accept loop logs a traceback per attempt and every scrape times out).
* **Header timeout**: a request head must arrive in full within ``header_timeout`` of the
  connection opening (or of its first byte, on a kept-alive connection), and a TLS handshake
  within the same time; a client trickling bytes (slowloris) is disconnected.
* **Idle timeout**: a kept-alive connection without a request, or whose client stopped reading
  its response, is closed after ``idle_timeout``.
* Every connection closed this way is counted (``escrow_exporter_http_connections_closed_total``);
  the log lines about them are rate limited (``exporter.logs.RateLimitFilter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestHandler
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

#: Logs misbehaving clients; rate limited by ``setup_logging``.
log = logging.getLogger("exporter.http.clients")

CLOSE_REASONS = ("max_connections", "header_timeout", "idle_timeout", "tls_handshake")


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256
    header_timeout: float = 10.0
    idle_timeout: float = 60.0


class _Guard(asyncio.Protocol):
    """Sits between the transport and aiohttp's protocol for one connection; owns its timers."""

    def __init__(self, connections: Connections, inner: RequestHandler) -> None:
        self.connections, self.inner = connections, inner
        self.transport: asyncio.Transport | None = None
        self.in_request = False
        self.data_during_request = False  # a pipelined next request has begun
        self.timer: asyncio.TimerHandle | None = None
        self.timer_reason = ""
        self.unsent = 0  # response bytes still buffered at the idle timer's last expiry
        self.released = False

    # asyncio.Protocol, forwarded to aiohttp
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.connections.guards[self.inner] = self
        self._arm(self.connections.limits.header_timeout, "header_timeout")
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.in_request:
            self.data_during_request = True
        elif self.timer is not None and self.timer_reason == "idle_timeout":
            self._arm(self.connections.limits.header_timeout, "header_timeout")  # a new request begins
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[func-returns-value]

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self.connections.guards.pop(self.inner, None)
        self.release()
        self.inner.connection_lost(exc)

    # called by the middleware around each request's handler
    def request_started(self) -> None:
        self._cancel()
        self.in_request, self.data_during_request = True, False

    def request_finished(self) -> None:
        self.in_request, self.unsent = False, 0
        if self.data_during_request:
            self._arm(self.connections.limits.header_timeout, "header_timeout")
        else:
            self._arm(self.connections.limits.idle_timeout, "idle_timeout")

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.connections.open -= 1

    def _arm(self, delay: float, reason: str) -> None:
        self._cancel()
        self.timer_reason = reason
        self.timer = asyncio.get_running_loop().call_later(delay, self._expire, reason)

    def _cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self, reason: str) -> None:
        self.timer = None
        if self.transport is None or self.transport.is_closing():
            return
        unsent, before = self.transport.get_write_buffer_size(), self.unsent
        self.unsent = unsent
        if reason == "idle_timeout" and 0 < unsent and (before == 0 or unsent < before):
            # The response is still being read, slowly: another period, closed if no progress.
            self._arm(self.connections.limits.idle_timeout, reason)
            return
        self.connections.closed[reason] += 1
        peer = self.transport.get_extra_info("peername")
        log.info("closing connection: %s", reason, extra={"client": _host(peer), "reason": reason})
        self.transport.abort()  # close() would wait for a client that does not read


def _host(peer: object) -> str:
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


class Connections:
    """Accepts connections on the listening sockets within ``limits`` and serves them with an
    aiohttp ``web.Server``; also a prometheus_client collector of what it refused."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open = 0
        self.closed: dict[str, int] = dict.fromkeys(CLOSE_REASONS, 0)
        self.guards: dict[RequestHandler, _Guard] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def middleware(self) -> Middleware:
        """Marks when each request's head has arrived and when its handler is done (first in
        the chain, so it times the handler and nothing else)."""

        @web.middleware
        async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
            guard = self.guards.get(request.protocol)
            if guard is None:  # served by something else (tests with aiohttp's TestServer)
                return await handler(request)
            guard.request_started()
            try:
                return await handler(request)
            finally:
                guard.request_finished()

        return track

    def start(self, server: web.Server, socks: list[socket.socket], ctx: ssl.SSLContext | None) -> None:
        for sock in socks:
            self._spawn(self._accept(sock, server, ctx))

    async def stop(self) -> None:
        """Stop accepting and drop handshakes in progress; open connections are aiohttp's to
        close (``AppRunner.cleanup``)."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, listener: socket.socket, server: web.Server, ctx: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    conn, peer = await loop.sock_accept(listener)
                except OSError as e:  # EMFILE and kin: out of descriptors for now; retry shortly
                    log.warning("cannot accept a connection", extra={"error": str(e)})
                    await asyncio.sleep(0.1)
                    continue
                if self.open >= self.limits.max_connections:
                    self.closed["max_connections"] += 1
                    log.info(
                        "closing connection: max_connections reached",
                        extra={"client": _host(peer), "reason": "max_connections"},
                    )
                    conn.close()
                    continue
                self.open += 1
                self._spawn(self._start(loop, conn, peer, server, ctx))
        finally:
            listener.close()

    async def _start(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: socket.socket,
        peer: object,
        server: web.Server,
        ctx: ssl.SSLContext | None,
    ) -> None:
        made: list[_Guard] = []

        def guard() -> _Guard:
            made.append(_Guard(self, server()))  # type: ignore[arg-type]
            return made[0]

        try:
            await loop.connect_accepted_socket(
                guard, conn, ssl=ctx, ssl_handshake_timeout=self.limits.header_timeout if ctx else None
            )
        except OSError as e:  # TLS handshake failed or timed out; the transport closed the socket
            if made and made[0].transport is not None:
                return  # it was up and is gone: connection_lost released its slot
            conn.close()
            if made:
                made[0].release()
            else:
                self.open -= 1
            self.closed["tls_handshake"] += 1
            log.info(
                "closing connection: TLS handshake failed",
                extra={"client": _host(peer), "reason": "tls_handshake", "error": str(e)},
            )

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        closed = CounterMetricFamily(
            "escrow_exporter_http_connections_closed",
            "HTTP connections the exporter closed itself, by reason (connection cap, timeouts, TLS).",
            labels=["reason"],
        )
        for reason, count in self.closed.items():
            closed.add_metric([reason], count)
        yield closed
        yield GaugeMetricFamily(
            "escrow_exporter_http_connections_open",
            "Open HTTP connections (TLS handshakes included).",
            self.open,
        )


async def serve(
    app: web.Application,
    connections: Connections,
    socks: list[socket.socket],
    ctx: ssl.SSLContext | None,
    listening: Callable[[], None],
) -> None:
    """Serve ``app`` on ``socks`` until SIGTERM or SIGINT, then shut down cleanly."""
    runner = web.AppRunner(
        app,
        access_log=None,
        # ours closes idle connections first; aiohttp's own timer is only a backstop
        keepalive_timeout=connections.limits.idle_timeout + 5,
        shutdown_timeout=5,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before setup: a stop during it still cleans up
        loop.add_signal_handler(sig, stop.set)
    await runner.setup()
    try:
        assert runner.server is not None
        connections.start(runner.server, socks, ctx)
        listening()
        await stop.wait()
    finally:
        await connections.stop()
        await runner.cleanup()
