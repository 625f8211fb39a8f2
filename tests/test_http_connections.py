"""The exporter's HTTP server against clients that hold connections: slowloris heads, idle
kept-alive connections, connection floods past ``--web.max-connections``; each is closed,
counted in a metric, and logged at a bounded rate; a real scrape keeps working throughout."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from aiohttp import web

from exporter.cli import bind_listeners, main
from exporter.logs import RateLimitFilter
from exporter.webserver import Connections, Limits
from tests.support.exporter_proc import ExporterProcess, sample, wait_until

CONFIG = """\
solana:
  endpoints:
    - {name: nowhere, url: "http://127.0.0.1:1", timeout_seconds: 1, max_retries: 0}
"""


def start(tmp_path: Path, *flags: str) -> ExporterProcess:
    cfg = tmp_path / "config.yml"
    cfg.write_text(CONFIG)
    proc = ExporterProcess(cfg, *flags)
    proc.wait_up()
    return proc


@pytest.fixture
def short_timeouts(tmp_path: Path) -> Iterator[ExporterProcess]:
    proc = start(tmp_path, "--web.header-timeout", "1", "--web.idle-timeout", "1")
    yield proc
    proc.stop()


def closed_by_server(s: socket.socket, trickle: bytes = b"", bound: float = 30) -> bool:
    """Send ``trickle`` one byte at a time (0.1 s apart) until the server closes the connection;
    False if it is still open after ``bound`` seconds (which only catches a server that never
    closes it)."""
    s.settimeout(0.1)
    deadline = time.monotonic() + bound
    i = 0
    while time.monotonic() < deadline:
        try:
            if trickle:
                s.send(trickle[i % len(trickle) : i % len(trickle) + 1])
                i += 1
            if s.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


class KeptAlive:
    """One HTTP/1.1 connection reused for several requests, as Prometheus does."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def get(self, path: str) -> tuple[int, bytes]:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed before an answer"
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length:"))
        while len(self.buf) < length:
            self.buf += self.sock.recv(65536)
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(lines[0].split()[1]), body

    def close(self) -> None:
        self.sock.close()


def test_slowloris_heads_and_idle_connections_are_closed(short_timeouts: ExporterProcess) -> None:
    port = short_timeouts.port
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        # One byte every 0.1 s: never a complete head, always some traffic.
        assert closed_by_server(slow, trickle=b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")
    with socket.create_connection(("127.0.0.1", port)) as silent:
        assert closed_by_server(silent)
    scrape = KeptAlive(port)
    assert scrape.get("/-/healthy")[0] == 200
    assert closed_by_server(scrape.sock)  # kept alive, then idle: closed
    text = short_timeouts.metrics()
    assert (sample(text, "escrow_exporter_http_connections_closed_total", reason="header_timeout") or 0) >= 2
    assert (sample(text, "escrow_exporter_http_connections_closed_total", reason="idle_timeout") or 0) >= 1


def test_connection_cap_refuses_extra_connections_and_the_scrape_goes_on(tmp_path: Path) -> None:
    proc = start(
        tmp_path, "--web.max-connections", "4", "--web.header-timeout", "60", "--web.idle-timeout", "60"
    )
    try:
        with ExitStack() as stack:
            scrape = KeptAlive(proc.port)
            stack.callback(scrape.close)
            assert scrape.get("/-/healthy")[0] == 200
            idlers = [
                stack.enter_context(socket.create_connection(("127.0.0.1", proc.port))) for _ in range(3)
            ]
            wait_until(
                lambda: (
                    sample(scrape.get("/metrics")[1].decode(), "escrow_exporter_http_connections_open") == 4
                ),
                what="4 open connections",
            )
            log_lines_before = len(proc.log().splitlines())
            for _ in range(200):  # a flood: each is closed at once, none is served
                with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as extra:
                    try:
                        extra.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
                        assert extra.recv(1024) == b""
                    except (ConnectionResetError, BrokenPipeError):
                        pass
            status, body = scrape.get("/metrics")  # the scrape already connected still works
            assert status == 200
            text = body.decode()
            assert (
                sample(text, "escrow_exporter_http_connections_closed_total", reason="max_connections") == 200
            )
            # Logged at a bounded rate (10 a minute per kind), counted in full by the metric.
            flood_lines = proc.log().splitlines()[log_lines_before:]
            assert len([line for line in flood_lines if "max_connections" in line]) <= 10, flood_lines
            assert len(flood_lines) <= 20, flood_lines
            idlers[0].close()  # a slot frees: new connections are served again
            wait_until(lambda: _status(proc.port) == 200, what="a new connection served")
    finally:
        proc.stop()


def _status(port: int) -> int | None:
    conn = None
    try:
        conn = KeptAlive(port)
        return conn.get("/-/healthy")[0]
    except (OSError, AssertionError):
        return None
    finally:
        if conn is not None:
            conn.close()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--web.max-connections", "0", "argument --web.max-connections: '0' must be above 0"),
        ("--web.header-timeout", "nan", "argument --web.header-timeout: 'nan' must be above 0"),
        ("--web.idle-timeout", "x", "argument --web.idle-timeout: 'x' is not a number"),
    ],
)
def test_bad_limit_flags_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--config", str(tmp_path / "config.yml"), flag, value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


async def test_a_client_that_stops_reading_its_answer_is_closed_after_the_idle_timeout() -> None:
    connections = Connections(Limits(max_connections=4, header_timeout=30, idle_timeout=0.5))

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (64 << 20))  # far more than the socket buffers hold

    app = web.Application(middlewares=[connections.middleware()])
    app.router.add_get("/big", big)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    socks = bind_listeners("127.0.0.1", 0)
    port = socks[0].getsockname()[1]
    assert runner.server is not None
    connections.start(runner.server, socks, None)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        # The client reads the status line, then nothing more: the answer stalls in the buffers.
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        for _ in range(600):  # a bound against a server that never closes it, not a speed check
            if connections.closed["idle_timeout"]:
                break
            await asyncio.sleep(0.05)
        assert connections.closed["idle_timeout"] == 1
        for _ in range(100):
            if connections.open == 0:
                break
            await asyncio.sleep(0.05)
        assert connections.open == 0
        writer.close()
    finally:
        await connections.stop()
        await runner.cleanup()


def test_log_rate_limit_per_kind_with_the_count_of_what_it_dropped() -> None:
    now = [0.0]
    limit = RateLimitFilter(limit=3, window=60, clock=lambda: now[0])

    def record(msg: str, reason: str) -> logging.LogRecord:
        r = logging.LogRecord("exporter.http.clients", logging.INFO, "", 0, msg, ("x",), None)
        r.reason = reason
        return r

    assert [limit.filter(record("closing connection: %s", "header_timeout")) for _ in range(5)] == [
        True
    ] * 3 + [False] * 2
    assert limit.filter(record("closing connection: %s", "idle_timeout"))  # another kind, its own budget
    now[0] = 61
    after = record("closing connection: %s", "header_timeout")
    assert limit.filter(after) and after.suppressed == 2
