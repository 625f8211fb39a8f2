"""The demo business database: a ledger kept consistent with the simulated chain, in SQLite or
PostgreSQL.

``attach(chain, target)`` takes a SQLite file path or a ``postgresql://`` DSN. It (re)creates
the books with the reference schema (schema/sqlite or schema/postgres, migrations applied first;
on PostgreSQL the business tables are emptied, since the chain is new) and subscribes to the
chain. Every ``BusinessEvent`` becomes rows: a ledger entry per deposit, prize payout, fee,
refund and withdrawal; matches; users; withdrawals (pending for a moment, then completed);
outbox messages; payment webhooks; an audit-log row with the next sequence number. The writer
also records periodic reconciliation runs (books versus on-chain escrow).

So ``escrow_ledger_escrow_balance`` equals the on-chain escrow balance while healthy, and drifts
when money leaves escrow without an event (``Chain.drain_escrow``), which also makes the
reconciliation runs fail. ``Chain.request_audit_gap()`` (or ``Ledger.open_audit_gap()``) makes
the next audit-log row skip a sequence number.

The listener only appends to a queue, so the chain (running inside aiohttp's event loop) never
waits on the database; a dedicated thread writes in batches, one transaction per batch. For
PostgreSQL that thread runs its own asyncio loop with one asyncpg connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import queue
import random
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from devchain.accounts import token_amount
from devchain.events import BusinessEvent
from devchain.ledger_faults import LedgerFaults
from devchain.ledger_payments import PaymentsBook
from devchain.program import MINT_DECIMALS, NATIVE_MINT, WATCHED
from exporter.sql.migrate import apply_postgres, apply_sqlite

if TYPE_CHECKING:
    import asyncpg

    from devchain.chain import Chain

log = logging.getLogger("devchain.ledger")

SOL = str(NATIVE_MINT)
#: Escrow accounts the books track: config name -> (address, mint address).
ESCROWS = {name: (str(addr), mint) for name, (addr, mint) in WATCHED.items() if name.startswith("escrow_")}
_PROVIDERS = ("stripe", "moonpay", "ramp")
#: Every business table of the reference schema, emptied when a new chain attaches (PostgreSQL).
BUSINESS_TABLES = (
    "users",
    "escrow_accounts",
    "matches",
    "ledger_entries",
    "withdrawals",
    "reconciliation_runs",
    "audit_log",
    "outbox",
    "payment_webhooks",
    "write_errors",
    "payment_attempts",
    "disputes",
    "user_activity",
)

#: One SQL statement with ``?`` placeholders and its parameters.
Statement = tuple[str, tuple[Any, ...]]


class LedgerError(RuntimeError):
    """The demo ledger cannot start (database unreachable, schema cannot be applied)."""


class LedgerTargetError(LedgerError):
    """``--ledger-db`` names something the ledger must not use: a directory, a file that is not
    an SQLite database (it would be deleted)."""


#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\0"


def mint_label(mint: str) -> str:
    """The exporter's ``mint`` label: ``SOL`` for native SOL, else the mint address."""
    return "SOL" if mint == SOL else mint


def whole_units(raw: int, mint: str) -> str:
    """Raw units as an exact decimal string in whole units."""
    return str(Decimal(raw).scaleb(-MINT_DECIMALS.get(mint, 0)))


def is_postgres_dsn(target: str) -> bool:
    return target.startswith(("postgres://", "postgresql://"))


def describe_dsn(dsn: str) -> str:
    """``host:port/db`` of a DSN for messages: never its user, password or parameters."""
    u = urlparse(dsn)
    return f"postgresql://{u.hostname or 'localhost'}:{u.port or 5432}{u.path or '/'}"


def _h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


# ---- backends: where the statements go -------------------------------------------------------
class Backend(Protocol):
    """Runs the ledger's statements; all methods are called from the writer thread only."""

    #: Exceptions that mean "this batch was not written" (logged and recorded, then go on).
    write_errors: tuple[type[BaseException], ...]

    def open(self, reset: list[Statement]) -> None:
        """Connect, apply migrations, empty the books and run ``reset`` in one transaction."""

    def run(self, statements: list[Statement]) -> None:
        """Run ``statements`` in one transaction (all or nothing)."""

    def close(self) -> None: ...

    def timestamp(self, unix: float) -> Any: ...

    def flag(self, value: bool) -> Any: ...

    def amount(self, whole: str) -> Any: ...


class SqliteBackend:
    write_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def check_target(self) -> None:
        """Refuse a path the books must not replace: they delete the file they start from."""
        if self.path.is_dir():
            raise LedgerTargetError(f"demo ledger: {self.path} is a directory, not an SQLite file")
        try:
            with self.path.open("rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except FileNotFoundError:
            return
        except OSError as e:
            raise LedgerTargetError(f"demo ledger: cannot read {self.path}: {e.strerror}") from None
        if head and head != SQLITE_HEADER:  # empty is fine: SQLite itself makes a database of it
            raise LedgerTargetError(
                f"demo ledger: {self.path} exists and is not an SQLite database; refusing to replace it"
            )

    def open(self, reset: list[Statement]) -> None:
        self.check_target()
        try:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)  # the chain is new: so are the books
            apply_sqlite(self.path)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")  # readers (the exporter) never block the writer
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
        except (OSError, sqlite3.Error) as e:
            raise LedgerError(f"demo ledger: cannot create {self.path}: {e}") from None
        self.run(reset)

    def run(self, statements: list[Statement]) -> None:
        assert self._conn is not None
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                self._conn.execute(sql, params)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def timestamp(self, unix: float) -> float:
        return unix

    def flag(self, value: bool) -> int:
        return 1 if value else 0

    def amount(self, whole: str) -> str:
        return whole  # NUMERIC affinity stores it as a number


_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2...`` (the ledger's SQL has no ``?`` literal)."""
    counter = iter(range(1, 1000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class PostgresBackend:
    """asyncpg on a private event loop owned by the writer thread."""

    #: A lost connection is retried this many times (one second apart) before a batch is given up.
    RECONNECT_TRIES = 10

    def __init__(self, dsn: str) -> None:
        import asyncpg

        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self._asyncpg = asyncpg
        self.write_errors: tuple[type[BaseException], ...] = (
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            OSError,
        )
        self._lost: tuple[type[BaseException], ...] = (
            asyncpg.InterfaceError,
            asyncpg.PostgresConnectionError,
            OSError,
        )
        self._loop = asyncio.new_event_loop()
        self._conn: asyncpg.Connection | None = None

    def _redact(self, e: BaseException) -> str:
        return f"{type(e).__name__}: {str(e).replace(self.dsn, '***')}"

    async def _connect(self) -> asyncpg.Connection:
        return await self._asyncpg.connect(
            self.dsn, timeout=10, server_settings={"application_name": "devchain-ledger"}
        )

    async def _migrate(self) -> None:
        try:
            await apply_postgres(self.dsn)
        except self._asyncpg.DuplicateTableError:
            # The schema was loaded without the migration tool (docker-entrypoint-initdb.d, psql -f):
            # no schema_migrations rows, but the tables are there. Use them as they are.
            conn = await self._connect()
            try:
                have = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
            finally:
                await conn.close()
            if not set(BUSINESS_TABLES) <= have:
                raise
            log.info(
                "demo ledger: %s has the reference tables but no migration record; using them", self.where
            )

    def open(self, reset: list[Statement]) -> None:
        try:
            self._loop.run_until_complete(self._migrate())
            self._conn = self._loop.run_until_complete(self._connect())
        except Exception as e:  # asyncpg/OS errors: name the server, never the DSN
            raise LedgerError(f"demo ledger: cannot prepare {self.where}: {self._redact(e)}") from None
        empty = ("TRUNCATE " + ", ".join(BUSINESS_TABLES) + " RESTART IDENTITY", ())
        self.run([empty, *reset])

    async def _run(self, statements: list[Statement]) -> None:
        assert self._conn is not None
        async with self._conn.transaction():
            for sql, params in statements:
                await self._conn.execute(_numbered(sql), *params)

    def run(self, statements: list[Statement]) -> None:
        for attempt in range(self.RECONNECT_TRIES):
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = self._loop.run_until_complete(self._connect())
                self._loop.run_until_complete(self._run(statements))
                return
            except self._lost as e:  # the server restarted or went away: reconnect and retry the batch
                if attempt + 1 == self.RECONNECT_TRIES:
                    raise
                log.warning("demo ledger lost %s (%s); reconnecting", self.where, self._redact(e))
                self._drop()
                time.sleep(1.0)

    def _drop(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            self._conn.terminate()
        self._conn = None

    def close(self) -> None:
        try:
            if self._conn is not None and not self._conn.is_closed():
                self._loop.run_until_complete(self._conn.close(timeout=5))
        except Exception:  # closing a broken connection: nothing left to save
            self._drop()
        finally:
            self._loop.close()

    def timestamp(self, unix: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(unix, dt.UTC)

    def flag(self, value: bool) -> bool:
        return value

    def amount(self, whole: str) -> Decimal:
        return Decimal(whole)


# ---- the ledger --------------------------------------------------------------------------------
@dataclass(slots=True)
class _Item:
    event: BusinessEvent | None
    received: float
    #: Not written before this wall time (the busy profile's random write delay).
    due: float = 0.0


class Ledger:
    def __init__(
        self,
        chain: Chain,
        backend: Backend,
        reconcile_every: float = 30.0,
        confirm_withdrawals_after: float = 2.0,
        write_delay: tuple[float, float] = (0.0, 0.0),
        seed: int = 0,
    ) -> None:
        self.chain = chain
        self.backend = backend
        self.reconcile_every = reconcile_every
        self.confirm_after = confirm_withdrawals_after
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._start_error: LedgerError | None = None
        self._gap_requests = 0
        self._gap_lock = threading.Lock()
        # Expected raw escrow balances, kept in the chain's thread so they match its balances.
        self._tally: dict[str, int] = {}
        self._seq = 0
        self._pending: list[Statement] = []
        self._thread = threading.Thread(target=self._run, name="devchain-ledger", daemon=True)
        #: Seconds (min, max) each event waits before it is written, at random, as real back ends do.
        self.write_delay = write_delay
        self._delay_rng = random.Random(seed)
        self._held: list[_Item] = []
        #: Book-keeping faults (devchain.faults): requests from the server, applied by the writer.
        self.faults = LedgerFaults()
        #: Payments, disputes and user activity (devchain.ledger_payments), and its actions.
        self.payments = PaymentsBook()
        self.written = 0  # events written, for tests and /_state-like introspection
        #: Whether the last write reached the database: the simulated platform's /health says
        #: "database":{"status":"up"} while it did and the writer runs.
        self.last_write_ok = True

    @property
    def database_up(self) -> bool:
        return self._thread.is_alive() and self.last_write_ok

    # ---- set-up ---------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> Ledger:
        """Prepare the books (in the writer thread), then follow the chain. Raises LedgerError."""
        now = time.time()
        opening: list[Statement] = []
        for name, (address, mint) in ESCROWS.items():
            opening.append(
                (
                    "INSERT INTO escrow_accounts (name, address, mint, decimals) VALUES (?, ?, ?, ?)",
                    (name, address, mint_label(mint), MINT_DECIMALS[mint]),
                )
            )
            # Opening balance: what escrow already holds (rent, earlier activity) plus any
            # amount drained before we attached, which the books never saw leave.
            raw = self._chain_balance(name) + self.chain.drained.get(name, 0)
            self._tally[name] = raw
            opening.append(
                (
                    "INSERT INTO ledger_entries (kind, amount, mint, escrow_account, signature, slot, created_at) "
                    "VALUES ('adjustment', ?, ?, ?, 'opening-balance', ?, ?)",
                    (
                        self.backend.amount(whole_units(raw, mint)),
                        mint_label(mint),
                        name,
                        self.chain.slot,
                        self.backend.timestamp(now),
                    ),
                )
            )
        # The books equal the chain by construction: that is the first successful reconciliation
        # (recorded here, not by the thread, which could look while the chain is mid-transaction).
        ts = self.backend.timestamp(now)
        opening.append(
            (
                "INSERT INTO reconciliation_runs (started_at, finished_at, status, detail) VALUES (?, ?, 'success', NULL)",
                (ts, ts),
            )
        )
        self._seq = 1
        opening.append(
            (
                "INSERT INTO audit_log (seq, created_at, actor, action, detail) VALUES (1, ?, 'reconciler', 'reconciliation', 'success')",
                (ts,),
            )
        )
        self._opening = opening
        self._thread.start()
        if not self._ready.wait(timeout):
            self._stop.set()
            raise LedgerError(f"demo ledger: the database was not ready within {timeout:.0f}s")
        if self._start_error is not None:
            raise self._start_error
        self.chain.add_listener(self.on_event)
        return self

    def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

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
        self._queue.put(_Item(None, time.time()))  # write it now even if the chain is idle

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
        now = time.time()
        lo, hi = self.write_delay
        self._queue.put(_Item(event, now, now + (self._delay_rng.uniform(lo, hi) if hi > 0 else 0.0)))

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
        try:
            self.backend.open(self._opening)
        except LedgerError as e:
            self._start_error = e
        except self.backend.write_errors as e:
            self._start_error = LedgerError(f"demo ledger: cannot write the opening balances: {e}")
        except Exception as e:  # anything else: fail the start, never run on without the books
            self._start_error = LedgerError(f"demo ledger: cannot start: {type(e).__name__}: {e}")
        finally:
            self._ready.set()
        if self._start_error is not None:
            self.backend.close()
            return
        next_reconcile = time.time() + self.reconcile_every
        try:
            while True:
                batch = self._drain(timeout=0.25)
                stopping = self._stop.is_set()
                now = time.time()
                try:
                    with self._transaction():
                        self.faults.apply_requests(self._x, self.backend, now)
                        self.payments.apply_requests(self._x, self.backend, now)
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
                if stopping and self._queue.empty() and not self._held:
                    break
        finally:
            self.backend.close()

    def _drain(self, timeout: float) -> list[_Item]:
        """The items due now: delayed ones wait in ``_held`` (still unfinished for ``flush``)."""
        items: list[_Item] = []
        try:
            items.append(self._queue.get(timeout=timeout if not self._held else min(timeout, 0.05)))
        except queue.Empty:
            pass
        while len(items) < 5000:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not self._held and all(i.due <= 0 for i in items):
            return items
        self._held.extend(items)
        now = time.time()
        due = sorted((i for i in self._held if i.due <= now or self._stop.is_set()), key=lambda i: i.due)
        self._held = [i for i in self._held if not (i.due <= now or self._stop.is_set())]
        return due

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Statements issued inside go to the database in one transaction on exit."""
        self._pending = []
        yield
        statements, self._pending = self._pending, []
        try:
            self.backend.run(statements)
            self.last_write_ok = True
        except self.backend.write_errors as e:
            self.last_write_ok = False
            log.warning("demo ledger write failed: %s", e)
            self._record_write_error(str(e))

    def _record_write_error(self, message: str) -> None:
        try:
            self.backend.run(
                [
                    (
                        "INSERT INTO write_errors (component, error, created_at) VALUES ('ledger', ?, ?)",
                        (message[:500], self._ts(time.time())),
                    )
                ]
            )
        except self.backend.write_errors:
            log.warning("demo ledger cannot record its write error either")

    def _x(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._pending.append((sql, params))

    def _ts(self, unix: float) -> Any:
        return self.backend.timestamp(unix)

    def _amount(self, raw: int, mint: str) -> Any:
        return self.backend.amount(whole_units(raw, mint))

    def _audit(self, actor: str, action: str, detail: str, at: float) -> None:
        self._seq += 1 + self._take_gaps()
        self._x(
            "INSERT INTO audit_log (seq, created_at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (self._seq, self._ts(at), actor, action, detail),
        )

    def _user(self, wallet: str | None, at: float) -> None:
        if not wallet:
            return
        h = _h(wallet)
        tier = ("none", "none", "none", "basic", "basic", "basic", "basic", "full", "full", "full")[h[0] % 10]
        self._x(
            "INSERT INTO users (wallet, kyc_tier, frozen, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (wallet) DO NOTHING",
            (wallet, tier, self.backend.flag(h[1] % 16 == 0), self._ts(at)),
        )

    def _entry(self, kind: str, e: BusinessEvent, amount: int, at: float) -> None:
        mint = e.mint or ""
        # The entry carries the slot and signature of the transaction it reflects: the books can
        # then be read "as of slot S" and compared with the chain at that slot.
        row = (
            "INSERT INTO ledger_entries (kind, amount, mint, escrow_account, match_id, wallet, signature, slot, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                self._amount(amount, mint),
                mint_label(mint),
                e.escrow_account,
                e.match_id,
                e.user,
                e.signature,
                e.slot,
                self._ts(at),
            ),
        )
        for _ in range(self.faults.copies_of_entry(kind, e.escrow_account, amount)):
            self._x(*row)

    def _outbox(self, queue_name: str, payload: str, at: float) -> None:
        self._x(
            "INSERT INTO outbox (queue, payload, created_at) VALUES (?, ?, ?)",
            (queue_name, payload, self._ts(at)),
        )

    def _write(self, item: _Item) -> None:
        e = item.event
        at = item.received
        if e is None:  # an audit gap requested while the chain is idle
            self._audit("ledger", "audit_gap_marker", "", at)
            return
        self.written += 1
        self._user(e.user, at)
        self.payments.on_event(
            e, at, self._x, self.backend, whole_units(e.amount, e.mint or ""), mint_label(e.mint or "")
        )
        money = e.kind in ("deposit", "settlement", "refund", "withdrawal")
        if money and (e.escrow_account not in ESCROWS or e.escrow_account in self.faults.forgotten):
            self._x(
                "INSERT INTO write_errors (component, error, created_at) VALUES ('ledger', ?, ?)",
                (f"{e.kind} {e.signature}: no escrow account for mint {e.mint}", self._ts(at)),
            )
        elif e.kind == "match_created":
            self._x(
                "INSERT INTO matches (id, creator, paid, entry_fee, mint, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'open', ?) ON CONFLICT (id) DO NOTHING",
                (
                    e.match_id,
                    e.user or "",
                    self.backend.flag(e.paid),
                    self._amount(e.amount, e.mint or ""),
                    mint_label(e.mint or ""),
                    self._ts(at),
                ),
            )
        elif e.kind == "deposit":
            self._entry("deposit", e, e.amount, at)
            # The match funnel: the first entry fee deposited makes the match funded.
            self._x(
                "UPDATE matches SET funded_at = ? WHERE id = ? AND funded_at IS NULL",
                (self._ts(at), e.match_id),
            )
            # The player paid through an on-ramp: its webhook arrives a little after the event.
            h = _h(e.signature)
            self._x(
                "INSERT INTO payment_webhooks (provider, event_id, created_at, received_at) VALUES (?, ?, ?, ?)",
                (
                    _PROVIDERS[h[0] % len(_PROVIDERS)],
                    e.signature,
                    self._ts(at - 0.2 - (h[1] % 30) / 10),
                    self._ts(at),
                ),
            )
        elif e.kind == "match_started":
            self._x(
                "UPDATE matches SET status = 'in_progress', started_at = ? WHERE id = ?",
                (self._ts(at), e.match_id),
            )
        elif e.kind == "settlement":
            self._entry("payout", e, e.amount, at)
            self._entry("fee", e, e.fee, at)
            self._x(
                "UPDATE matches SET status = 'settled', settled_at = ? WHERE id = ?",
                (self._ts(at), e.match_id),
            )
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
                    self._amount(e.amount, e.mint or ""),
                    mint_label(e.mint or ""),
                    e.signature,
                    self._ts(at),
                ),
            )
        self._outbox("notifications", f"{e.kind}:{e.signature}", at)
        self._audit(e.user or "program", e.kind, e.signature, at)

    def _housekeeping(self, now: float) -> None:
        self._x(
            "UPDATE withdrawals SET status = 'completed', completed_at = ? WHERE status = 'pending' AND requested_at <= ?",
            (self._ts(now), self._ts(now - self.confirm_after)),
        )
        self._x(
            "UPDATE outbox SET processed_at = ? WHERE processed_at IS NULL AND created_at <= ?",
            (self._ts(now), self._ts(now - 1.0)),
        )
        self._x("DELETE FROM outbox WHERE processed_at < ?", (self._ts(now - 300),))
        self.payments.housekeeping(self._x, self.backend, now)

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
                (self._ts(started), self._ts(time.time()), "failed" if diffs else "success", detail or None),
            )
            self._audit("reconciler", "reconciliation", "failed" if diffs else "success", started)


def attach(
    chain: Chain,
    path_or_dsn: str | Path,
    reconcile_every: float = 30.0,
    write_delay: tuple[float, float] = (0.0, 0.0),
) -> Ledger:
    """Create the demo ledger at ``path_or_dsn`` (a SQLite file, or a ``postgresql://`` DSN whose
    database exists) and keep it in step with ``chain``; each event is written ``write_delay``
    (min, max) seconds after it happened, at random. Raises ``LedgerError`` when it cannot."""
    target = str(path_or_dsn)
    backend: Backend = PostgresBackend(target) if is_postgres_dsn(target) else SqliteBackend(Path(target))
    return Ledger(
        chain, backend, reconcile_every=reconcile_every, write_delay=write_delay, seed=chain.seed
    ).start()
