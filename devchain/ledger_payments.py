"""Payments, disputes and user activity of the demo ledger (schema migration 004).

Each entry fee the chain sees deposited was paid in through a provider (card or on-ramp): one
succeeded ``payment_attempts`` row, preceded now and then by a declined attempt of the same user
(about 1 in 256 deposits, so the failed-payment ratio sits near 0.4 %, under the 2 % alert). A few
payments are disputed later on their own (an inquiry about 1 in 256, a chargeback about 1 in
2000). ``user_activity`` gets a row per user per minute of activity, whatever the event.

``POST /_actions {"action": "chargeback", "count": N}`` (``provider`` optional) opens N
chargebacks against the most recent successful payments, as a payment provider reporting a wave
of disputed card payments would: ``escrow_business_disputes_total{kind="chargeback"}`` grows by N
and ``EscrowChargebackSpike`` pages once past its threshold. ``{"action": "payment_failures",
"count": N}`` records N declined attempts (the failed-payment drill).

Like ``LedgerFaults``: requests come from the server's thread and are applied by the writer
thread inside its next batch. Everything is derived from the event's signature, so a seed
replays the same payments.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any, Protocol

from devchain.events import BusinessEvent

ACTIONS = ("chargeback", "payment_failures")
PROVIDERS = ("stripe", "moonpay", "ramp")
FAILURE_REASONS = ("card_declined", "insufficient_funds", "expired_card", "3ds_failed")
DISPUTE_REASONS = ("fraudulent", "product_not_received", "duplicate", "unrecognized")
#: Seconds between two activity rows of one user (one per minute keeps the table small).
ACTIVITY_EVERY = 60.0
#: An inquiry nobody escalated is closed (won) after this long.
INQUIRY_CLOSES_AFTER = 600.0

Run = Callable[[str, tuple[Any, ...]], None]


class _Backend(Protocol):
    def timestamp(self, unix: float) -> Any: ...

    def amount(self, whole: str) -> Any: ...


def provider_of(signature: str) -> str:
    """The provider a deposit was paid through (the same one its payment webhook names)."""
    return PROVIDERS[hashlib.sha256(signature.encode()).digest()[0] % len(PROVIDERS)]


class PaymentsBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._last_active: dict[str, float] = {}
        #: What each request did, shown by ``GET /_state`` under ``payments``.
        self.applied: list[dict[str, Any]] = []

    # ---- the server's thread --------------------------------------------------------------
    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        action = body.get("action")
        if action not in ACTIONS:
            raise ValueError(f"unknown payments action {action!r}; known: {', '.join(ACTIONS)}")
        count = body.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000:
            raise ValueError(f"{action}: count must be a whole number from 1 to 1000, got {count!r}")
        provider = body.get("provider")
        if provider is not None and provider not in PROVIDERS:
            raise ValueError(f"{action}: unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
        with self._lock:
            self._requests.append({"action": action, "count": count, "provider": provider})
        return {"action": action, "count": count, "queued": True}

    # ---- the writer thread ----------------------------------------------------------------
    def apply_requests(self, run: Run, backend: _Backend, now: float) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for r in requests:
            provider = r["provider"]
            if r["action"] == "chargeback":
                # Against the newest successful payments not disputed yet (of the provider, when named).
                where = (
                    "outcome = 'succeeded' AND id NOT IN "
                    "(SELECT payment_attempt_id FROM disputes WHERE payment_attempt_id IS NOT NULL)"
                ) + (" AND provider = ?" if provider else "")
                params: tuple[Any, ...] = (
                    backend.timestamp(now),
                    *((provider,) if provider else ()),
                    r["count"],
                )
                run(
                    "INSERT INTO disputes (payment_attempt_id, provider, kind, status, amount, currency, reason, "
                    "opened_at) SELECT id, provider, 'chargeback', 'open', amount, currency, 'fraudulent', "
                    # PostgreSQL types a parameter in a SELECT list as text; SQLite keeps the number.
                    "CAST(? AS TIMESTAMPTZ) "
                    f"FROM payment_attempts WHERE {where} ORDER BY id DESC LIMIT ?",
                    params,
                )
            else:
                for i in range(r["count"]):
                    run(
                        "INSERT INTO payment_attempts (wallet, provider, provider_ref, amount, currency, outcome, "
                        "failure_reason, created_at) VALUES (?, ?, ?, ?, 'USD', 'failed', ?, ?)",
                        (
                            f"drill-wallet-{i % 7}",
                            provider or PROVIDERS[i % len(PROVIDERS)],
                            f"drill-{len(self.applied)}-{i}",
                            backend.amount("10"),
                            FAILURE_REASONS[i % len(FAILURE_REASONS)],
                            backend.timestamp(now),
                        ),
                    )
            self.applied.append(dict(r))

    def on_event(
        self, e: BusinessEvent, at: float, run: Run, backend: _Backend, whole: str, currency: str
    ) -> None:
        """Rows for one event: the user's activity; for a deposit, its payment (and maybe a
        declined attempt before it, and a later dispute). ``whole``: the deposit in whole units."""
        if e.user and at - self._last_active.get(e.user, float("-inf")) >= ACTIVITY_EVERY:
            self._last_active[e.user] = at
            run(
                "INSERT INTO user_activity (wallet, action, created_at) VALUES (?, ?, ?)",
                (e.user, e.kind, backend.timestamp(at)),
            )
        if e.kind != "deposit":
            return
        h = hashlib.sha256(e.signature.encode()).digest()
        provider = provider_of(e.signature)
        insert = (
            "INSERT INTO payment_attempts (wallet, provider, provider_ref, amount, currency, match_id, outcome, "
            "failure_reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        if h[2] == 0:  # declined first, paid on the retry
            reason = FAILURE_REASONS[h[3] % len(FAILURE_REASONS)]
            run(
                insert,
                (
                    e.user or "",
                    provider,
                    f"{provider}-{e.signature[:20]}-declined",
                    backend.amount(whole),
                    currency,
                    e.match_id,
                    "failed",
                    reason,
                    backend.timestamp(at - 5),
                ),
            )
        run(
            insert,
            (
                e.user or "",
                provider,
                f"{provider}-{e.signature[:20]}",
                backend.amount(whole),
                currency,
                e.match_id,
                "succeeded",
                None,
                backend.timestamp(at),
            ),
        )
        kind = "inquiry" if h[4] == 0 else "chargeback" if h[4] == 1 and h[5] < 32 else None
        if kind is not None:
            run(
                "INSERT INTO disputes (payment_attempt_id, provider, kind, status, amount, currency, reason, opened_at) "
                "SELECT id, provider, CAST(? AS TEXT), 'open', amount, currency, CAST(? AS TEXT), CAST(? AS TIMESTAMPTZ) "
                "FROM payment_attempts WHERE provider_ref = ?",
                (
                    kind,
                    DISPUTE_REASONS[h[5] % len(DISPUTE_REASONS)],
                    backend.timestamp(at),
                    f"{provider}-{e.signature[:20]}",
                ),
            )

    def housekeeping(self, run: Run, backend: _Backend, now: float) -> None:
        run(
            "UPDATE disputes SET status = 'won', closed_at = ? WHERE kind = 'inquiry' AND status = 'open' "
            "AND opened_at <= ?",
            (backend.timestamp(now), backend.timestamp(now - INQUIRY_CLOSES_AFTER)),
        )
