"""The shipped example configs stay valid and in step with the query pack."""

from __future__ import annotations

import yaml

from tests.support.util import ROOT, cli


def test_example_config_is_valid() -> None:
    r = cli("check-config", "--config", str(ROOT / "examples" / "config.yml"))
    assert r.returncode == 0, r.stderr
    assert "5 account(s)" in r.stdout and "17 SQL queries" in r.stdout


def test_example_config_runs_the_query_pack_unchanged() -> None:
    pack = yaml.safe_load((ROOT / "schema" / "queries.yml").read_text())
    example = yaml.safe_load((ROOT / "examples" / "config.yml").read_text())
    assert example["sql"]["queries"] == pack["queries"]
