"""A pool of named RPC endpoints with health checks, failover and failback.

* Requests go to the *active* endpoint. An endpoint fault (connection error, timeout, 429,
  node-behind error, malformed reply) retries on the next healthy endpoint at once, and after
  ``failover_after_errors`` consecutive faults the active endpoint changes.
* Health checks (getHealth + getSlot, every ``health_interval_seconds``) mark an endpoint
  unhealthy when it fails them or is more than ``max_slot_lag`` away from the *reference slot*.
* The reference slot is the highest slot among *trusted* endpoints, and trust is a quorum: the
  endpoints whose health check passed vote with their slots, and one far ahead of the median vote
  (a devnet URL configured by mistake, a node that lies) is marked *ahead*, down, and never used,
  not even as a last resort. "Far" is ``max_slot_lag`` when three or more endpoints vote (a real
  majority) and ``max_slot_ahead`` with fewer: two honest nodes that both pass getHealth are
  within a few hundred slots of each other, so a lagging backup never makes the preferred
  endpoint look like a liar, while a node thousands of slots ahead of the other cannot be honest.
  An endpoint seen ahead stays untrusted until another endpoint's slot agrees with it again, so
  it is not trusted alone when the others stop answering.
* Requests wait for the first health round, so no request reaches a lying endpoint before the
  slots were compared.
* Failback to an endpoint earlier in the config happens only after it stayed healthy for
  ``failback_after_seconds``: hysteresis, so a flapping provider does not flap the exporter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp

from exporter.config.model import SolanaConfig
from exporter.rpc.endpoint import Endpoint
from exporter.rpc.errors import NoHealthyEndpoint, RpcError, RpcRateLimited
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.redact import Redactor

log = logging.getLogger("exporter.rpc")
T = TypeVar("T")

BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 10.0
#: Upper bound on how fast slots advance, for ``slot_ceiling`` (the cluster does about 2.5/s).
SLOTS_PER_SECOND_BOUND = 10


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter around the nominal delay."""
    nominal = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2**attempt))
    return nominal * random.uniform(0.5, 1.5)


class RpcPool:
    def __init__(self, config: SolanaConfig, session: aiohttp.ClientSession, metrics: RpcMetrics) -> None:
        self.config = config
        self.commitment = config.commitment
        self.metrics = metrics
        self.redact = Redactor(config.endpoints)
        self.endpoints = [Endpoint(e, session, metrics, self.redact) for e in config.endpoints]
        self.active = self.endpoints[0]
        self.max_retries = max(e.max_retries for e in config.endpoints)
        #: The quorum slot of the last health round (None until a round had an answer).
        self.reference_slot: int | None = None
        self._reference_at = 0.0  # monotonic time of reference_slot
        self._checked = False
        self._round_lock = asyncio.Lock()
        for ep in self.endpoints:
            metrics.active.labels(ep.name).set(1 if ep is self.active else 0)
            metrics.up.labels(ep.name).set(1)
            metrics.slot_ahead.labels(ep.name).set(0)

    # -- requests -----------------------------------------------------------------------------

    async def call(self, method: str, params: Sequence[Any] | None = None) -> Any:
        """Send one request, failing over between endpoints; raise the last error if all fail."""
        return await self.failover(lambda ep, attempt: self.call_on(ep, method, params, attempt=attempt))

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Send a JSON-RPC batch to one endpoint (failing over as a whole)."""
        return (await self.batch_from(calls))[1]

    async def batch_from(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> tuple[Endpoint, list[Any]]:
        """``batch``, plus the endpoint that answered it."""

        async def on(ep: Endpoint, attempt: int) -> tuple[Endpoint, list[Any]]:
            return ep, await self.batch_on(ep, calls, attempt=attempt)

        return await self.failover(on)

    def current(self, tried: set[str] | None = None) -> Endpoint | None:
        """The endpoint a request would go to now (the active one unless it is unusable),
        leaving out those in ``tried``; None when every endpoint was tried."""
        return self._pick(tried or set())

    async def failover(self, read: Callable[[Endpoint, int], Awaitable[T]]) -> T:
        """``read(endpoint, round)`` on the endpoint a request would go to now; on an endpoint
        fault, on the next one. Each endpoint once per round (when none is healthy the preferred
        one stays the same, so without ``tried`` we would never move on), then ``max_retries``
        more rounds after a backoff; ``NoHealthyEndpoint`` with the last fault when all failed.
        Any other error is raised at once. The one failover loop: ``call``/``batch`` send one
        request through it, ingestion a whole multi-page read that must come from one node."""
        await self.first_health_round()  # no request reaches a lying endpoint
        last: RpcError | None = None
        for round_no in range(self.max_retries + 1):
            tried: set[str] = set()
            while (ep := self._pick(tried)) is not None:
                tried.add(ep.name)
                try:
                    return await read(ep, round_no)
                except RpcError as e:
                    if not e.endpoint_fault:
                        raise
                    last = e
            if round_no < self.max_retries:
                await asyncio.sleep(backoff_delay(round_no))
        raise NoHealthyEndpoint(last)

    async def call_on(
        self, ep: Endpoint, method: str, params: Sequence[Any] | None = None, *, attempt: int = 0
    ) -> Any:
        """One request to ``ep`` only, no failover: for multi-request reads that must all come from
        one node's view (a lagging node pages over a different history than a current one).
        ``attempt`` (the failover round) sets the backoff after a 429 without Retry-After."""
        return await self._send_on(ep, lambda: ep.call(method, params), attempt)

    async def batch_on(
        self, ep: Endpoint, calls: Sequence[tuple[str, Sequence[Any]]], *, attempt: int = 0
    ) -> list[Any]:
        """A batch to ``ep`` only, no failover (see ``call_on``)."""
        return list(await self._send_on(ep, lambda: ep.batch(calls), attempt))

    async def _send_on(self, ep: Endpoint, send: Callable[[], Awaitable[T]], attempt: int) -> T:
        """``send()`` to ``ep`` after its cooldown, keeping its streak of faults."""
        wait = ep.cooldown_until - time.monotonic()
        if wait > 0:  # a 429 told us when to come back
            await asyncio.sleep(min(wait, BACKOFF_CAP_SECONDS))
        try:
            result = await send()
        except RpcError as e:
            if e.endpoint_fault:
                self._on_fault(ep, e, attempt)
            else:  # the endpoint answered (an error about the request, not about the node)
                ep.consecutive_errors = 0
            raise
        ep.consecutive_errors = 0
        return result

    def report_fault(self, ep: Endpoint, err: RpcError) -> None:
        """An answer ``ep`` gave that only the caller could judge bad (a listing that is not a list,
        a transaction another endpoint has). The endpoint answered, so its streak of failed
        requests was reset; but the evidence is conclusive: fail over at once if it is active."""
        ep.consecutive_errors = max(ep.consecutive_errors, self.config.failover_after_errors - 1)
        self._on_fault(ep, err, 0)

    def slot_ceiling(self) -> int | None:
        """The highest slot an honest answer can hold now: the reference slot, plus max_slot_lag,
        plus the slots that can have passed since it was taken (at a generous 10 per second;
        Solana makes about 2.5). None before any health round had an answer."""
        if self.reference_slot is None:
            return None
        elapsed = time.monotonic() - self._reference_at
        return self.reference_slot + self.config.max_slot_lag + int(elapsed * SLOTS_PER_SECOND_BOUND) + 1

    async def first_health_round(self) -> None:
        """Return once a health round has compared the endpoints' slots (running one if none did)."""
        if not self._checked:
            await self.check_health()

    def _pick(self, tried: set[str]) -> Endpoint | None:
        """The active endpoint if usable, else the first healthy one in config order, else any."""
        now = time.monotonic()
        # An endpoint ahead of the quorum is never used: its answers come from another chain.
        candidates = [ep for ep in self.endpoints if ep.name not in tried and not ep.ahead]
        if not candidates:
            return None
        if self.active in candidates and self.active.healthy and self.active.cooldown_until <= now:
            return self.active
        ready = [ep for ep in candidates if ep.healthy and ep.cooldown_until <= now]
        if ready:
            return ready[0]
        # Nothing healthy left: still try, soonest out of cooldown first. A provider that is
        # flagged unhealthy may well answer, and failing without trying would lose a cycle.
        return min(candidates, key=lambda ep: (not ep.healthy, ep.cooldown_until))

    def _on_fault(self, ep: Endpoint, err: RpcError, attempt: int) -> None:
        ep.consecutive_errors += 1
        if isinstance(err, RpcRateLimited):
            delay = err.retry_after if err.retry_after is not None else backoff_delay(attempt)
            ep.cooldown_until = time.monotonic() + min(delay, 60.0)
        # The first failure of a streak is a warning; the rest would repeat it every request.
        level = logging.WARNING if ep.consecutive_errors == 1 else logging.DEBUG
        log.log(level, "rpc request failed", extra={"endpoint": ep.name, "error": str(err)})
        if ep is self.active and (
            ep.consecutive_errors >= self.config.failover_after_errors or isinstance(err, RpcRateLimited)
        ):
            self._mark_unhealthy(ep, str(err))
            self._switch_to_best(reason=type(err).__name__)

    # -- health -------------------------------------------------------------------------------

    def _mark_unhealthy(self, ep: Endpoint, why: str) -> None:
        if ep.healthy:
            ep.healthy = False
            self.metrics.up.labels(ep.name).set(0)
            log.warning("rpc endpoint unhealthy", extra={"endpoint": ep.name, "reason": why})

    def _switch_to_best(self, reason: str) -> None:
        best = next((ep for ep in self.endpoints if ep.healthy and not ep.ahead), None)
        if best is not None and best is not self.active:
            self._set_active(best, reason)

    def _set_active(self, ep: Endpoint, reason: str) -> None:
        old = self.active
        self.active = ep
        self.metrics.failovers.inc()
        self.metrics.active.labels(old.name).set(0)
        self.metrics.active.labels(ep.name).set(1)
        log.warning("rpc active endpoint changed", extra={"from": old.name, "to": ep.name, "reason": reason})

    async def _probe(self, ep: Endpoint) -> bool:
        """getHealth + getSlot in one batch; True when the node says it is healthy."""
        try:
            health, slot = await ep.batch([("getHealth", []), ("getSlot", [{"commitment": self.commitment}])])
        except Exception as e:  # an RpcError; anything else is a bug of ours, but one endpoint's
            # answer must never break the round for the others (nor leave this one marked up).
            if not isinstance(e, RpcError):
                log.error("health check raised", extra={"endpoint": ep.name}, exc_info=True)
            log.debug("health check failed", extra={"endpoint": ep.name, "error": str(e)})
            ep.last_probe_error = str(e) if isinstance(e, RpcError) else type(e).__name__
            # A node that does not answer has no current slot: a frozen one would read as a
            # growing lag (EscrowRpcEndpointLagging) on top of the endpoint being down.
            ep.slot = None
            for gauge in (self.metrics.slot, self.metrics.slot_lag):
                with contextlib.suppress(KeyError):
                    gauge.remove(ep.name)
            return False
        if isinstance(slot, int) and not isinstance(slot, bool):
            ep.slot = slot
            self.metrics.slot.labels(ep.name).set(slot)
        ok = health == "ok" and isinstance(slot, int)
        if not ok:
            ep.last_probe_error = self.redact(f"getHealth {health!r}, getSlot {slot!r}")[:200]
        return ok

    def _update_reference(self, answered: Sequence[bool]) -> None:
        """The reference slot, and which endpoints are too far ahead of the others to be trusted."""
        voters = sorted(
            ep.slot for ep, ok in zip(self.endpoints, answered, strict=True) if ok and ep.slot is not None
        )
        if not voters:  # nobody passed getHealth: the slots still say who is ahead of whom
            voters = sorted(ep.slot for ep in self.endpoints if ep.slot is not None)
        if not voters:
            return
        median = voters[(len(voters) - 1) // 2]  # the lower middle one for an even count
        bound = self.config.max_slot_lag if len(voters) >= 3 else self.config.max_slot_ahead
        for ep in self.endpoints:
            if ep.slot is None:
                continue
            ahead = ep.slot - median
            if ahead > bound:
                if not ep.ahead:
                    log.warning(
                        "rpc endpoint ahead of the others: not trusted",
                        extra={"endpoint": ep.name, "slots_ahead": ahead, "voting": len(voters)},
                    )
                ep.ahead = True
            elif len(voters) > 1:  # only another endpoint's slot can clear the suspicion
                ep.ahead = False
            self.metrics.slot_ahead.labels(ep.name).set(max(0, ahead) if ep.ahead else 0)
        trusted = [ep.slot for ep in self.endpoints if ep.slot is not None and not ep.ahead]
        self.reference_slot = max(trusted) if trusted else median
        self._reference_at = time.monotonic()

    async def check_health(self) -> None:
        """One round of health checks on every endpoint, then failover / failback decisions."""
        async with self._round_lock:
            await self._check_health()
            self._checked = True

    async def _check_health(self) -> None:
        results = await asyncio.gather(*(self._probe(ep) for ep in self.endpoints))
        self._update_reference(results)
        ref = self.reference_slot
        now = time.monotonic()
        for ep, answered in zip(self.endpoints, results, strict=True):
            lag = (ref - ep.slot) if (ref is not None and ep.slot is not None) else None
            if lag is not None:
                self.metrics.slot_lag.labels(ep.name).set(max(0, lag))
            healthy = answered and lag is not None and lag <= self.config.max_slot_lag and not ep.ahead
            if healthy and not ep.healthy:
                ep.healthy, ep.healthy_since, ep.consecutive_errors = True, now, 0
                self.metrics.up.labels(ep.name).set(1)
                log.info("rpc endpoint healthy", extra={"endpoint": ep.name, "slot": ep.slot})
            elif not healthy:
                if not answered:
                    why = f"health check failed: {ep.last_probe_error}"
                elif ep.ahead:
                    why = f"slot ahead of the other endpoints' (reference slot {ref}): not trusted"
                else:
                    why = f"{lag} slots behind the reference slot (max_slot_lag {self.config.max_slot_lag})"
                self._mark_unhealthy(ep, why)
        if not self.active.healthy:
            self._switch_to_best(reason="unhealthy")
            return
        for ep in self.endpoints:  # failback: first preferred endpoint healthy long enough
            if ep is self.active:
                break
            if ep.healthy and now - ep.healthy_since >= self.config.failback_after_seconds:
                self._set_active(ep, reason="failback")
                break

    async def run_health_checks(self) -> None:
        """Background task: health rounds forever (cancelled at shutdown)."""
        while True:
            try:
                await self.check_health()
            except Exception:  # never let the health loop die
                log.exception("health check round failed")
            await asyncio.sleep(self.config.health_interval_seconds)

    @property
    def healthy_count(self) -> int:
        return sum(1 for ep in self.endpoints if ep.healthy)
