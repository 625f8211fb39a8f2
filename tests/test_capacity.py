"""Capacity forecasting (issue 17, review loop): the exporter serves its state file's size, which
the EscrowCapacityForecast rule forecasts (its promtool cases are in prometheus/tests/capacity_test.yml,
run by tests/test_rules.py)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from exporter.ingest.state_size import StateFileSize
from tests.support.exporter_proc import sample
from tests.support.util import ROOT


def _served(path: Path) -> str:
    registry = CollectorRegistry()
    registry.register(StateFileSize(str(path)))
    return generate_latest(registry).decode()


def test_state_file_size_counts_the_file_and_its_wal(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    assert "escrow_exporter_state_file_bytes" not in _served(state)  # no file yet: absent, not 0
    state.write_bytes(b"x" * 4096)
    assert sample(_served(state), "escrow_exporter_state_file_bytes") == 4096
    Path(f"{state}-wal").write_bytes(b"y" * 1000)
    assert sample(_served(state), "escrow_exporter_state_file_bytes") == 5096


def test_the_forecast_rule_reads_the_served_gauge() -> None:
    rules = (ROOT / "prometheus" / "rules" / "capacity.yml").read_text()
    assert "predict_linear(escrow_exporter_state_file_bytes{" in rules
    assert "prometheus_tsdb_storage_blocks_bytes{" in rules
