"""HTTP basic auth against bcrypt hashes that hostile clients cannot turn into a stall.

bcrypt is slow on purpose (tens of milliseconds a check at cost 10), so:

* checks run in a small dedicated thread pool, never on the event loop, and at most
  ``max_pending`` at a time (beyond that: "overloaded", answered at once);
* a credential that passed is remembered (successes only, keyed by an HMAC of the credential
  under a per-process random key, at most ``cache_size``), so a scraper pays bcrypt once;
* every check that would run bcrypt takes a token from its client address's bucket (``burst`` at
  once, refilled at ``refill_per_second``); a client without a token is refused without bcrypt.
  A success gives its token back, so only wrong credentials spend a client's budget;
* an unknown user is checked against a dummy hash of the configured cost, as exporter-toolkit
  does, so a user name cannot be found by timing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import hmac
import ipaddress
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import bcrypt
from prometheus_client.core import CounterMetricFamily


class Verdict(enum.Enum):
    """The outcome of one request's check; the value is the metric's ``result`` label."""

    CACHED = "cached"  # a credential that passed bcrypt before: no bcrypt
    VERIFIED = "verified"  # bcrypt ran and said yes
    WRONG = "wrong"  # bcrypt ran and said no (an unknown user included)
    MISSING = "missing"  # no Authorization header, or not Basic
    MALFORMED = "malformed"  # not base64, not UTF-8-safe, no colon: refused without bcrypt
    RATE_LIMITED = "rate_limited"  # this client address spent its budget of checks
    OVERLOADED = "overloaded"  # max_pending checks already running or queued

    @property
    def allowed(self) -> bool:
        return self in (Verdict.CACHED, Verdict.VERIFIED)


def bcrypt_hash(hashed: str) -> bytes:
    # htpasswd writes $2y$, the same algorithm as $2b$, which the bcrypt module expects.
    return hashed.replace("$2y$", "$2b$", 1).encode()


def _cost(hashed: bytes) -> int:
    match = re.match(rb"\$2[aby]\$(\d\d)\$", hashed)
    return int(match.group(1)) if match else 10


def client_key(remote: str | None) -> str:
    """The address a budget belongs to: IPv6 clients by /64, since one host usually holds a
    whole /64 and could otherwise take a fresh budget per address."""
    if not remote:
        return "unknown"
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class TokenBuckets:
    """A token bucket per client key; the least recently used keys are forgotten past
    ``max_clients`` (a forgotten client starts again with a full bucket)."""

    def __init__(
        self,
        burst: int,
        refill_per_second: float,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.rate, self.max_clients, self.clock = burst, refill_per_second, max_clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def _tokens(self, key: str) -> float:
        tokens, at = self._buckets.get(key, (self.burst, self.clock()))
        return min(self.burst, tokens + (self.clock() - at) * self.rate)

    def _set(self, key: str, tokens: float) -> None:
        self._buckets[key] = (tokens, self.clock())
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

    def take(self, key: str) -> bool:
        tokens = self._tokens(key)
        if tokens < 1:
            return False
        self._set(key, tokens - 1)
        return True

    def give_back(self, key: str) -> None:
        self._set(key, min(self.burst, self._tokens(key) + 1))


def parse_basic(header: str) -> tuple[bytes, bytes] | None:
    """(user, password) from ``Basic base64(user:password)``, or None when malformed.

    aiohttp hands header bytes that are not UTF-8 over as surrogate escapes; they are turned back
    into the bytes sent, so any header is a verdict, never an exception (that was a 500)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip().encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


class BasicAuth:
    def __init__(
        self,
        users: dict[str, str],
        *,
        burst: int = 10,
        refill_per_second: float = 1.0,
        max_pending: int = 8,
        workers: int = 2,
        cache_size: int = 256,
    ) -> None:
        self.users = {u.encode(): bcrypt_hash(h) for u, h in users.items()}
        # The dummy costs what a real user's check costs, whatever cost the hashes were made with.
        cost = max((_cost(h) for h in self.users.values()), default=10)
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
        self.buckets = TokenBuckets(burst, refill_per_second)
        self.max_pending, self.cache_size = max_pending, cache_size
        self._pending = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bcrypt")
        self._cache_key = secrets.token_bytes(32)
        self._passed: OrderedDict[bytes, None] = OrderedDict()
        self.counts: dict[Verdict, int] = dict.fromkeys(Verdict, 0)

    async def check(self, header: str | None, client: str) -> Verdict:
        """The verdict for one request's ``Authorization`` header from ``client`` (see
        ``client_key``); counted in ``counts``."""
        verdict = await self._check(header, client)
        self.counts[verdict] += 1
        return verdict

    async def _check(self, header: str | None, client: str) -> Verdict:
        if not header:
            return Verdict.MISSING
        credential = parse_basic(header)
        if credential is None:
            return Verdict.MALFORMED
        user, password = credential
        key = hmac.digest(self._cache_key, user + b":" + password, "sha256")
        if key in self._passed:
            self._passed.move_to_end(key)
            return Verdict.CACHED
        if self._pending >= self.max_pending:
            return Verdict.OVERLOADED
        if not self.buckets.take(client):
            return Verdict.RATE_LIMITED
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(self._executor, self._verify, user, password)
        finally:
            self._pending -= 1
        if not ok:
            return Verdict.WRONG
        self.buckets.give_back(client)
        self._passed[key] = None
        while len(self._passed) > self.cache_size:
            self._passed.popitem(last=False)
        return Verdict.VERIFIED

    def _verify(self, user: bytes, password: bytes) -> bool:
        """One bcrypt check (in a worker thread), exactly one whether or not the user exists."""
        hashed = self.users.get(user)
        # bcrypt only ever used the first 72 bytes (htpasswd too); the module now refuses
        # longer passwords with ValueError instead of truncating.
        try:
            ok = bcrypt.checkpw(password[:72], hashed if hashed is not None else self._dummy)
        except ValueError:
            ok = False
        return ok and hashed is not None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class AuthMetrics:
    """``escrow_exporter_http_auth_checks_total{result}``, every result from the start."""

    def __init__(self, auth: BasicAuth) -> None:
        self.auth = auth

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "escrow_exporter_http_auth_checks",
            "Basic-auth checks of HTTP requests by result; bcrypt ran for verified and wrong only.",
            labels=["result"],
        )
        for verdict, count in self.auth.counts.items():
            family.add_metric([verdict.value], count)
        yield family
