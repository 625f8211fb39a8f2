"""A newcomer's first run: `make run` on other ports, and what the log says when the RPC is not there."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.support.util import ROOT, cli, free_port, wait_http


def _run_sh_copy(tmp: Path) -> Path:
    """scripts/run.sh in a copy of the repository layout it needs, so its var/ is the test's own."""
    for d in ("scripts", "examples", "idls"):
        shutil.copytree(ROOT / d, tmp / d)
    (tmp / ".venv").symlink_to(ROOT / ".venv")
    return tmp / "scripts" / "run.sh"


def test_make_run_on_other_ports_points_the_example_config_at_the_moved_simulator(tmp_path: Path) -> None:
    run_sh = _run_sh_copy(tmp_path)
    chain, listen = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {**os.environ, "DEVCHAIN_LISTEN": chain, "LISTEN": listen}
    env.pop("SEED", None)
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(run_sh)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_http(f"http://{listen}/-/healthy", timeout=30)

        def balances_read() -> str | None:
            with urllib.request.urlopen(f"http://{listen}/metrics", timeout=10) as r:
                text = r.read().decode()
            ok = sample(text, "escrow_rpc_up", endpoint="devchain") == 1
            return (
                text
                if ok and sample(text, "escrow_account_balance", account="escrow_sol") is not None
                else None
            )

        wait_until(balances_read, timeout=30, what="the demo accounts read from the moved simulator")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
    assert "ClientConnectorError" not in (tmp_path / "run.log").read_text()


def test_readme_documents_the_make_run_variables() -> None:
    readme = (ROOT / "README.md").read_text()
    for var in re.findall(r"\$\{(\w+):-", (ROOT / "scripts/run.sh").read_text()):
        assert f"`{var}`" in readme, f"README does not document {var}, which make run reads"


def test_a_refused_connection_names_endpoint_address_and_cause(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        "solana:\n"
        f"  endpoints: [{{name: mainnode, url: 'http://127.0.0.1:{port}/secret-api-key', timeout_seconds: 2}}]\n"
        "  health_interval_seconds: 0.5\n"
        f"state: {{path: {tmp_path / 'state.sqlite'}}}\n"
    )
    exporter = ExporterProcess(cfg)
    try:
        exporter.wait_up()
        line = wait_until(
            lambda: next(
                (ln for ln in exporter.log().splitlines() if "cannot connect" in ln and "level=warn" in ln),
                None,
            ),
            timeout=20,
            what="a log line about the refused connection",
        )
        text = exporter.metrics()
    finally:
        exporter.stop()
    # A refused connection counts as outcome="error", and the outage runbook says so.
    assert (
        sample(text, "escrow_rpc_requests_total", endpoint="mainnode", method="getSlot", outcome="error") or 0
    ) > 0
    runbook = (ROOT / "docs/runbooks/EscrowRpcOutage.md").read_text()
    error_line = " ".join(runbook.split("`error` (", 1)[1].split(")", 1)[0].split())
    assert "connection refused" in error_line, error_line
    assert "mainnode" in line and f"127.0.0.1:{port}" in line and "refused" in line.lower(), line
    assert "secret-api-key" not in exporter.log()


def test_config_file_flag_is_accepted_beside_config() -> None:
    r = cli("check-config", "--config.file", str(ROOT / "examples" / "config.yml"))
    assert r.returncode == 0 and ": OK: " in r.stdout, r.stderr
