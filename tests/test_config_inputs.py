"""Config inputs that used to slip through to run time (or to a traceback): each one is now a
config error naming the file, line, key and cause, and check-config exits 2."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from exporter.config import load_config
from tests.support.util import FIXTURE_IDLS, ROOT, cli, config_problems, write_dedented

IDL = ROOT / "idls" / "paid_match.json"
HEAD = 'solana:\n  endpoints: [{name: a, url: "http://127.0.0.1:1"}]\n'


def write(tmp_path: Path, text: str, name: str = "config.yml") -> Path:
    return write_dedented(tmp_path, name, text)


def problems(path: Path) -> list[str]:
    return config_problems(load_config, path)


def check_config(path: Path) -> str:
    """stderr of a failing check-config: exit 2, no traceback."""
    r = cli("check-config", "--config", str(path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    return r.stderr


# --- files that are not UTF-8 --------------------------------------------------------------------


def test_config_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_bytes(HEAD.encode() + b"# caf\xe9 latin-1\n")
    err = check_config(path)
    assert f"{path}: not UTF-8 text: invalid byte 0xe9 on line 3" in err


def test_secret_file_that_is_not_utf8_gives_one_problem(tmp_path: Path) -> None:
    (tmp_path / "url.txt").write_bytes(b"https://rpc.example/\xff\xfekey\n")
    (tmp_path / "dsn.txt").write_bytes(b"postgresql://u:\xffpw@db/app\n")
    path = write(
        tmp_path,
        """\
        solana:
          endpoints:
            - name: a
              url_file: url.txt
        sql:
          databases:
            - name: pg
              driver: postgres
              dsn_file: dsn.txt
        """,
    )
    out = problems(path)
    assert out == [
        f"{path}:4: solana.endpoints[0].url_file: {tmp_path}/url.txt: not UTF-8 text: invalid byte 0xff on line 1",
        f"{path}:9: sql.databases[0].dsn_file: {tmp_path}/dsn.txt: not UTF-8 text: invalid byte 0xff on line 1",
    ]  # and no "url: required key is missing" / "driver postgres needs dsn" after them


def test_unreadable_secret_file_has_no_follow_up_error(tmp_path: Path) -> None:
    path = write(tmp_path, "solana:\n  endpoints:\n    - name: a\n      url_file: missing.txt\n")
    out = problems(path)
    assert len(out) == 1 and "solana.endpoints[0].url_file: cannot read" in out[0], out


def test_unset_environment_variable_names_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_RPC_URL", raising=False)
    path = write(tmp_path, "solana:\n  endpoints:\n    - name: a\n      url: ${NO_SUCH_RPC_URL}\n")
    # One problem: the empty URL it leaves behind is not reported again as "must be an http URL".
    assert problems(path) == [
        f"{path}:4: solana.endpoints[0].url: environment variable NO_SUCH_RPC_URL is not set"
    ]


# --- duplicate keys --------------------------------------------------------------------------------


def test_duplicate_section_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD + "balances:\n  interval_seconds: 3\nbalances:\n  interval_seconds: 4\n",
    )
    err = check_config(path)
    assert f"{path}:5: key 'balances' is given twice in one mapping (first on line 3)" in err


def test_duplicate_nested_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "solana:\n  endpoints:\n    - name: a\n      url: http://x\n      name: b\n")
    out = problems(path)
    assert out == [
        f"{path}:5: key 'name' is given twice in one mapping (first on line 3); "
        "YAML would silently keep only the last one"
    ]


def test_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        solana:
          endpoints:
            - &base {name: a, url: "http://127.0.0.1:1", timeout_seconds: 3}
            - <<: *base
              name: b
        """,
    )
    config = load_config(path)
    assert [e.name for e in config.solana.endpoints] == ["a", "b"]
    assert config.solana.endpoints[1].timeout_seconds == 3


# --- the IDL is checked as the collectors will use it -------------------------------------------


def _program_config(tmp_path: Path, idl: dict[str, Any] | str, mapping: str = "") -> Path:
    idl_path = tmp_path / "idl.json"
    idl_path.write_text(idl if isinstance(idl, str) else json.dumps(idl))
    return write(tmp_path, HEAD + "programs:\n  - name: p\n    idl: idl.json\n" + mapping)


def _paid_match() -> dict[str, Any]:
    if not IDL.exists():
        pytest.skip("idls/paid_match.json is missing")
    return dict(json.loads(IDL.read_text()))


def test_idl_type_reference_to_an_undefined_type(tmp_path: Path) -> None:
    idl = _paid_match()
    for t in idl["types"]:
        if t["name"] == "MatchStarted":
            t["type"]["fields"].append({"name": "extra", "type": {"defined": {"name": "Missing"}}})
    err = check_config(_program_config(tmp_path, idl))
    assert (
        f"config.yml:5: programs[0].idl: {tmp_path}/idl.json: events.MatchStarted.extra: "
        "type 'Missing' is not defined under 'types'"
    ) in err


def test_idl_address_must_be_a_public_key(tmp_path: Path) -> None:
    idl = _paid_match()
    idl["address"] = "not-a-program-id"
    err = check_config(_program_config(tmp_path, idl))
    assert "programs[0].idl:" in err
    assert "address 'not-a-program-id' is not a valid base58 public key (32 bytes)" in err


def test_a_json_file_that_is_not_an_idl(tmp_path: Path) -> None:
    err = check_config(_program_config(tmp_path, '{"name": "web", "version": "1.0.0", "dependencies": {}}'))
    assert "programs[0].idl:" in err
    assert "not an Anchor IDL: it has none of 'instructions', 'accounts', 'events', 'types'" in err


# --- mapping types --------------------------------------------------------------------------------


def test_mapping_field_types_one_problem_per_line(tmp_path: Path) -> None:
    _paid_match()
    path = write(
        tmp_path,
        HEAD
        + f"""\
programs:
  - name: p
    idl: {IDL}
    events:
      MatchCreated:
        amounts:
          - {{field: paid, decimals: 0}}
          - {{field: entry_fee, mint_field: max_players}}
      MatchSettled:
        amounts: [{{field: prize, mint_field: mint}}]
        labels: [winner, nope]
    accounts:
      types:
        - account: Match
          count_by: match_id
          flags: [pot]
          sums: [{{field: creator, mint: SOL}}]
        - account: Match
          count_by: status
          only_states: [Open, Opne]
""",
    )
    out = problems(path)
    assert out == [
        f"{path}:9: programs[0].events.MatchCreated.amounts[0].field: paid is bool: an amount must be an integer field",
        f"{path}:10: programs[0].events.MatchCreated.amounts[1].mint_field: "
        "max_players is u8: mint_field must be a pubkey field",
        f"{path}:13: programs[0].events.MatchSettled.labels[1]: "
        "no field 'nope' in event MatchSettled (has: fee, match_id, mint, prize, winner)",
        f"{path}:17: programs[0].accounts.types[0].count_by: "
        "match_id is u64: count_by needs an enum, bool or u8 field (each value becomes a series)",
        f"{path}:18: programs[0].accounts.types[0].flags[0]: pot is u64: flags must be bool fields",
        f"{path}:19: programs[0].accounts.types[0].sums[0].field: "
        "creator is pubkey: an amount must be an integer or float field",
        f"{path}:22: programs[0].accounts.types[1].only_states[1]: "
        "'Opne' is not a value of status (enum MatchStatus: Open, InProgress, Paused, Settled, Cancelled)",
    ]


def _typed_idl() -> dict[str, Any]:
    """A 0.30+ IDL whose account fields go through aliases and options."""
    pk = "11111111111111111111111111111111"

    def f(name: str, ty: Any) -> dict[str, Any]:
        return {"name": name, "type": ty}

    def alias(name: str, ty: Any) -> dict[str, Any]:
        return {"name": name, "type": {"kind": "type", "alias": ty}}

    return {
        "address": pk,
        "metadata": {"name": "typed", "version": "0.1.0", "spec": "0.1.0"},
        "instructions": [],
        "accounts": [{"name": "Vault", "discriminator": [1] * 8}],
        "events": [],
        "types": [
            {"name": "State", "type": {"kind": "enum", "variants": [{"name": "Active"}, {"name": "Closed"}]}},
            alias("StateAlias", {"defined": {"name": "State"}}),
            alias("Lamports", "u64"),
            alias("Amount", {"defined": {"name": "Lamports"}}),
            alias("Mint", "pubkey"),
            {
                "name": "Vault",
                "type": {
                    "kind": "struct",
                    "fields": [
                        f("state", {"defined": {"name": "StateAlias"}}),
                        f("maybe_state", {"option": {"defined": {"name": "State"}}}),
                        f("locked", {"option": "bool"}),
                        f("amount", {"defined": {"name": "Amount"}}),
                        f("maybe_amount", {"option": "u64"}),
                        f("mint", {"defined": {"name": "Mint"}}),
                        f("maybe_mint", {"coption": "pubkey"}),
                        f("owners", {"vec": "pubkey"}),
                    ],
                },
            },
        ],
    }


def _vault_types(**fields: Any) -> str:
    return "    accounts:\n      types:\n        - account: Vault\n" + "".join(
        f"          {k}: {json.dumps(v)}\n" for k, v in fields.items()
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"count_by": "state", "only_states": ["Closed"]},  # an alias of an enum
        {"count_by": "maybe_state", "only_states": ["Active", "none"]},  # Option<enum>: None is "none"
        {"flags": ["locked"]},  # Option<bool>: None counts as not set
        {"sums": [{"field": "amount", "mint_field": "mint"}]},  # alias of an alias of u64; alias of pubkey
    ],
)
def test_aliases_and_options_resolve(tmp_path: Path, fields: dict[str, Any]) -> None:
    config = load_config(_program_config(tmp_path, _typed_idl(), _vault_types(**fields)))
    assert config.programs[0].accounts.types[0].account == "Vault"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"count_by": "state", "only_states": ["Open"]},
            "'Open' is not a value of state (enum State: Active, Closed)",
        ),
        ({"count_by": "amount"}, "amount is u64: count_by needs an enum, bool or u8 field"),
        ({"count_by": "owners"}, "owners is Vec<pubkey>: count_by needs"),
        ({"flags": ["state"]}, "state is enum State: flags must be bool fields"),
        (
            {"sums": [{"field": "maybe_amount", "decimals": 9}]},
            "maybe_amount is Option<u64>: an amount must be",
        ),
        (
            {"sums": [{"field": "amount", "mint_field": "maybe_mint"}]},
            "maybe_mint is Option<pubkey>: mint_field must",
        ),
    ],
)
def test_wrongly_typed_fields_are_named(tmp_path: Path, fields: dict[str, Any], message: str) -> None:
    out = problems(_program_config(tmp_path, _typed_idl(), _vault_types(**fields)))
    assert len(out) == 1 and message in out[0], out
    assert "programs[0].accounts.types[0]." in out[0]


def test_real_idls_u8_states_and_non_bool_flags(tmp_path: Path) -> None:
    alpha = FIXTURE_IDLS / "alpha_vault.json"
    if not alpha.exists():
        pytest.skip("fixture IDLs are missing")
    mapping = """\
    accounts:
      types:
        - account: Vault
          count_by: vault_mode
          only_states: ["0", "1"]
          sums: [{field: total_deposit, mint_field: quote_mint}]
        - account: Escrow
          flags: [refunded]
"""
    out = problems(_program_config(tmp_path, alpha.read_text(), mapping))
    # Zero-copy accounts keep states in a u8 (fine: at most 256 series); `refunded` is a u8 too,
    # which the flags check (`is True`) would always count as 0.
    assert (
        len(out) == 1
        and "programs[0].accounts.types[1].flags[0]: refunded is u8: flags must be bool" in out[0]
    )


# --- one problem per line for SQL cross references ----------------------------------------------


def test_sql_cross_reference_errors_each_have_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
sql:
  databases:
    - {name: db, path: a.sqlite}
    - {name: db, path: b.sqlite}
  queries:
    - name: q
      database: nope
      sql: SELECT 1 AS value
      metrics: [{name: x_value}]
    - name: r
      database: db
      sql: {postgres: SELECT 1 AS value}
      metrics: [{name: x_value}]
""",
    )
    assert problems(path) == [
        f"{path}:6: sql.databases[1].name: database name 'db' is already used by databases[0]",
        f"{path}:9: sql.queries[0].database: query q: database 'nope' is not in sql.databases (db)",
        f"{path}:14: sql.queries[1].sql: query r: sql has no 'sqlite' variant for database 'db'",
        f"{path}:15: sql.queries[1].metrics[0].name: metric x_value is already produced by query q",
    ]


# --- values that only failed at run time ----------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("postgresql://u:SECRETPW@[::1/db", "not a valid PostgreSQL URL: bad host or port"),
        ("postgresql://u:SECRETPW@127.0.0.1:abc/db", "not a valid PostgreSQL URL: bad host or port"),
        ("postgresql://u:SECRETPW@127.0.0.1:99999/db", "not a valid PostgreSQL URL: bad host or port"),
        ("not a dsn SECRETPW", "not a PostgreSQL URL"),
        ("mysql://u:SECRETPW@h/db", "not a PostgreSQL URL"),
        ("postgresql://u:SECRETPW@h/db\n", "contains a line break"),
    ],
)
def test_bad_dsn_is_a_config_error_that_hides_the_dsn(tmp_path: Path, dsn: str, message: str) -> None:
    path = write(
        tmp_path,
        HEAD + f"sql:\n  databases:\n    - name: pg\n      driver: postgres\n      dsn: {json.dumps(dsn)}\n",
    )
    r = cli("run", "--config", str(path), "--web.listen-address", "127.0.0.1:1")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "sql.databases[0].dsn" in r.stderr and message in r.stderr
    assert "SECRETPW" not in r.stderr + r.stdout


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:pw@h1:5432,h2:5433/db",
        "postgres:///db?host=/run/postgresql",
        "postgresql://u@[::1]:5432/db",
    ],
)
def test_valid_dsn_forms_are_accepted(tmp_path: Path, dsn: str) -> None:
    path = write(
        tmp_path,
        HEAD + f"sql:\n  databases:\n    - name: pg\n      driver: postgres\n      dsn: {json.dumps(dsn)}\n",
    )
    config = load_config(path)
    assert config.sql is not None and config.sql.databases[0].dsn == dsn


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:abc/KEY123",
        "http://127.0.0.1:99999/KEY123",
        "https://[::1/KEY123",
        "http://h:0/KEY123",
    ],
)
def test_endpoint_url_with_a_bad_port(tmp_path: Path, url: str) -> None:
    err = check_config(write(tmp_path, f'solana:\n  endpoints:\n    - name: a\n      url: "{url}"\n'))
    assert "config.yml:4: solana.endpoints[0].url: not a valid URL: " in err
    assert "KEY123" not in err


def test_url_with_a_trailing_newline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_RPC_URL_NL", "https://rpc.example/KEY123\n")
    err = check_config(
        write(tmp_path, "solana:\n  endpoints:\n    - name: a\n      url: ${TEST_RPC_URL_NL}\n")
    )
    assert "config.yml:4: solana.endpoints[0].url: the URL contains a line break" in err
    assert "KEY123" not in err


def test_header_value_with_a_trailing_newline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TOKEN_NL", "Bearer TOKEN123\n")  # a Kubernetes secret with a final newline
    path = write(
        tmp_path,
        """\
        solana:
          endpoints:
            - name: a
              url: http://127.0.0.1:1
              headers:
                Authorization: ${TEST_TOKEN_NL}
                "Bad Name": x
        """,
    )
    err = check_config(path)
    assert "config.yml:6: solana.endpoints[0].headers.Authorization: the value contains a line break" in err
    assert "config.yml:5: solana.endpoints[0].headers: 'Bad Name' is not a valid HTTP header name" in err
    assert "TOKEN123" not in err


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize(
    "where",
    [
        "solana.endpoints[0].timeout_seconds",
        "solana.endpoints[0].rate_limit_rps",
        "solana.health_interval_seconds",
        "solana.failback_after_seconds",
        "balances.interval_seconds",
        "programs[0].interval_seconds",
        "programs[0].accounts.interval_seconds",
        "sql.databases[0].connect_timeout_seconds",
        "sql.queries[0].interval_seconds",
        "sql.queries[0].timeout_seconds",
    ],
)
def test_durations_and_limits_must_be_finite(tmp_path: Path, where: str, value: str) -> None:
    _paid_match()
    doc: dict[str, Any] = {
        "solana": {"endpoints": [{"name": "a", "url": "http://127.0.0.1:1"}]},
        "balances": {},
        "programs": [{"name": "p", "idl": str(IDL), "accounts": {}}],
        "sql": {
            "databases": [{"name": "d", "path": "d.sqlite"}],
            "queries": [
                {"name": "q", "database": "d", "sql": "SELECT 1 AS value", "metrics": [{"name": "x"}]}
            ],
        },
    }
    node: Any = doc
    keys = where.replace("[", ".").replace("]", "").split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    node[keys[-1]] = "VALUE"
    text = json.dumps(doc).replace('"VALUE"', value)  # JSON is YAML: .inf / .nan go in as they are
    out = problems(write(tmp_path, text))
    assert len(out) == 1 and f"{where}: must be a finite number (not .inf or .nan)" in out[0], out


# --- config that passed check-config and then failed at run time ----------------------------------


def _documented_families() -> list[str]:
    """Every family docs/metrics.md lists, except the query pack's (which SQL produces) and the
    backup command's textfile metrics (node_exporter serves them, not the exporter)."""
    text = (ROOT / "docs" / "metrics.md").read_text()
    names = re.findall(r"^\| `([a-z_:]+)` \|", text, flags=re.M)
    return [n for n in names if not n.startswith(("escrow_business_", "escrow_ledger_", "escrow_backup_"))]


def _sql_metric_config(tmp_path: Path, family: str) -> Path:
    kind = "counter" if family.endswith("_total") else "gauge"
    return write(
        tmp_path,
        HEAD
        + f"""\
sql:
  databases: [{{name: d, path: d.sqlite}}]
  queries:
    - name: q
      database: d
      sql: SELECT 1 AS value
      metrics:
        - name: {family}
          type: {kind}
""",
    )


@pytest.mark.parametrize("family", _documented_families())
def test_a_sql_metric_named_like_a_built_in_family_is_refused(tmp_path: Path, family: str) -> None:
    """Before: check-config passed, then `run` died registering the duplicate family."""
    path = _sql_metric_config(tmp_path, family)
    assert problems(path) == [
        f"{path}:10: sql.queries[0].metrics[0].name: {family!r} is a family the exporter serves itself "
        "(docs/metrics.md); choose another name"
    ]


def test_check_config_refuses_a_built_in_family_name(tmp_path: Path) -> None:
    err = check_config(_sql_metric_config(tmp_path, "escrow_rpc_up"))
    assert "config.yml:10: sql.queries[0].metrics[0].name: 'escrow_rpc_up' is a family the exporter" in err


def test_an_integer_of_thousands_of_digits_is_a_config_error(tmp_path: Path) -> None:
    """Before: Python's int() limit (4,300 digits) raised ValueError through the YAML loader."""
    path = write(tmp_path, HEAD + "balances:\n  staleness_intervals: " + "7" * 5000 + "\n")
    err = check_config(path)
    assert "config.yml:4: invalid YAML: an integer of 5000 digits" in err


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "fifo", "big.txt", "a_directory"])
def test_a_secret_file_that_is_not_a_small_regular_file(tmp_path: Path, target: str) -> None:
    """Before: /dev/zero was read until memory ran out; a FIFO blocked check-config forever."""
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
    elif target == "big.txt":
        (tmp_path / "big.txt").write_text("https://rpc.example/" + "k" * 70_000)
    elif target == "a_directory":
        (tmp_path / "a_directory").mkdir()
    path = write(tmp_path, f"solana:\n  endpoints:\n    - name: a\n      url_file: {target}\n")
    err = check_config(path)
    expected = "is larger than 64 KiB" if target == "big.txt" else "is not a regular file"
    assert "config.yml:4: solana.endpoints[0].url_file: " in err and expected in err, err


def test_a_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    """Nine levels of nine aliases expand to 387 million values. Before: check-config walked
    every one of them (hours, then memory); the subprocess timeout makes the old code fail."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    path = write(tmp_path, HEAD + "bomb:\n" + "".join(f"  {line}\n" for line in levels))
    err = check_config(path)
    assert "invalid YAML: aliases expand to more than 100000 values" in err


def test_merge_keys_and_a_few_aliases_still_work(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        defaults: &ep {url: "http://127.0.0.1:1", timeout_seconds: 3}
        solana:
          endpoints:
            - {<<: *ep, name: a}
            - {<<: *ep, name: b}
        """,
    )
    out = problems(path)
    assert out == [f"{path}:1: defaults: unknown key"]


@pytest.mark.parametrize("rps", ["1e-300", "0.001", "0"])
def test_a_rate_limit_that_would_never_send_is_refused(tmp_path: Path, rps: str) -> None:
    """Before: 1e-300 was accepted and the endpoint waited ~1e300 s for its first token."""
    path = write(
        tmp_path,
        f"solana:\n  endpoints:\n    - name: a\n      url: http://127.0.0.1:1\n      rate_limit_rps: {rps}\n",
    )
    out = problems(path)
    assert out == [
        f"{path}:5: solana.endpoints[0].rate_limit_rps: must be at least 0.01 "
        "(one request every 100 seconds); a smaller limit would never send"
    ]


# --- `*_file` secrets only where declared ----------------------------------------------------------


def test_a_label_named_like_a_secret_file_stays_a_label(tmp_path: Path) -> None:
    """Before: any key ending in `_file` was read as a secret file, so this label became
    `source` holding the content of ./x."""
    (tmp_path / "x").write_text("file content")
    path = write(
        tmp_path,
        HEAD
        + """\
sql:
  databases: [{name: d, path: d.sqlite}]
  queries:
    - name: q
      database: d
      sql: SELECT 1 AS value
      metrics:
        - name: q_value
          static_labels: {source_file: x, region: eu}
""",
    )
    config = load_config(path)
    assert config.sql is not None
    assert config.sql.queries[0].metrics[0].static_labels == {"source_file": "x", "region": "eu"}


def test_only_declared_fields_read_secret_files(tmp_path: Path) -> None:
    (tmp_path / "url.txt").write_text("http://127.0.0.1:1\n")
    (tmp_path / "name.txt").write_text("from-a-file\n")
    path = write(
        tmp_path,
        """\
        solana:
          endpoints:
            - url_file: url.txt
              name_file: name.txt
        """,
    )
    # url is a declared secret; name is not, so name_file is an unknown key (and name is missing).
    assert problems(path) == [
        f"{path}:3: solana.endpoints[0].name: required key is missing",
        f"{path}:4: solana.endpoints[0].name_file: unknown key",
    ]


# --- the state file and backfill ------------------------------------------------------------------


def test_default_state_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD)
    assert load_config(path).state.path == str(tmp_path / "var" / "state.sqlite")
    given = write(tmp_path, HEAD + "state: {path: s/state.sqlite}\n", "other.yml")
    assert load_config(given).state.path == str(tmp_path / "s" / "state.sqlite")


def test_backfill_short_form(tmp_path: Path) -> None:
    _paid_match()
    path = write(tmp_path, HEAD + f"programs:\n  - name: p\n    idl: {IDL}\n    backfill: now\n")
    assert load_config(path).programs[0].backfill.mode == "now"
    bad = write(
        tmp_path, HEAD + f"programs:\n  - name: p\n    idl: {IDL}\n    backfill: signatures\n", "bad.yml"
    )
    out = problems(bad)
    assert out == [
        f"{bad}:6: programs[0].backfill: expected now, {{mode: signatures, count: N}} "
        "or {mode: slots, count: N}, not 'signatures'"
    ]


def test_examples_still_pass() -> None:
    for name in ("config.yml", "demo-config.yml"):
        r = cli("check-config", "--config", str(ROOT / "examples" / name))
        assert r.returncode == 0, r.stderr
