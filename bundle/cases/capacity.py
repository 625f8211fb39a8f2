"""Cases for the ``capacity`` rule group: forecasts of the exporter's state file, Prometheus'
TSDB and the ledger database against their budgets.

A linear growth whose forecast passes the budget fires after 3h of history and 1h pending; the
same size without growth, exactly at the budget, is quiet; so is fast growth with less than 3h of
history (a fresh file or TSDB grows fastest at first).
"""

from __future__ import annotations

from bundle.cases.common import Case, Fired, humanize1024
from bundle.cases.series import JL, PROM_J, PROM_JL, J
from bundle.config import PARAMS, SITE

FORECAST_MIN = int(PARAMS["capacity_forecast_seconds"]) // 60
STATE_BUDGET = int(PARAMS["state_file_budget_bytes"])
TSDB_BUDGET = int(PARAMS["prometheus_tsdb_budget_bytes"])
STATE = f"escrow_exporter_state_file_bytes{{{J}}}"
TSDB_PARTS = (
    f"prometheus_tsdb_storage_blocks_bytes{{{PROM_J}}}",
    f"prometheus_tsdb_wal_storage_size_bytes{{{PROM_J}}}",
    f"prometheus_tsdb_head_chunks_storage_size_bytes{{{PROM_J}}}",
)


def _growth(budget: int) -> int:
    """Bytes per minute that reach twice the budget over the forecast horizon."""
    return -(-2 * budget // FORECAST_MIN)


def _forecast_at(start: int, per_min: int, minute: int) -> str:
    return humanize1024(start + per_min * (minute + FORECAST_MIN))


def _tsdb(blocks: str) -> dict[str, str]:
    return {TSDB_PARTS[0]: blocks, TSDB_PARTS[1]: "100000000x300", TSDB_PARTS[2]: "10000000x300"}


_STATE_G, _TSDB_G = _growth(STATE_BUDGET), _growth(TSDB_BUDGET)
CAPACITY_CASES: list[Case] = [
    Case(
        "EscrowCapacityForecast",
        "a state file growing past its budget within the horizon fires",
        {STATE: f"1000000+{_STATE_G}x300"},
        "250m",
        [
            Fired(
                "low",
                {**JL, "resource": "state_file", "budget": str(STATE_BUDGET)},
                _forecast_at(1000000, _STATE_G, 250),
            )
        ],
    ),
    Case(
        "EscrowCapacityForecast",
        "a state file exactly at its budget, not growing, is quiet",
        {STATE: f"{STATE_BUDGET}x300"},
        "250m",
    ),
    Case(
        "EscrowCapacityForecast",
        "a state file growing fast with under 3h of history is quiet",
        {STATE: f"1000000+{_STATE_G}x300"},
        "170m",
    ),
    Case(
        "EscrowCapacityForecast",
        "a Prometheus TSDB growing past its budget within the horizon fires",
        _tsdb(f"1000000000+{_TSDB_G}x300"),
        "250m",
        [
            Fired(
                "low",
                {**PROM_JL, "resource": "prometheus_tsdb", "budget": str(TSDB_BUDGET)},
                _forecast_at(1110000000, _TSDB_G, 250),
            )
        ],
    ),
    Case(
        "EscrowCapacityForecast",
        "a Prometheus TSDB exactly at its budget, not growing, is quiet",
        _tsdb(f"{TSDB_BUDGET - 110000000}x300"),
        "250m",
    ),
]


# The ledger database (postgres_exporter): the same forecast per database; PostgreSQL's own
# databases are never forecast.
LEDGER_BUDGET = int(PARAMS["ledger_database_budget_bytes"])
_PG = f'job="{SITE.postgres_job}",instance="db:9187"'
_PG_L = {"job": SITE.postgres_job, "instance": "db:9187"}
LEDGER_DB = f'pg_database_size_bytes{{{_PG},datname="escrow"}}'
_LEDGER_G = _growth(LEDGER_BUDGET)
CAPACITY_CASES += [
    Case(
        "EscrowCapacityForecast",
        "a ledger database growing past its budget within the horizon fires",
        {LEDGER_DB: f"1000000+{_LEDGER_G}x300", f'pg_database_size_bytes{{{_PG},datname="postgres"}}': "8000000x300"},
        "250m",
        [
            Fired(
                "low",
                {**_PG_L, "datname": "escrow", "resource": "ledger_database", "budget": str(LEDGER_BUDGET)},
                _forecast_at(1000000, _LEDGER_G, 250),
            )
        ],
    ),
    Case(
        "EscrowCapacityForecast",
        "a ledger database exactly at its budget, not growing, is quiet",
        {LEDGER_DB: f"{LEDGER_BUDGET}x300"},
        "250m",
    ),
    Case(
        "EscrowCapacityForecast",
        "a ledger database growing fast with under 3h of history is quiet",
        {LEDGER_DB: f"1000000+{_LEDGER_G}x300"},
        "170m",
    ),
    Case(
        "EscrowCapacityForecast",
        "PostgreSQL's own database growing fast is quiet",
        {f'pg_database_size_bytes{{{_PG},datname="postgres"}}': f"1000000+{_LEDGER_G}x300"},
        "250m",
    ),
]  # fmt: skip
