"""The state file's ``pushed`` rows (issue 15, the logs source): saved with the totals they
changed, forgotten with the cursor that passes them, sealed, and added to a version 3 file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from exporter.ingest.state import SCHEMA_VERSION, Cursor, StateError, StateStore

PROGRAM_ID = "Escrow1111111111111111111111111111111111111"
TX = ("transactions", (("status", "success"),))


def _open(path: Path) -> StateStore:
    store = StateStore(path)
    store.open()
    return store


def test_pushed_rows_survive_a_reopen_and_go_with_the_cursor_that_passes_them(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = _open(path)
    store.load("p")
    store.save("p", PROGRAM_ID, Cursor("a", 10, None), {TX: 1}, 1.0)
    # Counted from notifications, ahead of the listing: the totals and the rows together.
    store.save(
        "p", PROGRAM_ID, Cursor("a", 10, None), {TX: 3}, 2.0, pushed={"b": (11, "[]"), "c": (12, "[]")}
    )
    store.close()
    store = _open(path)
    state = store.load("p")
    assert state is not None and state.counters == {TX: 3}
    assert state.pushed == {"b": (11, "[]"), "c": (12, "[]")}
    store.save("p", PROGRAM_ID, Cursor("b", 11, None), {}, 3.0, passed=["b"])
    store.close()
    store = _open(path)
    state = store.load("p")
    store.close()
    assert state is not None and state.pushed == {"c": (12, "[]")} and state.cursor == Cursor("b", 11, None)


def test_a_changed_pushed_row_breaks_the_seal(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = _open(path)
    store.load("p")
    store.save("p", PROGRAM_ID, Cursor("a", 10, None), {TX: 2}, 1.0, pushed={"b": (11, "[]")})
    store.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DELETE FROM pushed")  # the listing would count b a second time
    db.close()
    store = _open(path)
    with pytest.raises(StateError) as e:
        store.load("p")
    store.close()
    assert e.value.reason == "state_damaged" and "seal" in str(e.value)


def test_a_version_3_state_file_opens_with_its_totals_and_gets_the_pushed_table(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    store = _open(path)
    store.load("p")
    store.save("p", PROGRAM_ID, Cursor("a", 10, None), {TX: 7}, 1.0)
    store.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("DROP TABLE pushed; UPDATE meta SET value = '3' WHERE key = 'schema_version';")
    db.close()
    store = _open(path)
    state = store.load("p")
    assert state is not None and state.counters == {TX: 7} and state.pushed == {}
    store.save("p", PROGRAM_ID, Cursor("a", 10, None), {TX: 8}, 2.0, pushed={"b": (11, "[]")})
    store.close()
    version = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),) == ("4",)
