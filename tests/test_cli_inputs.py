"""``escrow-exporter run`` start-up failures, through the real CLI: each is one error line naming
its cause (file, address), the documented exit code, no traceback, and nothing claims to listen
before the port is bound."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.util import cli, free_port

CONFIG = """\
solana:
  endpoints:
    - {name: silent, url: "http://127.0.0.1:1/", timeout_seconds: 2, max_retries: 0}
balances:
  interval_seconds: 1
  accounts:
    - {name: escrow_sol, address: "11111111111111111111111111111111"}
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``escrow-exporter run`` that must fail at start; a start that hangs fails the test."""
    return cli("run", *args, timeout=30)


def assert_one_error(out: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert out.returncode == code, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if "level=error" in line]
    assert len(errors) == 1, out.stderr
    for needle in needles:
        assert needle in errors[0], out.stderr
    return errors[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process already listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


# --- config files that are not UTF-8: the loader's error naming the file, not "invalid flag" ---


def test_config_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_bytes(CONFIG.encode() + b"# caf\xe9\n")
    line = assert_one_error(
        run("--config", str(path), "--web.listen-address", f"127.0.0.1:{free_port()}"),
        2,
        "invalid config",
        str(path),
        "not UTF-8",
    )
    assert "invalid flag" not in line


def test_web_config_not_utf8_names_the_file(tmp_path: Path, config: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_bytes(b"basic_auth_users:\n  caf\xe9: x\n")
    line = assert_one_error(
        run(
            "--config",
            str(config),
            "--web.config.file",
            str(web),
            "--web.listen-address",
            f"127.0.0.1:{free_port()}",
        ),
        2,
        "invalid config",
        str(web),
        "not UTF-8",
    )
    assert "invalid flag" not in line


def test_only_the_listen_address_is_reported_as_a_flag_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ValueError out of loading (a UnicodeDecodeError before the loaders caught it) used to
    be logged as `msg="invalid flag"` naming no file. Loaders report ConfigError (tested above);
    anything else they raise is a bug and must not pass for a mistyped flag."""
    import exporter.cli

    def broken_loader(path: str) -> None:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(exporter.cli, "load_config", broken_loader)
    with pytest.raises(UnicodeDecodeError):
        exporter.cli.main(["run", "--config", "config.yml", "--web.listen-address", "127.0.0.1:1"])
    assert "invalid flag" not in capsys.readouterr().err


# --- the listen address ------------------------------------------------------------------------


def test_port_in_use_is_one_line_and_nothing_claims_to_listen(config: Path, taken_port: int) -> None:
    # Used to log "listening" and "exporter started", start every collector, then hang in
    # shutdown (Python 3.11 wait_for swallowing the cancellation) instead of exiting.
    out = run("--config", str(config), "--web.listen-address", f"127.0.0.1:{taken_port}")
    assert_one_error(out, 1, f"cannot listen on 127.0.0.1:{taken_port}: address already in use")
    assert "listening" not in out.stderr.replace("cannot listen", "")
    assert "exporter started" not in out.stderr


@pytest.mark.parametrize(
    ("address", "code", "message"),
    [
        ("foo", 2, "--web.listen-address 'foo': expected HOST:PORT"),
        ("127.0.0.1:99999", 2, "expected HOST:PORT"),
        ("999.1.1.1:{port}", 2, "cannot listen on 999.1.1.1:{port}: "),  # names no host
        ("192.0.2.1:{port}", 1, "cannot listen on 192.0.2.1:{port}: cannot assign requested address"),
    ],
)
def test_bad_listen_address(config: Path, address: str, code: int, message: str) -> None:
    port = free_port()
    out = run("--config", str(config), "--web.listen-address", address.format(port=port))
    assert_one_error(out, code, message.format(port=port))
    assert "exporter started" not in out.stderr
