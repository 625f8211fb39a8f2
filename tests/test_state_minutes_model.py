"""The state store's block-time buckets and their seal, now that it keeps the rows' values
(not a digest per row): commits, expiries, failed saves retried and restarts leave in the file
exactly the buckets the dict model holds, under a seal that verifies."""

from __future__ import annotations

import sqlite3
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.ingest import state_seal
from exporter.ingest.block_time import RING_MINUTES, MinuteBuckets
from exporter.ingest.state import Cursor, StateError, StateStore, encode_labels
from tests.test_minute_rows_model import KEYS, DictBuckets, Key

PROGRAM_ID = "Escrow1111111111111111111111111111111111111"


class _FailingDb:
    """A connection whose next write of block-time buckets fails, as a full disk would."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.fail = False

    def executemany(self, sql: str, rows: Any) -> Any:
        if self.fail and "block_minutes" in sql:
            self.fail = False
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def _open(path: Path) -> StateStore:
    store = StateStore(path)
    store.open()
    return store


_OFFSETS = st.one_of(st.integers(-RING_MINUTES - 5, 150), st.sampled_from([RING_MINUTES, 2 * RING_MINUTES]))
_VALUES = st.one_of(st.integers(1, 1000), st.sampled_from([(1 << 63) - 1, 1 << 64]))
_STEP = st.tuples(
    st.one_of(st.integers(0, 900), st.sampled_from([-3600, 2 * 86400])),
    st.lists(st.tuples(_OFFSETS, st.sampled_from(KEYS), _VALUES), max_size=4),
    st.sampled_from(["commit", "commit", "commit", "fail then retry", "restart"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_STEP, min_size=1, max_size=12))
def test_saved_buckets_and_seal_agree_with_the_dict_model(steps: list[tuple[int, list[Any], str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite"
        store = _open(path)
        assert store.load("p") is None
        now = 1_800_000_000.0
        store.start("p", PROGRAM_ID, Cursor("s0", 1, int(now)), now)
        buckets, model = MinuteBuckets(), DictBuckets()
        try:
            for n, (step, incs, how) in enumerate(steps):
                now += step
                increments: dict[tuple[int, Key], int] = defaultdict(int)
                for offset, key, value in incs:
                    increments[(int(now // 60) + offset, key)] += value
                new, expected_new = buckets.after(increments), model.after(increments)
                expired = buckets.expired(now)
                cursor = Cursor(f"s{n + 1}", n + 2, int(now))
                if how == "fail then retry":
                    failing = _FailingDb(store.db)
                    failing.fail = True
                    store._db = failing  # type: ignore[assignment]
                    with pytest.raises(StateError):
                        store.save("p", PROGRAM_ID, cursor, {}, now, new, expired)
                    store._db = failing.db
                store.save("p", PROGRAM_ID, cursor, {}, now, new, expired)
                buckets.apply(new, expired, now)
                model.apply(expected_new, expired)
                if how == "restart":
                    store.close()
                    store = _open(path)
                    saved = store.load("p")
                    assert saved is not None
                    buckets = MinuteBuckets(saved.minutes)
                assert buckets.rows.as_dict() == model.values
            store.close()
            store = _open(path)
            saved = store.load("p")  # the seal verifies
            assert saved is not None and saved.minutes.as_dict() == model.values
        finally:
            store.close()


def test_a_stored_value_with_leading_zeros_keeps_its_seal_when_updated_or_expired(tmp_path: Path) -> None:
    """The seal covers each row's value as stored: a bucket stored as "07" (accepted by the
    loader) is removed from the seal by the digest of "07", not of "7"."""
    path = tmp_path / "s.sqlite"
    now = 1_800_000_000.0
    minute = int(now // 60)
    key, other = KEYS[0], (minute + 1, KEYS[1])
    store = _open(path)
    store.start("p", PROGRAM_ID, Cursor("s0", 1, int(now)), now)
    store.save("p", PROGRAM_ID, Cursor("s1", 2, int(now)), {}, now, {(minute, key): 7, other: 5})
    store.close()
    # Rewrite both values with leading zeros and reseal (as a tool that keeps the seal would).
    db = sqlite3.connect(path, isolation_level=None)
    (seal_text,) = db.execute("SELECT digest FROM seals WHERE program = 'p'").fetchone()
    seal = int(seal_text, 16)
    labels = {k: encode_labels(k[1]) for k in KEYS}
    for m, k, old_text, new_text in ((minute, key, "7", "07"), (other[0], other[1], "5", "005")):
        seal = state_seal.remove(seal, state_seal.minute_digest("p", m, k[0], labels[k], old_text))
        seal = state_seal.add(seal, state_seal.minute_digest("p", m, k[0], labels[k], new_text))
        db.execute("UPDATE block_minutes SET value = ? WHERE minute = ?", (new_text, m))
    db.execute("UPDATE seals SET digest = ? WHERE program = 'p'", (state_seal.to_text(seal),))
    db.close()

    store = _open(path)
    saved = store.load("p")
    assert saved is not None and saved.minutes.as_dict() == {(minute, key): 7, other: 5}
    store.save("p", PROGRAM_ID, Cursor("s2", 3, int(now)), {}, now, {(minute, key): 8})
    later = now + 3 * 86400  # the other bucket expires
    store.save("p", PROGRAM_ID, Cursor("s3", 4, int(later)), {}, later, {}, [other])
    store.close()
    store = _open(path)
    try:
        saved = store.load("p")  # the seal still verifies
        assert saved is not None and saved.minutes.as_dict() == {(minute, key): 8}
    finally:
        store.close()
