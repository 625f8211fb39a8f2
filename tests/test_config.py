"""Config loading: every kind of mistake gives a clear error naming file, key and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config
from tests.support.util import cli

GOOD = """\
solana:
  endpoints:
    - name: primary
      url: https://rpc.example.com/?api-key=${TEST_RPC_KEY}
    - name: backup
      url_file: backup_url.txt
      headers: {Authorization: "Bearer ${TEST_RPC_TOKEN:-none}"}
balances:
  accounts:
    - name: escrow_sol
      pda: {program_id: "11111111111111111111111111111111", seeds: ["str:escrow_sol"]}
    - name: vault
      address: TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA
      kind: token
"""


def write(tmp_path: Path, text: str, name: str = "config.yml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_valid_config_with_env_and_file_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_RPC_KEY", "s3cret")
    (tmp_path / "backup_url.txt").write_text("https://backup.example.com/key123\n")
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.solana.endpoints[0].url == "https://rpc.example.com/?api-key=s3cret"
    assert cfg.solana.endpoints[1].url == "https://backup.example.com/key123"
    assert cfg.solana.endpoints[1].headers == {"Authorization": "Bearer none"}
    assert cfg.solana.commitment == "confirmed"


def test_every_problem_listed_at_once_with_path_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        solana:
          endpoints:
            - name: a
              url: https://a.example.com
            - name: b
              url: ftp://nope
              colour: blue
          commitment: sometimes
        balances:
          accounts:
            - name: x
              address: not-a-key
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    problems = "\n".join(exc.value.problems)
    assert f"{path}:6: solana.endpoints[1].url: " in problems
    assert "must be an http:// or https:// URL" in problems
    assert f"{path}:7: solana.endpoints[1].colour: unknown key" in problems
    assert f"{path}:8: solana.commitment:" in problems
    assert "balances.accounts[0].address" in problems and "not a valid base58 public key" in problems
    assert len(exc.value.problems) == 4


def test_missing_env_and_secret_file_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_RPC_KEY", raising=False)
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, GOOD))
    problems = "\n".join(exc.value.problems)
    assert "solana.endpoints[0].url: environment variable TEST_RPC_KEY is not set" in problems
    assert "solana.endpoints[1].url_file: cannot read" in problems and "backup_url.txt" in problems


def test_invalid_yaml_points_at_line(tmp_path: Path) -> None:
    path = write(tmp_path, "solana:\n  endpoints: [\n    - oops: {\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.problems[0].startswith(f"{path}:")
    assert "invalid YAML" in exc.value.problems[0]


def test_account_needs_exactly_one_address_and_unique_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        solana:
          endpoints: [{name: a, url: "http://127.0.0.1:1"}, {name: a, url: "http://127.0.0.1:2"}]
        balances:
          accounts:
            - name: both
              address: 11111111111111111111111111111111
              pda: {program_id: "11111111111111111111111111111111", seeds: ["bogus"]}
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    problems = "\n".join(exc.value.problems)
    assert (
        f"{path}:2: solana.endpoints[1].name: endpoint name 'a' is already used by endpoints[0]" in problems
    )
    assert "balances.accounts[0].pda.seeds" in problems and "type prefix" in problems


def test_check_config_cli(tmp_path: Path) -> None:
    bad = write(tmp_path, "solana:\n  endpoints: []\nsurprise: 1\n")
    r = cli("check-config", "--config", str(bad))
    assert r.returncode == 2
    assert "surprise: unknown key" in r.stderr
    assert "solana.endpoints" in r.stderr
    assert "Traceback" not in r.stderr
    good = write(tmp_path, 'solana:\n  endpoints: [{name: main, url: "http://127.0.0.1:8899"}]\n', "good.yml")
    r = cli("check-config", "--config", str(good))
    assert r.returncode == 0, r.stderr
    assert "OK: 1 RPC endpoint(s)" in r.stdout
    missing = cli("check-config", "--config", str(tmp_path / "nope.yml"))
    assert missing.returncode == 2 and "cannot read config file" in missing.stderr


def test_secret_url_never_echoed(tmp_path: Path) -> None:
    bad = write(tmp_path, 'solana:\n  endpoints: [{name: main, url: "wss://key-SECRET123@rpc"}]\n')
    r = cli("check-config", "--config", str(bad))
    assert r.returncode == 2
    assert "SECRET123" not in r.stderr + r.stdout


def test_version() -> None:
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("escrow-exporter ")
