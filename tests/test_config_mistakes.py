"""Config mistakes a new user made (issue 16): each is refused with its reason, or accepted as the
docs promise, and a file with several mistakes reports every one at once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.config import load_config
from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.support.util import ROOT, cli, config_problems, write_dedented

IDL = ROOT / "idls" / "paid_match.json"
HEAD = 'solana:\n  endpoints: [{name: a, url: "http://127.0.0.1:1"}]\n'
ACCOUNT = "11111111111111111111111111111112"


def problems(path: Path) -> list[str]:
    return config_problems(load_config, path)


def test_a_misspelt_role_is_refused_with_the_allowed_roles(tmp_path: Path) -> None:
    path = write_dedented(
        tmp_path,
        "c.yml",
        HEAD + f"balances:\n  accounts: [{{name: t, address: '{ACCOUNT}', role: tresury}}]\n",
    )
    out = problems(path)
    assert len(out) == 1 and "balances.accounts[0].role" in out[0], out
    for role in ("escrow", "treasury", "fee", "other"):
        assert f"'{role}'" in out[0]


def test_only_states_takes_numbers_for_a_u8_as_the_docs_say(tmp_path: Path) -> None:
    assert "numbers for a\n  `u8`" in (ROOT / "docs/configuration.md").read_text()
    path = write_dedented(
        tmp_path,
        "c.yml",
        HEAD + f"programs:\n  - name: p\n    idl: {IDL}\n    accounts:\n      types:\n"
        "        - {account: Match, count_by: max_players, only_states: [2, 4], sums: [{field: pot, mint_field: mint}]}\n"
        "        - {account: Match, count_by: max_players, only_states: [256]}\n",
    )
    out = problems(path)  # 2 and 4 are values of a u8; 256 is not, and is named as a number
    assert out == [
        f"{path}:9: programs[0].accounts.types[1].only_states[0]: '256' is not a value of max_players (u8: 0..255)"
    ]


def test_every_problem_at_once_schema_errors_do_not_hide_idl_ones(tmp_path: Path) -> None:
    path = write_dedented(
        tmp_path,
        "c.yml",
        f"""\
        solana:
          endpoints: [{{name: a, url: "http://127.0.0.1:1", timeout: 3}}]
        programs:
          - name: p
            idl: {IDL}
            intervl_seconds: 5
            events:
              MatchCreated:
                labels: [paid, nope]
              MatchSettled:
                labels: [winer]
        """,
    )
    out = problems(path)
    assert out == [
        f"{path}:2: solana.endpoints[0].timeout: unknown key",
        f"{path}:6: programs[0].intervl_seconds: unknown key",
        f"{path}:9: programs[0].events.MatchCreated.labels[1]: no field 'nope' in event MatchCreated "
        "(has: creator, entry_fee, match_id, max_players, mint, paid)",
        f"{path}:11: programs[0].events.MatchSettled.labels[0]: no field 'winer' in event MatchSettled "
        "(has: fee, match_id, mint, prize, winner)",
    ]


def test_chain_collectors_without_a_solana_section_are_refused(tmp_path: Path) -> None:
    path = write_dedented(tmp_path, "c.yml", f"balances:\n  accounts: [{{name: t, address: '{ACCOUNT}'}}]\n")
    out = problems(path)
    assert out == [f"{path}: solana: required key is missing (balances and programs read the chain)"]


def test_a_sql_only_shard_needs_no_solana_section_and_runs(tmp_path: Path) -> None:
    db = tmp_path / "business.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
        conn.executemany("INSERT INTO users VALUES (?)", [(1,), (2,), (3,)])
    path = write_dedented(
        tmp_path,
        "shard.yml",
        f"""\
        sql:
          databases: [{{name: business, driver: sqlite, path: {db}}}]
          queries:
            - name: users
              database: business
              interval_seconds: 1
              sql: SELECT COUNT(*) AS value FROM users
              metrics: [{{name: escrow_business_users, help: Registered users.}}]
        state: {{path: {tmp_path / "state.sqlite"}}}
        """,
    )
    r = cli("check-config", "--config", str(path))
    assert r.returncode == 0, r.stderr
    exporter = ExporterProcess(path)
    try:
        exporter.wait_up("/-/ready")

        def served() -> str | None:
            text = exporter.metrics()
            return text if sample(text, "escrow_business_users") == 3 else None

        text = wait_until(served, what="the SQL-only shard's metric")
    finally:
        exporter.stop()
    assert "escrow_rpc_up" not in text


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devchain]:
    d = Devchain(tmp_path_factory.mktemp("devchain"), seed=3, tps=1)
    yield d
    d.stop()


def test_kind_sol_on_a_token_account_is_reported_not_its_rent_as_balance(
    chain: Devchain, tmp_path: Path
) -> None:
    balances = chain.state()["balances"]
    usdc, sol = balances["escrow_usdc"], balances["escrow_sol"]
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        f"solana:\n  endpoints: [{{name: devchain, url: '{chain.url}'}}]\n"
        "balances:\n  interval_seconds: 0.3\n  accounts:\n"
        f"    - {{name: escrow_usdc, kind: sol, address: {usdc['address']}}}\n"
        f"    - {{name: escrow_sol, kind: sol, address: {sol['address']}}}\n"
    )
    exporter = ExporterProcess(cfg)
    try:
        exporter.wait_up("/-/ready")

        def reported() -> str | None:
            text = exporter.metrics()
            errors = sample(
                text,
                "escrow_exporter_collector_errors_total",
                collector="balances",
                reason="invalid_account_data",
            )
            return text if errors else None

        text = wait_until(reported, what="the balances collector reporting the misconfigured account")
        log = exporter.log()
    finally:
        exporter.stop()
    assert sample(text, "escrow_account_balance", account="escrow_usdc", mint="SOL") is None
    assert sample(text, "escrow_account_balance", account="escrow_sol", mint="SOL") is not None
    assert sample(text, "escrow_exporter_collector_up", collector="balances") == 0
    assert "escrow_usdc: configured kind: sol, but it is a token account" in log


def test_what_a_dropped_item_leaves_undefined_is_not_reported_as_a_problem(tmp_path: Path) -> None:
    """Finding hidden problems drops the broken items; a reference to one of them (a query's
    database, an amount's mint) is a consequence, not a second mistake."""
    mint = "EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS"
    path = write_dedented(
        tmp_path,
        "c.yml",
        HEAD
        + f"""\
sql:
  databases:
    - {{name: business, driver: postgress, dsn: "postgresql://x@y/z"}}
  queries:
    - {{name: q, database: business, sql: SELECT 1 AS value, metrics: [{{name: m, help: x}}]}}
programs:
  - name: p
    idl: {IDL}
    mints:
      {mint}: {{decimals: -1}}
    events:
      MatchCreated:
        amounts: [{{field: entry_fee, mint: {mint}}}]
        labels: [nope]
""",
    )
    out = problems(path)
    assert sorted(line.split(": ", 2)[1] for line in out) == [
        "programs[0].events.MatchCreated.labels[0]",
        f"programs[0].mints.{mint}.decimals",
        "sql.databases[0].driver",
    ], out


def test_mint_symbols_are_served_for_joins_and_programs_must_agree_on_a_mint(tmp_path: Path) -> None:
    usdc, pyusd = (
        "EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS",
        "FE3z5sZn5SD9p6NoMKPfyPGMAMJWycKjNchfBgxdqfKR",
    )
    program = f"  - name: {{name}}\n    idl: {IDL}\n    mints: {{{{{usdc}: {{{{decimals: 6, symbol: {{symbol}}}}}}, {pyusd}: {{{{decimals: 6}}}}}}}}\n"
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        HEAD
        + "programs:\n"
        + program.format(name="a", symbol="USDC")
        + program.format(name="b", symbol="USDT")
        + f"state: {{path: {tmp_path / 'state.sqlite'}}}\n"
    )
    assert problems(cfg) == [
        f"{cfg}:9: programs[1].mints.{usdc}: differs from programs[0].mints (decimals and symbol are the mint's own)"
    ]
    cfg.write_text(cfg.read_text().replace("USDT", "USDC"))
    exporter = ExporterProcess(cfg)
    try:
        exporter.wait_up()
        text = exporter.metrics()
    finally:
        exporter.stop()
    assert sample(text, "escrow_mint_info", mint=usdc, symbol="USDC", decimals="6") == 1
    assert sample(text, "escrow_mint_info", mint="SOL", symbol="SOL", decimals="9") == 1
    assert (
        sample(text, "escrow_mint_info", mint=pyusd, symbol=pyusd, decimals="6") == 1
    )  # no symbol: the address
