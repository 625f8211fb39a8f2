"""The ingestion state file: per program, the cursor and every counter total, saved together.

Exactly-once counting rests on one rule: the cursor (the newest fully ingested signature) and
the counter values that include that signature's effects are written in *one* SQLite
transaction. A crash before the commit leaves the previous cursor and totals (the batch is
ingested again); a crash after it leaves both new. Nothing else is needed for restarts,
``kill -9`` or failovers.

Counter values are exact integers (event counts, raw token units, lamports, bucket counts),
stored as decimal text because u64 sums overflow SQLite's signed 64-bit integers. The
per-minute event counts and amounts by block time (``exporter.ingest.block_time``) are rows
of ``block_minutes``, written (and pruned) in the same transaction and covered by the seal.

With the ``logs`` source (issue 15), a transaction can be counted from its PubSub notification
before the signatures listing reaches it. Its signature is kept in ``pushed`` (with its slot and
the increments deferred to the listing: the reconciliation flows) in the same transaction as the
totals it changed, and deleted in the same transaction as the cursor that passes it: the listing
then skips it, so no crash can make it counted twice or lost.

A state file is never mistaken for a first start: only an absent file is one. A new file is
built complete under a temporary name and renamed into place, so a file that exists but
holds no state (0 bytes, emptied, truncated) was damaged after its creation. Each program's
rows carry a seal (``state_seal``) written in the same transaction; it and SQLite's
``integrity_check`` are verified on open and load. Damage raises ``StateError`` with reason
``state_damaged``: ingestion stops and the file is left as found, never reset to zeros.
One process per file (``state_lock``).

The file is opened with the standard ``sqlite3`` module on purpose: a commit then runs
without an ``await`` in the middle, so cancelling a cycle (timeout, shutdown) can never
separate the write from the in-memory update that follows it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter.ingest import block_time, state_lock, state_seal
from exporter.ingest.minute_rows import MinuteRows
from exporter.ingest.state_lock import StateError

__all__ = ["CounterKey", "Cursor", "MinuteKey", "ProgramState", "Pushed", "StateError", "StateStore"]

log = logging.getLogger("exporter.ingest")

#: (metric, ((label, value), ...)) — a counter series inside one program.
CounterKey = tuple[str, tuple[tuple[str, str], ...]]
#: (minute of block time, counter key) — one per-minute bucket (exporter.ingest.block_time).
MinuteKey = tuple[int, CounterKey]
#: A transaction counted from its notification: (slot, deferred increments as JSON text).
Pushed = tuple[int, str]

#: 2 added the ``seals`` table; a version 1 file is sealed (from its content) at first open.
#: 3 added ``block_minutes``; an older file gets the empty table at first open (an empty table
#: adds nothing to a seal, so its seals stay valid).
#: 4 added ``pushed`` (the logs source); an older file gets it empty at first open, likewise.
SCHEMA_VERSION = 4
_TABLES = ("meta", "cursors", "counters", "seals", "block_minutes", "pushed")
_SEALS = "CREATE TABLE seals (program TEXT PRIMARY KEY, digest TEXT NOT NULL);"
_BLOCK_MINUTES = """CREATE TABLE block_minutes (
    program TEXT NOT NULL,
    minute INTEGER NOT NULL,   -- blockTime // 60
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,      -- JSON list of [name, value] pairs, sorted
    value TEXT NOT NULL,       -- exact integer as decimal text
    PRIMARY KEY (program, minute, metric, labels)
);"""
_PUSHED = """CREATE TABLE pushed (
    program TEXT NOT NULL,
    signature TEXT NOT NULL,   -- counted from its notification, not yet passed by the listing
    slot INTEGER NOT NULL,
    deferred TEXT NOT NULL,    -- JSON: increments the listing applies when it passes it
    PRIMARY KEY (program, signature)
);"""
_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cursors (
    program TEXT PRIMARY KEY,
    program_id TEXT NOT NULL,
    signature TEXT,            -- NULL: started, nothing ingested yet (count from the beginning)
    slot INTEGER,
    block_time INTEGER,
    updated_at REAL NOT NULL
);
CREATE TABLE counters (
    program TEXT NOT NULL,
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,      -- JSON list of [name, value] pairs, sorted
    value TEXT NOT NULL,       -- exact integer as decimal text
    PRIMARY KEY (program, metric, labels)
);
{_SEALS}
{_BLOCK_MINUTES}
{_PUSHED}
"""
#: Page cache kept by the connection (SQLite's default is 2 MiB, filled over hours as the day of
#: block-time buckets grows). A commit touches the newest pages of each table and a prune the
#: oldest ones; the operating system caches the file behind it anyway.
_CACHE_KIB = 256
#: Primary SQLite result codes caused by the environment rather than the file's content:
#: BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PERM, PROTOCOL.
_TRANSIENT = frozenset({5, 6, 7, 8, 10, 13, 14, 3, 15})
#: What the operator can do about a damaged file; part of every ``state_damaged`` message.
_ADVICE = (
    "ingestion of every program in it is stopped and the file is left as it is: restore it from a "
    "backup (docs/runbooks/backup-restore.md), or delete it (with its -wal and -shm files) to start "
    "over explicitly from the configured backfill"
)


@dataclass(frozen=True, slots=True)
class Cursor:
    signature: str | None
    slot: int | None
    block_time: int | None


@dataclass(slots=True)
class ProgramState:
    program_id: str
    cursor: Cursor | None  # None: first start (backfill decides where to begin)
    counters: dict[CounterKey, int]
    #: (minute of block time, counter key) -> value (exporter.ingest.block_time)
    minutes: MinuteRows[CounterKey] = field(default_factory=block_time.minute_rows)
    #: signature -> (slot, deferred): counted by the logs source, not yet passed by the listing.
    pushed: dict[str, Pushed] = field(default_factory=dict)


def encode_labels(labels: tuple[tuple[str, str], ...]) -> str:
    return json.dumps([list(p) for p in labels], separators=(",", ":"))


def decode_labels(text: str) -> tuple[tuple[str, str], ...]:
    pairs = json.loads(text)
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
    ):
        raise ValueError("labels are not a list of [name, value] pairs")
    return tuple((p[0], p[1]) for p in pairs)


@dataclass(slots=True)
class _Sealed:
    """One program's rows as last verified or written, to update its seal row by row."""

    cursor: int = 0  # digest of the cursor row; 0: no cursor yet
    #: (metric, labels) -> digest of the row as stored
    rows: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (minute, (metric, labels)) -> value of the block_minutes row as stored; its digest is
    #: recomputed from it when the row changes (a day of digests would be ~24 MiB, these 16 B each)
    minutes: MinuteRows[tuple[str, str]] = field(default_factory=block_time.minute_rows)
    #: (minute, metric, labels) -> value as stored, for the rows whose text is not the decimal
    #: the exporter writes ("007" loads as 7): their digest is of that text
    minute_texts: dict[tuple[int, str, str], str] = field(default_factory=dict)
    #: signature -> digest of the pushed row as stored
    pushed: dict[str, int] = field(default_factory=dict)
    seal: int = 0


class StateStore:
    """One connection to the state file. Several programs (collectors) may share a file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: sqlite3.Connection | None = None
        self._sealed: dict[str, _Sealed] = {}
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file opened

    def _error(
        self, what: str, e: Exception | str | None = None, reason: str = "state_unavailable"
    ) -> StateError:
        return StateError(f"state file {self.path}: {what}" + (f": {e}" if e is not None else ""), reason)

    def _damaged(self, what: str) -> StateError:
        return StateError(f"state file {self.path} is damaged: {what}; {_ADVICE}", "state_damaged")

    def _sqlite(self, what: str, e: sqlite3.Error) -> StateError:
        # The environment (I/O, permissions, a full disk, a busy file) may pass; anything else
        # ("file is not a database", "malformed", a schema that no longer parses) is the content.
        code = getattr(e, "sqlite_errorcode", None)
        if code is not None and (code & 0xFF) in _TRANSIENT:
            return self._error(what, e)
        return self._damaged(f"{what}: {e}")

    # -- open -----------------------------------------------------------------------------------

    def open(self) -> None:
        if self._db is not None:
            return
        state_lock.acquire(self.path)  # creates the directory too
        try:
            self._db = self._connect()
        except BaseException:
            state_lock.release(self.path)
            raise

    def _connect(self) -> sqlite3.Connection:
        try:
            if not os.path.lexists(self.path):
                self._create()  # the only first start
            st = os.stat(self.path)
            size, self._identity = st.st_size, (st.st_dev, st.st_ino)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        except OSError as e:
            raise self._error("cannot create or open", e.strerror) from None
        except sqlite3.Error as e:
            raise self._sqlite("cannot open", e) from None
        try:
            self._check(db, size)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        except sqlite3.Error as e:
            db.close()
            raise self._sqlite("cannot open", e) from None
        except BaseException:
            db.close()
            raise
        return db

    def _create(self) -> None:
        """Build a complete, empty state file beside the path, then rename it into place."""
        tmp = self.path + ".creating"
        for leftover in (tmp, tmp + "-wal", tmp + "-shm"):  # a creation that crashed
            Path(leftover).unlink(missing_ok=True)
        for orphan in (self.path + "-wal", self.path + "-shm"):
            # Left by a deleted state file: SQLite would replay that WAL into the new file.
            if os.path.lexists(orphan):
                os.unlink(orphan)
                log.warning("removed the journal of a deleted state file", extra={"file": orphan})
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(
                f"BEGIN; {_SCHEMA} INSERT INTO meta (key, value) VALUES "
                f"('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
            )
        finally:
            db.close()  # the last connection checkpoints: everything is in the main file
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.path)
        dir_fd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        log.info("state file created", extra={"file": self.path})

    def _check(self, db: sqlite3.Connection, size: int) -> None:
        """Refuse a file that is not a whole state file; upgrade a version 1 file."""
        rows = db.execute("PRAGMA integrity_check").fetchall()
        if rows != [("ok",)]:
            raise self._damaged(f"SQLite integrity check failed: {rows[0][0] if rows else 'no answer'}")
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            raise self._damaged(
                f"it holds no state ({size} bytes) although a first start creates it complete, "
                "so it was emptied or truncated since"
            )
        row = (
            db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if "meta" in tables
            else None
        )
        version = row[0] if row else None
        if version == "1" and tables >= {"meta", "cursors", "counters"} and "seals" not in tables:
            self._seal_version_1(db)
            return
        if version == "2" and tables == {"meta", "cursors", "counters", "seals"}:
            self._upgrade(db, [_BLOCK_MINUTES, _PUSHED], "per-minute block-time buckets added")
            return
        if version == "3" and tables == set(_TABLES) - {"pushed"}:
            self._upgrade(db, [_PUSHED], "the logs source's pushed transactions table added")
            return
        if version != str(SCHEMA_VERSION):
            raise self._damaged(f"schema version {version!r}, expected {SCHEMA_VERSION!r}")
        missing = sorted(set(_TABLES) - tables)
        if missing:
            raise self._damaged(f"table(s) {', '.join(missing)} missing")

    def _upgrade(self, db: sqlite3.Connection, tables: list[str], what: str) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in tables:
                db.execute(table)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        log.info(f"state file upgraded: {what}", extra={"file": self.path})

    def _seal_version_1(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(_SEALS)
            db.execute(_BLOCK_MINUTES)
            db.execute(_PUSHED)
            programs = [p for (p,) in db.execute("SELECT program FROM cursors")]
            for program in programs:
                _, sealed = self._read(db, program)
                db.execute(
                    "INSERT INTO seals (program, digest) VALUES (?, ?)",
                    (program, state_seal.to_text(sealed.seal)),
                )
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        log.info(
            "state file upgraded: its totals are sealed", extra={"file": self.path, "programs": programs}
        )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
            self._sealed.clear()
            state_lock.release(self.path)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError(f"state file {self.path}: not open")
        return self._db

    # -- read -----------------------------------------------------------------------------------

    def _read(self, db: sqlite3.Connection, program: str) -> tuple[ProgramState | None, _Sealed]:
        """The program's rows, type-checked, and the seal they add up to."""
        sealed = _Sealed()
        state: ProgramState | None = None
        row = db.execute(
            "SELECT program_id, signature, slot, block_time FROM cursors WHERE program = ?", (program,)
        ).fetchone()
        if row is not None:
            program_id, signature, slot, block_time = row
            if not (
                isinstance(program_id, str)
                and (signature is None or isinstance(signature, str))
                and all(v is None or type(v) is int for v in (slot, block_time))
            ):
                raise self._damaged(f"program {program}: cursor row has values of the wrong type")
            sealed.cursor = state_seal.cursor_digest(program, program_id, signature, slot, block_time)
            sealed.seal = sealed.cursor
            state = ProgramState(program_id, Cursor(signature, slot, block_time), {})
        counters: dict[CounterKey, int] = {}
        for metric, labels, value in db.execute(
            "SELECT metric, labels, value FROM counters WHERE program = ?", (program,)
        ):
            if not (
                isinstance(metric, str)
                and isinstance(labels, str)
                and isinstance(value, str)
                and value.isascii()
                and value.isdigit()
            ):
                raise self._damaged(f"program {program}: counter {metric!r} is not a decimal integer")
            try:
                counters[(metric, decode_labels(labels))] = int(value)
            except ValueError as e:
                raise self._damaged(f"program {program}: counter {metric!r}: {e}") from None
            digest = state_seal.counter_digest(program, metric, labels, value)
            sealed.rows[(metric, labels)] = digest
            sealed.seal = state_seal.add(sealed.seal, digest)
        minutes = self._read_minutes(db, program, sealed)
        pushed = self._read_pushed(db, program, sealed)
        if state is not None:
            state.counters = counters
            state.minutes = minutes
            state.pushed = pushed
        elif counters or minutes or pushed:
            raise self._damaged(f"program {program} has totals but no cursor")
        return state, sealed

    def _read_minutes(self, db: sqlite3.Connection, program: str, sealed: _Sealed) -> MinuteRows[CounterKey]:
        minutes: MinuteRows[CounterKey] = block_time.minute_rows()
        for minute, metric, labels, value in db.execute(
            "SELECT minute, metric, labels, value FROM block_minutes WHERE program = ?", (program,)
        ):
            if not (
                type(minute) is int
                and isinstance(metric, str)
                and isinstance(labels, str)
                and isinstance(value, str)
                and value.isascii()
                and value.isdigit()
            ):
                raise self._damaged(f"program {program}: a block-time bucket of {metric!r} is not valid")
            try:
                minutes.set(minute, (metric, decode_labels(labels)), int(value))
            except ValueError as e:
                raise self._damaged(f"program {program}: block-time bucket {metric!r}: {e}") from None
            sealed.minutes.set(minute, (metric, labels), int(value))
            if value != str(int(value)):
                sealed.minute_texts[(minute, metric, labels)] = value
            sealed.seal = state_seal.add(
                sealed.seal, state_seal.minute_digest(program, minute, metric, labels, value)
            )
        return minutes

    def _read_pushed(self, db: sqlite3.Connection, program: str, sealed: _Sealed) -> dict[str, Pushed]:
        pushed: dict[str, Pushed] = {}
        for signature, slot, deferred in db.execute(
            "SELECT signature, slot, deferred FROM pushed WHERE program = ?", (program,)
        ):
            if not (isinstance(signature, str) and type(slot) is int and isinstance(deferred, str)):
                raise self._damaged(f"program {program}: a pushed transaction row is not valid")
            pushed[signature] = (slot, deferred)
            digest = state_seal.pushed_digest(program, signature, slot, deferred)
            sealed.pushed[signature] = digest
            sealed.seal = state_seal.add(sealed.seal, digest)
        return pushed

    def load(self, program: str) -> ProgramState | None:
        """The saved state of ``program``, or None if it was never started. Verifies its seal."""
        db = self.db
        try:
            state, sealed = self._read(db, program)
            row = db.execute("SELECT digest FROM seals WHERE program = ?", (program,)).fetchone()
        except sqlite3.Error as e:
            raise self._sqlite("cannot read", e) from None
        stored = row[0] if row else None
        if state is None and stored is not None:
            raise self._damaged(f"program {program} has a seal but no cursor")
        if state is not None and stored != state_seal.to_text(sealed.seal):
            raise self._damaged(
                f"program {program}: its cursor and totals do not match their seal "
                "(changed on disk or outside the exporter)"
            )
        self._sealed[program] = sealed
        return state

    # -- write ----------------------------------------------------------------------------------

    def _check_identity(self) -> None:
        """The open connection writes to the file it opened, even once it is deleted or replaced:
        totals would go to a file nobody will read, and the next start would count from zero."""
        try:
            st = os.stat(self.path)
            same = (st.st_dev, st.st_ino) == self._identity
        except FileNotFoundError:
            same = False
        except OSError as e:
            raise self._error("cannot check it", e.strerror) from None
        if not same:
            raise StateError(
                f"state file {self.path} was deleted or replaced while in use; nothing more is "
                "counted into it: restart the exporter to open what is at the path now (an absent "
                "file is a first start, from the configured backfill)",
                "state_damaged",
            )

    def start(self, program: str, program_id: str, cursor: Cursor, now: float) -> None:
        """Record the first start's cursor (after the backfill decision)."""
        self.save(program, program_id, cursor, {}, now)

    def save(
        self,
        program: str,
        program_id: str,
        cursor: Cursor,
        changed: Mapping[CounterKey, int],
        now: float,
        minutes: Mapping[MinuteKey, int] | None = None,
        expired: Iterable[MinuteKey] = (),
        pushed: Mapping[str, Pushed] | None = None,
        passed: Iterable[str] = (),
    ) -> None:
        """Write the new cursor, the new values of the changed counters and block-time buckets,
        delete the ``expired`` buckets, record the ``pushed`` transactions, forget the ``passed``
        ones and write the program's new seal, atomically."""
        db = self.db
        self._check_identity()
        if program not in self._sealed:
            self.load(program)  # what the seal is updated from must be what the file holds
        old = self._sealed[program]
        new_cursor = state_seal.cursor_digest(
            program, program_id, cursor.signature, cursor.slot, cursor.block_time
        )
        seal = state_seal.add(state_seal.remove(old.seal, old.cursor), new_cursor)
        rows = {(m, encode_labels(lbl)): str(v) for (m, lbl), v in changed.items()}
        digests: dict[tuple[str, str], int] = {}
        for (metric, labels), value in rows.items():
            before = old.rows.get((metric, labels))
            if before is not None:
                seal = state_seal.remove(seal, before)
            digests[(metric, labels)] = state_seal.counter_digest(program, metric, labels, value)
            seal = state_seal.add(seal, digests[(metric, labels)])
        minute_rows = {(m, c, encode_labels(lbl)): str(v) for (m, (c, lbl)), v in (minutes or {}).items()}
        removed = {(m, c, encode_labels(lbl)) for (m, (c, lbl)) in expired} - minute_rows.keys()
        touched = removed | minute_rows.keys()
        for mkey in touched:
            before = old.minutes.get(mkey[0], mkey[1:])
            if before is not None:
                text = old.minute_texts.get(mkey, str(before))
                seal = state_seal.remove(seal, state_seal.minute_digest(program, *mkey, text))
        for mkey, value in minute_rows.items():
            seal = state_seal.add(seal, state_seal.minute_digest(program, *mkey, value))
        pushed_rows = dict(pushed or {})
        gone = set(passed) - pushed_rows.keys()
        pushed_digests: dict[str, int] = {}
        for sig in gone:
            before = old.pushed.get(sig)
            if before is not None:
                seal = state_seal.remove(seal, before)
        for sig, (slot, deferred) in pushed_rows.items():
            before = old.pushed.get(sig)
            if before is not None:
                seal = state_seal.remove(seal, before)
            pushed_digests[sig] = state_seal.pushed_digest(program, sig, slot, deferred)
            seal = state_seal.add(seal, pushed_digests[sig])
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO pushed (program, signature, slot, deferred) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (program, signature) DO UPDATE SET slot = excluded.slot,"
                    " deferred = excluded.deferred",
                    [(program, sig, slot, d) for sig, (slot, d) in pushed_rows.items()],
                )
                db.executemany(
                    "DELETE FROM pushed WHERE program = ? AND signature = ?", [(program, sig) for sig in gone]
                )
                db.execute(
                    "INSERT INTO cursors (program, program_id, signature, slot, block_time, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (program) DO UPDATE SET"
                    " program_id = excluded.program_id, signature = excluded.signature,"
                    " slot = excluded.slot, block_time = excluded.block_time, updated_at = excluded.updated_at",
                    (program, program_id, cursor.signature, cursor.slot, cursor.block_time, now),
                )
                db.executemany(
                    "INSERT INTO counters (program, metric, labels, value) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (program, metric, labels) DO UPDATE SET value = excluded.value",
                    [(program, m, lbl, v) for (m, lbl), v in rows.items()],
                )
                db.executemany(
                    "INSERT INTO block_minutes (program, minute, metric, labels, value) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (program, minute, metric, labels) DO UPDATE SET value = excluded.value",
                    [(program, m, c, lbl, v) for (m, c, lbl), v in minute_rows.items()],
                )
                db.executemany(
                    "DELETE FROM block_minutes WHERE program = ? AND minute = ? AND metric = ? AND labels = ?",
                    [(program, m, c, lbl) for (m, c, lbl) in removed],
                )
                db.execute(
                    "INSERT INTO seals (program, digest) VALUES (?, ?)"
                    " ON CONFLICT (program) DO UPDATE SET digest = excluded.digest",
                    (program, state_seal.to_text(seal)),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as e:
            # Whether a failed COMMIT left anything is the file's to say: verify it again next time.
            self._sealed.pop(program, None)
            raise self._sqlite("cannot write", e) from None
        old.cursor, old.seal = new_cursor, seal
        old.rows.update(digests)
        for m, c, lbl in removed:
            old.minutes.pop(m, (c, lbl))
        for (m, c, lbl), value in minute_rows.items():
            old.minutes.set(m, (c, lbl), int(value))
        if old.minute_texts:  # empty unless the file was written by something else
            for mkey in old.minute_texts.keys() & touched:
                del old.minute_texts[mkey]
        old.pushed.update(pushed_digests)
        for sig in gone:
            old.pushed.pop(sig, None)
