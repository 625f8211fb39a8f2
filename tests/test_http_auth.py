"""Basic auth against hostile clients: bcrypt never on the event loop, a budget of checks per
client address, successes cached, an unknown user checked like a known one, and any
``Authorization`` header a verdict (401), never a 500."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import bcrypt
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.auth import AuthMetrics, BasicAuth, Verdict, client_key
from exporter.http import add_routes
from exporter.keys import AUTH, REGISTRY
from tests.support.exporter_proc import sample, wait_until
from tests.support.http_client import get
from tests.support.util import free_port

HASH = bcrypt.hashpw(b"hunter2", bcrypt.gensalt(4)).decode()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


GOOD = basic("prometheus", "hunter2")


@contextmanager
def serving(auth: BasicAuth) -> Iterator[str]:
    """The exporter's routes and auth middleware on a loopback port, served by an event loop in
    its own thread, so that a blocked loop shows as requests that get no answer."""
    port = free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def start() -> web.AppRunner:
        app = web.Application()
        app[REGISTRY] = CollectorRegistry()
        app[REGISTRY].register(AuthMetrics(auth))
        app[AUTH] = auth
        add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    def run() -> None:
        runner = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        auth.close()


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_wrong_passwords_cannot_stall_scrapes_or_health(monkeypatch: pytest.MonkeyPatch) -> None:
    # burst 3, practically no refill: the budget of 127.0.0.1 is exactly 3 bcrypt checks
    # (3 workers, so all 3 are running at once).
    auth = BasicAuth({"prometheus": HASH}, burst=3, refill_per_second=1e-6, max_pending=8, workers=3)
    real_checkpw = bcrypt.checkpw
    release = threading.Event()
    calls: list[bool] = []  # per bcrypt check: did it run on an event loop?

    def stuck_checkpw(password: bytes, hashed: bytes) -> bool:
        """A bcrypt check that lasts until the test releases it (a slow hash, made certain)."""
        calls.append(_on_event_loop())
        if password != b"hunter2":
            release.wait(60)
        return real_checkpw(password, hashed)

    with serving(auth) as url:
        assert get(url + "/metrics", GOOD)[0] == 200  # the scraper's credential passes once
        monkeypatch.setattr(bcrypt, "checkpw", stuck_checkpw)
        statuses: list[int] = []
        guessers = [
            threading.Thread(
                target=lambda i=i: statuses.append(get(url + "/metrics", basic("prometheus", f"guess{i}"))[0])
            )
            for i in range(40)
        ]
        try:
            for t in guessers:
                t.start()
            # 37 guessers are refused at once (429) without bcrypt; 3 hold bcrypt checks.
            wait_until(lambda: statuses.count(429) == 37, timeout=30, what="37 refusals")
            wait_until(lambda: len(calls) == 3, timeout=30, what="3 bcrypt checks running")
            # While those 3 checks are stuck, the exporter answers: health and the real scrape.
            assert get(url + "/-/healthy", GOOD)[0] == 200
            status, _, body = get(url + "/metrics", GOOD)
            assert status == 200 and b"escrow_exporter_http_auth_checks_total" in body
            assert len(calls) == 3, "a cached credential ran bcrypt again"
        finally:
            release.set()
            for t in guessers:
                t.join(30)
        assert sorted(statuses) == [401] * 3 + [429] * 37
        assert calls == [False] * 3, "bcrypt ran on the event loop"
        text = get(url + "/metrics", GOOD)[2].decode()
    assert sample(text, "escrow_exporter_http_auth_checks_total", result="rate_limited") == 37
    assert sample(text, "escrow_exporter_http_auth_checks_total", result="wrong") == 3
    assert sample(text, "escrow_exporter_http_auth_checks_total", result="verified") == 1
    assert (sample(text, "escrow_exporter_http_auth_checks_total", result="cached") or 0) >= 1


async def test_checks_beyond_max_pending_are_refused_but_cached_credentials_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = BasicAuth({"prometheus": HASH}, burst=100, max_pending=2)
    assert await auth.check(GOOD["Authorization"], "10.0.0.9") is Verdict.VERIFIED
    release = threading.Event()
    real_checkpw = bcrypt.checkpw

    def stuck_checkpw(password: bytes, hashed: bytes) -> bool:
        release.wait(60)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", stuck_checkpw)
    try:
        stuck = [
            asyncio.create_task(auth.check(basic("prometheus", "x")["Authorization"], f"10.0.0.{i}"))
            for i in range(2)
        ]
        await asyncio.sleep(0)  # both reach the thread pool
        # A third client, with its own budget, finds the pool full: refused without waiting.
        assert await auth.check(basic("prometheus", "y")["Authorization"], "10.0.0.3") is Verdict.OVERLOADED
        assert await auth.check(GOOD["Authorization"], "10.0.0.4") is Verdict.CACHED
    finally:
        release.set()
    assert [await t for t in stuck] == [Verdict.WRONG, Verdict.WRONG]
    auth.close()


async def test_unknown_user_costs_one_bcrypt_check_of_the_same_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = BasicAuth({"prometheus": HASH})
    real_checkpw = bcrypt.checkpw
    hashes: list[bytes] = []

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        hashes.append(hashed)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    assert await auth.check(basic("nobody", "hunter2")["Authorization"], "c") is Verdict.WRONG
    assert await auth.check(basic("prometheus", "wrong")["Authorization"], "c") is Verdict.WRONG
    # One check each, against hashes of the same cost: the two take the same time.
    assert len(hashes) == 2
    assert hashes[0][:7] == hashes[1][:7] == b"$2b$04$"
    auth.close()


@pytest.mark.parametrize(
    "header",
    [
        b"Basic \xff\xfe\xfd",  # not UTF-8 (was a 500)
        b"Basic " + base64.b64encode(b"\xff\xfe:\xfd"),  # credential bytes not UTF-8
        b"Basic bm90IGJhc2U2NA=",  # malformed base64
        b"Basic " + base64.b64encode(b"prometheus"),  # no colon
        b"Basic",
        b"Bearer abc",
        b"Basic " + base64.b64encode("prometheus:hunter2\u00e9".encode()),
    ],
)
def test_any_authorization_header_is_a_401_never_a_500(header: bytes) -> None:
    with (
        serving(BasicAuth({"prometheus": HASH})) as url,
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as s,
    ):
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: " + header + b"\r\n\r\n")
        assert s.recv(64).split(b"\r\n")[0] == b"HTTP/1.1 401 Unauthorized"


def test_budgets_are_per_address_and_ipv6_per_64() -> None:
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") != client_key("2001:db8::1")
    assert client_key("::ffff:10.1.2.3") == "10.1.2.3"
    assert client_key(None) == "unknown"
