"""The `sql:` config section: what a user gets wrong is reported with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config
from tests.support.util import ROOT

HEAD = """solana:
  endpoints:
    - name: local
      url: http://127.0.0.1:8899
sql:
"""


def problems(tmp_path: Path, sql: str) -> list[str]:
    path = tmp_path / "config.yml"
    path.write_text(HEAD + sql)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    return e.value.problems


def test_query_pack_loads_and_resolves_paths_and_secret_files(tmp_path: Path) -> None:
    pack = (ROOT / "schema" / "queries.yml").read_text()
    indented = "".join(f"  {line}\n" for line in pack.splitlines())
    (tmp_path / "dsn").write_text("postgresql://reader:s3cret@db:5432/app\n")
    extra = "    - name: pg\n      driver: postgres\n      dsn_file: dsn\n"
    path = tmp_path / "config.yml"
    path.write_text(HEAD + indented.replace("\n  databases:\n", "\n  databases:\n" + extra, 1))
    config = load_config(path)
    assert config.sql is not None
    dbs = {d.name: d for d in config.sql.databases}
    assert dbs["business"].path == str(tmp_path / "var" / "demo-ledger.sqlite")
    assert dbs["pg"].dsn == "postgresql://reader:s3cret@db:5432/app"
    assert len(config.sql.queries) == 17
    assert "17 SQL queries" in config.summary()


def test_unknown_database_names_the_query(tmp_path: Path) -> None:
    out = problems(
        tmp_path,
        """  databases:
    - {name: books, driver: sqlite, path: b.sqlite}
  queries:
    - name: q1
      database: bookz
      sql: SELECT 1 AS value
      metrics: [{name: x_value}]
""",
    )
    assert len(out) == 1
    # The line and key of the reference itself, not of the whole `sql:` section.
    assert (
        "config.yml:10: sql.queries[0].database: query q1: database 'bookz' is not in sql.databases (books)"
        in out[0]
    )


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("{name: bad-name}", "'bad-name' is not a valid Prometheus metric name"),
        ("{name: rows, type: counter}", "counter 'rows' must end in _total"),
        ("{name: escrow_sql_up}", "is a family the exporter serves itself"),
        ("{name: x, label_columns: [k], static_labels: {k: v}}", "label names repeated"),
        ("{name: x, label_columns: [__k]}", "'__k' is not a valid Prometheus label name"),
        ("{name: x, colour: red}", "colour: unknown key"),
    ],
)
def test_metric_definitions_are_validated(tmp_path: Path, metric: str, expected: str) -> None:
    out = problems(
        tmp_path,
        f"""  databases: [{{name: b, path: b.sqlite}}]
  queries:
    - name: q
      database: b
      sql: SELECT 1 AS value
      metrics: [{metric}]
""",
    )
    assert any(expected in p and "sql.queries[0].metrics[0]" in p for p in out), out


def test_driver_needs_its_own_target_and_sql_variant(tmp_path: Path) -> None:
    out = problems(
        tmp_path,
        """  databases:
    - {name: pg, driver: postgres, path: x.sqlite}
    - {name: lite, driver: sqlite}
""",
    )
    text = "\n".join(out)
    assert "config.yml:7: sql.databases[0]: driver postgres needs dsn" in text
    assert "config.yml:8: sql.databases[1]: driver sqlite needs path" in text
    out = problems(
        tmp_path,
        """  databases:
    - {name: ok, driver: postgres, dsn: "postgresql://u:pw@h/d"}
  queries:
    - name: q
      database: ok
      sql: {sqlite: SELECT 1 AS value}
      metrics: [{name: x}]
""",
    )
    assert len(out) == 1 and "sql has no 'postgres' variant for database 'ok'" in out[0]
    assert "postgresql://" not in out[0]  # a DSN may hold a password: never echoed


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT pg_notify('c', 'x') AS value", "calls pg_notify()"),
        ('SELECT "pg_terminate_backend" (42) AS value', "calls pg_terminate_backend()"),
        ("SELECT lo_create(0) AS value", "calls lo_create()"),
        ("SELECT pg_catalog.pg_reload_conf()::int AS value", "calls pg_reload_conf()"),
        ("COPY (SELECT 1) TO '/tmp/x'", "COPY is not a query"),
        ("{sqlite: \"VACUUM INTO '/tmp/x'\"}", "VACUUM is not a query"),
        ("{sqlite: \"ATTACH '/tmp/x' AS y\"}", "ATTACH is not a query"),
    ],
)
def test_sql_with_effects_beyond_reading_is_refused_at_load(tmp_path: Path, sql: str, expected: str) -> None:
    """A guard against the obvious, with file and line; the enforcement itself is in the drivers
    (tests/test_sql_read_only.py)."""
    out = problems(
        tmp_path,
        f"""  databases: [{{name: b, path: b.sqlite}}]
  queries:
    - name: q
      database: b
      sql: {sql}
      metrics: [{{name: x}}]
""",
    )
    assert len(out) == 1 and f"config.yml:10: sql.queries[0].sql: {expected}" in out[0], out
