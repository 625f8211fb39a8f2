"""The demo business database: a SQLite ledger kept consistent with the simulated chain.

``attach(chain, path)`` (re)creates the file with the reference schema (schema/sqlite) and
subscribes to the chain. Every ``BusinessEvent`` becomes rows: a ledger entry per deposit, prize
payout, fee, refund and withdrawal; matches; users; withdrawals (pending for a moment, then
completed); outbox messages; payment webhooks; an audit-log row with the next sequence number.
A background thread also records periodic reconciliation runs (books versus on-chain escrow).

So ``escrow_ledger_escrow_balance`` equals the on-chain escrow balance while healthy, and drifts
when money leaves escrow without an event (``Chain.drain_escrow``), which also makes the
reconciliation runs fail. ``Chain.request_audit_gap()`` (or ``Ledger.open_audit_gap()``) makes
the next audit-log row skip a sequence number.

The listener only appends to a queue, so the chain never waits on disk; the thread writes in
batches, one transaction per batch.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devchain.accounts import token_amount
from devchain.events import BusinessEvent
from devchain.program import MINT_DECIMALS, NATIVE_MINT, WATCHED
from exporter.sql.migrate import apply_sqlite

if TYPE_CHECKING:
    from devchain.chain import Chain

log = logging.getLogger("devchain.ledger")

SOL = str(NATIVE_MINT)
#: Escrow accounts the books track: config name -> (address, mint address).
ESCROWS = {name: (str(addr), mint) for name, (addr, mint) in WATCHED.items() if name.startswith("escrow_")}
#: Signed effect of each ledger kind on the escrow account (payouts stay in escrow as credits).
_DIRECTION = {"deposit": 1, "adjustment": 1, "payout": 0, "fee": -1, "refund": -1, "withdrawal": -1}
_PROVIDERS = ("stripe", "moonpay", "ramp")


def mint_label(mint: str) -> str:
    """The exporter's ``mint`` label: ``SOL`` for native SOL, else the mint address."""
    return "SOL" if mint == SOL else mint


def whole_units(raw: int, mint: str) -> str:
    """Raw units as an exact decimal string in whole units (SQLite stores it as a number)."""
    return str(Decimal(raw).scaleb(-MINT_DECIMALS.get(mint, 0)))


def _h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@dataclass(slots=True)
class _Item:
    event: BusinessEvent | None
    skip_audit: int  # sequence numbers to skip before this item's audit row
    received: float


class Ledger:
    def __init__(
        self,
        chain: Chain,
        path: str | Path,
        reconcile_every: float = 30.0,
        confirm_withdrawals_after: float = 2.0,
    ) -> None:
        self.chain = chain
        self.path = Path(path)
        self.reconcile_every = reconcile_every
        self.confirm_after = confirm_withdrawals_after
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._stop = threading.Event()
        self._gap_requests = 0
        self._gap_lock = threading.Lock()
        # Expected raw escrow balances, kept in the chain's thread so they match its balances.
        self._tally: dict[str, int] = {}
        self._seq = 0
        self._thread = threading.Thread(target=self._run, name="devchain-ledger", daemon=True)
        self._conn: sqlite3.Connection | None = None
        self.written = 0  # events written, for tests and /_state-like introspection

    # ---- set-up ---------------------------------------------------------------------------
    def start(self) -> Ledger:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)  # the chain is new: so are the books
        apply_sqlite(self.path)
        conn = sqlite3.connect(self.path)
        with conn:
            conn.execute("PRAGMA journal_mode=WAL")  # readers (the exporter) never block the writer
            now = time.time()
            for name, (address, mint) in ESCROWS.items():
                conn.execute(
                    "INSERT INTO escrow_accounts (name, address, mint, decimals) VALUES (?, ?, ?, ?)",
                    (name, address, mint_label(mint), MINT_DECIMALS[mint]),
                )
                # Opening balance: what escrow already holds (rent, earlier activity) plus any
                # amount drained before we attached, which the books never saw leave.
                raw = self._chain_balance(name) + self.chain.drained.get(name, 0)
                self._tally[name] = raw
                conn.execute(
                    "INSERT INTO ledger_entries (kind, amount, mint, escrow_account, signature, created_at) "
                    "VALUES ('adjustment', ?, ?, ?, 'opening-balance', ?)",
                    (whole_units(raw, mint), mint_label(mint), name, now),
                )
        conn.close()
        self.chain.add_listener(self.on_event)
        self._thread.start()
        return self

    def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every event announced so far is written (for tests and demos)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise TimeoutError(f"demo ledger: {self._queue.unfinished_tasks} event(s) still unwritten")
            time.sleep(0.02)

    def open_audit_gap(self, count: int = 1) -> None:
        """Make the next audit-log row skip ``count`` sequence numbers."""
        with self._gap_lock:
            self._gap_requests += count
        self._queue.put(_Item(None, 0, time.time()))  # write it now even if the chain is idle

    # ---- the chain's thread ---------------------------------------------------------------
    def on_event(self, event: BusinessEvent) -> None:
        """Listener: O(1), never blocks the chain."""
        account = event.escrow_account
        if account in self._tally:
            if event.kind == "deposit":
                self._tally[account] += event.amount
            elif event.kind in ("refund", "withdrawal"):
                self._tally[account] -= event.amount
            elif event.kind == "settlement":
                self._tally[account] -= event.fee
        self._queue.put(_Item(event, 0, time.time()))

    def _take_gaps(self) -> int:
        with self._gap_lock:
            n, self._gap_requests = self._gap_requests, 0
        consume = getattr(self.chain, "consume_audit_gap", None)
        while consume is not None and consume():
            n += 1
        return n

    def _chain_balance(self, name: str) -> int:
        address, mint = WATCHED[name]
        acc = self.chain.accounts.get(address)
        if acc is None:
            return 0
        return acc.lamports if mint == SOL else token_amount(acc)

    # ---- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        next_reconcile = 0.0
        try:
            while True:
                batch = self._drain(timeout=0.25)
                stopping = self._stop.is_set()
                now = time.time()
                try:
                    with self._transaction():
                        for item in batch:
                            self._write(item)
                        self._housekeeping(now)
                except Exception:  # a bug must not stop the books for good: log it, keep going
                    log.exception("demo ledger failed to write a batch of %d event(s)", len(batch))
                finally:
                    for _ in batch:
                        self._queue.task_done()
                if now >= next_reconcile or stopping:
                    self._reconcile()
                    next_reconcile = now + self.reconcile_every
                if stopping and self._queue.empty():
                    break
        finally:
            self._conn.close()

    def _drain(self, timeout: float) -> list[_Item]:
        try:
            items = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(items) < 5000:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        assert self._conn is not None
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except sqlite3.Error as e:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            log.warning("demo ledger write failed: %s", e)
            self._record_write_error(str(e))
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _record_write_error(self, message: str) -> None:
        assert self._conn is not None
        try:
            self._conn.execute(
                "INSERT INTO write_errors (component, error, created_at) VALUES ('ledger', ?, ?)",
                (message[:500], time.time()),
            )
        except sqlite3.Error:
            log.warning("demo ledger cannot record its write error either")

    def _x(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        assert self._conn is not None
        self._conn.execute(sql, params)

    def _audit(self, actor: str, action: str, detail: str, at: float) -> None:
        self._seq += 1 + self._take_gaps()
        self._x(
            "INSERT INTO audit_log (seq, created_at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (self._seq, at, actor, action, detail),
        )

    def _user(self, wallet: str | None, at: float) -> None:
        if not wallet:
            return
        h = _h(wallet)
        tier = ("none", "none", "none", "basic", "basic", "basic", "basic", "full", "full", "full")[h[0] % 10]
        self._x(
            "INSERT OR IGNORE INTO users (wallet, kyc_tier, frozen, created_at) VALUES (?, ?, ?, ?)",
            (wallet, tier, 1 if h[1] % 16 == 0 else 0, at),
        )

    def _entry(self, kind: str, e: BusinessEvent, amount: int, at: float) -> None:
        mint = e.mint or ""
        self._x(
            "INSERT INTO ledger_entries (kind, amount, mint, escrow_account, match_id, wallet, signature, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                whole_units(amount, mint),
                mint_label(mint),
                e.escrow_account,
                e.match_id,
                e.user,
                e.signature,
                at,
            ),
        )

    def _outbox(self, queue_name: str, payload: str, at: float) -> None:
        self._x("INSERT INTO outbox (queue, payload, created_at) VALUES (?, ?, ?)", (queue_name, payload, at))

    def _write(self, item: _Item) -> None:
        e = item.event
        at = item.received
        if e is None:  # an audit gap requested while the chain is idle
            self._audit("ledger", "audit_gap_marker", "", at)
            return
        self.written += 1
        self._user(e.user, at)
        money = e.kind in ("deposit", "settlement", "refund", "withdrawal")
        if money and e.escrow_account not in ESCROWS:
            self._record_write_error(f"{e.kind} {e.signature}: no escrow account for mint {e.mint}")
        elif e.kind == "match_created":
            self._x(
                "INSERT OR IGNORE INTO matches (id, creator, paid, entry_fee, mint, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'open', ?)",
                (
                    e.match_id,
                    e.user or "",
                    1 if e.paid else 0,
                    whole_units(e.amount, e.mint or ""),
                    mint_label(e.mint or ""),
                    at,
                ),
            )
        elif e.kind == "deposit":
            self._entry("deposit", e, e.amount, at)
            # The player paid through an on-ramp: its webhook arrives a little after the event.
            h = _h(e.signature)
            self._x(
                "INSERT INTO payment_webhooks (provider, event_id, created_at, received_at) VALUES (?, ?, ?, ?)",
                (_PROVIDERS[h[0] % len(_PROVIDERS)], e.signature, at - 0.2 - (h[1] % 30) / 10, at),
            )
        elif e.kind == "match_started":
            self._x("UPDATE matches SET status = 'in_progress' WHERE id = ?", (e.match_id,))
        elif e.kind == "settlement":
            self._entry("payout", e, e.amount, at)
            self._entry("fee", e, e.fee, at)
            self._x("UPDATE matches SET status = 'settled' WHERE id = ?", (e.match_id,))
            self._outbox("payouts", e.signature, at)
        elif e.kind == "refund":
            self._entry("refund", e, e.amount, at)
            self._x("UPDATE matches SET status = 'cancelled' WHERE id = ?", (e.match_id,))
        elif e.kind == "withdrawal":
            self._entry("withdrawal", e, e.amount, at)
            # Pending until the back office confirms it (confirm_withdrawals_after seconds).
            self._x(
                "INSERT INTO withdrawals (wallet, amount, mint, status, signature, requested_at) "
                "VALUES (?, ?, ?, 'pending', ?, ?)",
                (
                    e.user or "",
                    whole_units(e.amount, e.mint or ""),
                    mint_label(e.mint or ""),
                    e.signature,
                    at,
                ),
            )
        self._outbox("notifications", f"{e.kind}:{e.signature}", at)
        self._audit(e.user or "program", e.kind, e.signature, at)

    def _housekeeping(self, now: float) -> None:
        self._x(
            "UPDATE withdrawals SET status = 'completed', completed_at = ? WHERE status = 'pending' AND requested_at <= ?",
            (now, now - self.confirm_after),
        )
        self._x(
            "UPDATE outbox SET processed_at = ? WHERE processed_at IS NULL AND created_at <= ?",
            (now, now - 1.0),
        )
        self._x("DELETE FROM outbox WHERE processed_at < ?", (now - 300,))

    def _reconcile(self) -> None:
        """Books versus chain for every escrow account; a few tries absorb an event in flight."""
        started = time.time()
        diffs: dict[str, int] = {}
        for _ in range(5):
            diffs = {n: self._chain_balance(n) - self._tally.get(n, 0) for n in ESCROWS}
            diffs = {n: d for n, d in diffs.items() if d}
            if not diffs:
                break
            time.sleep(0.05)
        detail = ", ".join(f"{n} chain-books={d:+d} raw" for n, d in sorted(diffs.items()))
        with self._transaction():
            self._x(
                "INSERT INTO reconciliation_runs (started_at, finished_at, status, detail) VALUES (?, ?, ?, ?)",
                (started, time.time(), "failed" if diffs else "success", detail or None),
            )
            self._audit("reconciler", "reconciliation", "failed" if diffs else "success", started)


def attach(chain: Chain, path_or_dsn: str | Path, reconcile_every: float = 30.0) -> Ledger:
    """Create the demo ledger at ``path_or_dsn`` (a SQLite file) and keep it in step with ``chain``."""
    target = str(path_or_dsn)
    if target.startswith(("postgres://", "postgresql://")):
        raise ValueError(
            "the demo ledger writes SQLite only; pass a file path (PostgreSQL: load schema/postgres)"
        )
    return Ledger(chain, target, reconcile_every=reconcile_every).start()
