"""RPC pool against the simulator: failover on down / 429 / lag, failback with hysteresis, no secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.support.ingest import parse_metrics

CONFIG = """\
solana:
  endpoints:
    - {{name: alpha, url: "{a}?api-key=ALPHASECRET", timeout_seconds: 2, max_retries: 1}}
    - {{name: beta, url: "{b}?api-key=BETASECRET", timeout_seconds: 2, max_retries: 1}}
  health_interval_seconds: 0.5
  max_slot_lag: 5
  failback_after_seconds: {failback}
balances:
  interval_seconds: 1
  accounts:
    - {{name: escrow_sol, pda: {{program_id: "{program}", seeds: ["str:escrow_sol"]}}}}
"""


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devchain]:
    d = Devchain(tmp_path_factory.mktemp("devchain"), seed=3, tps=2)
    yield d
    d.stop()


@pytest.fixture
def exporter(chain: Devchain, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ExporterProcess]:
    chain.clear_faults()
    failback = getattr(request, "param", 2)
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        CONFIG.format(
            a=chain.node("alpha"),
            b=chain.node("beta"),
            program=chain.state()["program_id"],
            failback=failback,
        )
    )
    proc = ExporterProcess(cfg)
    proc.wait_up("/-/ready")
    yield proc
    proc.stop()
    chain.clear_faults()


def _request_labels(text: str) -> list[dict[str, str]]:
    return [labels for name, labels, _ in parse_metrics(text) if name == "escrow_rpc_requests_total"]


def active(proc: ExporterProcess) -> str | None:
    text = proc.metrics()
    for name in ("alpha", "beta"):
        if sample(text, "escrow_rpc_active", endpoint=name) == 1:
            return name
    return None


@pytest.mark.parametrize("fault", [{"down": True}, {"rate_limit": True}, {"stale_slot": True}])
def test_failover_and_failback(chain: Devchain, exporter: ExporterProcess, fault: dict[str, bool]) -> None:
    wait_until(lambda: active(exporter) == "alpha", what="alpha active at start")
    chain.fault("alpha", **fault)
    # Within about one polling interval (plus the lag needing a few slots to build up).
    wait_until(lambda: active(exporter) == "beta", timeout=8, what=f"failover to beta on {fault}")
    text = exporter.metrics()
    assert (sample(text, "escrow_rpc_failovers_total") or 0) >= 1
    wait_until(
        lambda: sample(exporter.metrics(), "escrow_rpc_up", endpoint="alpha") == 0,
        timeout=5,
        what="alpha down",
    )
    # Balances keep flowing through beta.
    before = sample(
        exporter.metrics(), "escrow_account_balance_updated_timestamp_seconds", account="escrow_sol"
    )
    wait_until(
        lambda: (
            (
                sample(
                    exporter.metrics(),
                    "escrow_account_balance_updated_timestamp_seconds",
                    account="escrow_sol",
                )
                or 0
            )
            > (before or 0)
        ),
        timeout=5,
        what="balances refreshed via beta",
    )
    assert sample(exporter.metrics(), "escrow_exporter_collector_up", collector="balances") == 1
    if fault == {"down": True}:
        # A node that does not answer has no slot: no frozen slot, no ever-growing slot lag.
        wait_until(
            lambda: sample(exporter.metrics(), "escrow_rpc_slot", endpoint="alpha") is None,
            timeout=5,
            what="alpha's slot series gone",
        )
        text = exporter.metrics()
        assert sample(text, "escrow_rpc_slot_lag", endpoint="alpha") is None
        # Failed health-check batches are counted under their own methods, as successes are.
        assert (
            sample(text, "escrow_rpc_requests_total", endpoint="alpha", method="getHealth", outcome="error")
            or 0
        ) > 0
        assert "batch" not in {labels.get("method") for labels in _request_labels(text)}
    chain.clear_faults()
    wait_until(
        lambda: sample(exporter.metrics(), "escrow_rpc_up", endpoint="alpha") == 1,
        timeout=8,
        what="alpha healthy",
    )
    # Hysteresis: not back at once ...
    assert active(exporter) == "beta"
    # ... but after failback_after_seconds of health.
    wait_until(lambda: active(exporter) == "alpha", timeout=8, what="failback to alpha")
    log = exporter.log()
    # The transitions are logged once each, at the default level; failures do not repeat per request.
    assert 'msg="rpc endpoint unhealthy" endpoint=alpha' in log
    assert 'msg="rpc endpoint healthy" endpoint=alpha' in log
    assert sum('msg="rpc request failed" endpoint=alpha' in line for line in log.splitlines()) <= 3
    text = exporter.metrics()
    for secret in ("ALPHASECRET", "BETASECRET", chain.node("alpha")):
        assert secret not in log and secret not in text


@pytest.mark.parametrize("exporter", [60], indirect=True)
def test_every_endpoint_down_is_reported_not_zeroed(chain: Devchain, exporter: ExporterProcess) -> None:
    wait_until(
        lambda: sample(exporter.metrics(), "escrow_account_balance", account="escrow_sol") is not None,
        what="balance",
    )
    chain.fault("alpha", down=True)
    chain.fault("beta", down=True)
    wait_until(
        lambda: sample(exporter.metrics(), "escrow_exporter_collector_up", collector="balances") == 0,
        timeout=15,
        what="balances collector down",
    )
    text = exporter.metrics()
    assert (
        sample(text, "escrow_rpc_up", endpoint="alpha") == 0
        and sample(text, "escrow_rpc_up", endpoint="beta") == 0
    )
    value = sample(text, "escrow_account_balance", account="escrow_sol")
    assert value is None or value > 0, "a dead provider must never show as a zero balance"
    # After staleness_intervals (5) x interval (1 s) the series disappears instead of lying.
    wait_until(
        lambda: sample(exporter.metrics(), "escrow_account_balance", account="escrow_sol") is None,
        timeout=15,
        what="stale balance dropped",
    )
    chain.clear_faults()
    wait_until(
        lambda: sample(exporter.metrics(), "escrow_account_balance", account="escrow_sol") is not None,
        timeout=15,
        what="balance back after recovery",
    )
