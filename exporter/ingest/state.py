"""The ingestion state file: per program, the cursor and every counter total, saved together.

Exactly-once counting rests on one rule: the cursor (the newest fully ingested signature) and
the counter values that include that signature's effects are written in *one* SQLite
transaction. A crash before the commit leaves the previous cursor and totals (the batch is
ingested again); a crash after it leaves both new. Nothing else is needed for restarts,
``kill -9`` or failovers.

Counter values are exact integers (event counts, raw token units, lamports, bucket counts),
stored as decimal text because u64 sums overflow SQLite's signed 64-bit integers.

The file is opened with the standard ``sqlite3`` module on purpose: a commit then runs
without an ``await`` in the middle, so cancelling a cycle (timeout, shutdown) can never
separate the write from the in-memory update that follows it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: (metric, ((label, value), ...)) — a counter series inside one program.
CounterKey = tuple[str, tuple[tuple[str, str], ...]]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (
    program TEXT PRIMARY KEY,
    program_id TEXT NOT NULL,
    signature TEXT,            -- NULL: started, nothing ingested yet (count from the beginning)
    slot INTEGER,
    block_time INTEGER,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    program TEXT NOT NULL,
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,      -- JSON list of [name, value] pairs, sorted
    value TEXT NOT NULL,       -- exact integer as decimal text
    PRIMARY KEY (program, metric, labels)
);
"""


class StateError(Exception):
    """The state file cannot be used. The message names the file and the cause, never a secret."""


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


def encode_labels(labels: tuple[tuple[str, str], ...]) -> str:
    return json.dumps([list(p) for p in labels], separators=(",", ":"))


def decode_labels(text: str) -> tuple[tuple[str, str], ...]:
    pairs = json.loads(text)
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
    ):
        raise ValueError("labels are not a list of [name, value] pairs")
    return tuple((p[0], p[1]) for p in pairs)


class StateStore:
    """One connection to the state file. Several programs (collectors) may share a file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: sqlite3.Connection | None = None

    def _fail(self, what: str, e: Exception) -> StateError:
        return StateError(f"state file {self.path}: {what}: {e}")

    def open(self) -> None:
        if self._db is not None:
            return
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        except (OSError, sqlite3.Error) as e:
            raise self._fail("cannot open", e) from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            # A quick structural check: a damaged file must stop ingestion, never reset totals.
            row = db.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {row[0] if row else 'no answer'}")
            db.executescript(_SCHEMA)
            version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif version[0] != str(SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version[0]} is not {SCHEMA_VERSION}")
        except sqlite3.Error as e:
            db.close()
            raise self._fail("unusable (corrupted, not a state file, or not writable)", e) from None
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError(f"state file {self.path}: not open")
        return self._db

    def load(self, program: str) -> ProgramState | None:
        """The saved state of ``program``, or None if it was never started."""
        try:
            row = self.db.execute(
                "SELECT program_id, signature, slot, block_time FROM cursors WHERE program = ?", (program,)
            ).fetchone()
            if row is None:
                return None
            counters: dict[CounterKey, int] = {}
            for metric, labels, value in self.db.execute(
                "SELECT metric, labels, value FROM counters WHERE program = ?", (program,)
            ):
                counters[(metric, decode_labels(labels))] = int(value)
        except (sqlite3.Error, ValueError, TypeError) as e:
            raise self._fail("cannot read", e) from None
        return ProgramState(row[0], Cursor(row[1], row[2], row[3]), counters)

    def start(self, program: str, program_id: str, cursor: Cursor, now: float) -> None:
        """Record the first start's cursor (after the backfill decision)."""
        self.save(program, program_id, cursor, {}, now)

    def save(
        self, program: str, program_id: str, cursor: Cursor, changed: Mapping[CounterKey, int], now: float
    ) -> None:
        """Write the new cursor and the new values of the changed counters, atomically."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
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
                    [(program, m, encode_labels(lbl), str(v)) for (m, lbl), v in changed.items()],
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as e:
            raise self._fail("cannot write", e) from None
