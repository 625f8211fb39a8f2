"""Reliability drills, long versions (``make drills``): the quick drills of tests/test_drills.py
held for minutes, so slow leaks, cache expiry and repeated fault cycles have time to show."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pg_server import PgServer, pg_server  # noqa: F401 - the session fixture
from tests.test_drills import (
    CORRUPTIONS,
    CountingDevchain,
    chain,  # noqa: F401 - the fixture
    drill_429_storm,
    drill_all_endpoints_down,
    drill_bad_responses,
    drill_concurrent_scrapes,
    drill_database_trouble,
    drill_state_corrupted,
    drill_state_disk_full,
)
from tests.test_drills_hostile import drill_hostile_node

pytestmark = pytest.mark.drill


def test_all_endpoints_down_for_minutes(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    drill_all_endpoints_down(tmp_path, chain, outage=180)


def test_long_429_storm(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    drill_429_storm(tmp_path, chain, storm=120)


def test_bad_responses_repeatedly(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    # Five rounds of every bad answer: RSS after the last round stays near RSS after the first.
    drill_bad_responses(tmp_path, chain, phase=10, rounds=5)


def test_database_trouble_held(
    tmp_path: Path,
    chain: CountingDevchain,  # noqa: F811
    pg_server: PgServer,  # noqa: F811
) -> None:
    drill_database_trouble(tmp_path, chain, pg_server, hold=30)


def test_state_disk_full_for_minutes(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    drill_state_disk_full(tmp_path, chain, full_for=120)


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_state_file_corrupted_for_a_while(tmp_path: Path, chain: CountingDevchain, how: str) -> None:  # noqa: F811
    drill_state_corrupted(tmp_path, chain, how, broken_for=30)


def test_many_concurrent_scrapes(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    drill_concurrent_scrapes(tmp_path, chain, scrapers=20, scrapes=500)


def test_hostile_node_for_minutes(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    # Every hostile behaviour held 15 s, two rounds (about 8 minutes): failover each time, exact totals.
    drill_hostile_node(tmp_path, chain, hold=15.0, rounds=2)
