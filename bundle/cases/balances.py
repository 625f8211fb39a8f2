"""Cases for the balance alerts of the ``treasury`` rule group: chain against ledger
(EscrowBalanceMismatch), balances gone stale, accounts missing, wallets under their floor."""

from __future__ import annotations

from decimal import Decimal

from bundle.cases.common import Case, Fired, held
from bundle.cases.series import BAL, ESCROW_INFO, EXISTS, INFO, J2, JL, LEDGER, PST, USDC, J
from bundle.config import ACCOUNT_FLOORS, MINT_FLOORS, MINT_TOLERANCES, PARAMS

# EscrowBalanceStale: the escrow account's last successful read.
STALE_S = int(PARAMS["balance_stale_seconds"])
TS = f'escrow_account_balance_updated_timestamp_seconds{{{J},account="escrow_usdc"}}'
STALE_LABELS = {**JL, "account": "escrow_usdc"}
# Balances read every 15 s until 60m; then every read fails, and the exporter serves the last
# value (and its timestamp) for interval x staleness_intervals = 75 s before dropping both.
TS_READS_FAIL_AT_60M = "0+15x240 3600x4"

# EscrowWalletBelowFloor: the site's floors per mint and per account. HV_TOKEN has no floor of
# its own; only the account treasury_hv has one.
SOL_FLOOR, USDC_FLOOR = MINT_FLOORS["SOL"], MINT_FLOORS[USDC]
SOL_WALLET = {"account": "treasury_sol", "mint": "SOL", "role": "treasury"}
USDC_WALLET = {"account": "treasury_usdc", "mint": USDC, "role": "treasury"}
HV_FLOOR = ACCOUNT_FLOORS["treasury_hv"]
HV_TOKEN = "HvTok1111111111111111111111111111111111111"
HV_WALLET = {"account": "treasury_hv", "mint": HV_TOKEN, "role": "treasury"}


def under(floor: str) -> str:
    """A balance half a unit under ``floor``, as Prometheus prints it."""
    return f"{float(floor) - 0.5:g}"


# EscrowBalanceMismatch: per mint, its own tolerance (else the site default), all derived from
# the site config. Balances as Prometheus reads them: float(text); the drift is their float
# difference, rendered with printf "%.6f" (Python's and Go's rounding agree).
USDC_TOL = MINT_TOLERANCES.get(USDC, PARAMS["mismatch_tolerance"])
SOL_TOL = MINT_TOLERANCES.get("SOL", PARAMS["mismatch_tolerance"])
DEFAULT_TOL = PARAMS["mismatch_tolerance"]
MISMATCH_TOKEN = "MisTok111111111111111111111111111111111111"  # a mint without its own tolerance
assert MISMATCH_TOKEN not in MINT_TOLERANCES


def plus(base: str, delta: str | Decimal) -> str:
    """``base + delta`` written exactly (no binary rounding in the test's input)."""
    return str(Decimal(base) + Decimal(delta))


def drift(chain: str, ledger: str) -> str:
    return f"{float(chain) - float(ledger):.6f}"


def mismatch_cases(mint: str, tolerance: str, what: str) -> list[Case]:
    """Just over ``tolerance`` (one micro-unit) fires, exactly at it and half of it are quiet."""
    series = {BAL % ("escrow_x", mint): "", LEDGER % ("escrow_x", mint): "100x20"}
    over = plus("100", Decimal(tolerance) + Decimal("0.000001"))
    labels = {"account": "escrow_x", "mint": mint, "tolerance": tolerance}

    def at(chain: str) -> dict[str, str]:
        return {**series, BAL % ("escrow_x", mint): f"{chain}x20"}

    return [
        Case(
            "EscrowBalanceMismatch",
            f"{what}: a drift of one micro-unit over its tolerance {tolerance} fires",
            at(over),
            "12m",
            [Fired("critical", labels, drift(over, "100"))],
        ),
        Case(
            "EscrowBalanceMismatch",
            f"{what}: a drift of exactly its tolerance {tolerance} is quiet",
            at(plus("100", tolerance)),
            "12m",
        ),
        Case(
            "EscrowBalanceMismatch",
            f"{what}: half its tolerance missing on chain is quiet",
            at(plus("100", -Decimal(tolerance) / 2)),
            "12m",
        ),
    ]


_USDC_MISSING = plus("100", Decimal(USDC_TOL) * 50)  # 0.5 USDC missing at the default 0.01
_USDC_LABELS = {"account": "escrow_usdc", "mint": USDC, "tolerance": USDC_TOL}
MISMATCH_CASES: list[Case] = [
    Case(
        "EscrowBalanceMismatch",
        f"{Decimal(USDC_TOL) * 50} USDC missing on chain for 11m fires",
        {BAL % ("escrow_usdc", USDC): "100x20", LEDGER % ("escrow_usdc", USDC): f"{_USDC_MISSING}x20"},
        "12m",
        [Fired("critical", _USDC_LABELS, drift("100", _USDC_MISSING))],
    ),
    Case(
        "EscrowBalanceMismatch",
        "more on chain than booked fires",
        {BAL % ("escrow_usdc", USDC): f"{_USDC_MISSING}x20", LEDGER % ("escrow_usdc", USDC): "100x20"},
        "12m",
        [Fired("critical", _USDC_LABELS, drift(_USDC_MISSING, "100"))],
    ),
    Case(
        "EscrowBalanceMismatch",
        "chain and ledger read at different moments (disagree every other minute) is quiet",
        {
            BAL % ("escrow_usdc", USDC): " ".join([f"100 {plus('100', Decimal(USDC_TOL) * 500)}"] * 10),
            LEDGER % ("escrow_usdc", USDC): "100x20",
        },
        "12m",
    ),
    *mismatch_cases(USDC, USDC_TOL, "USDC"),
    *mismatch_cases("SOL", SOL_TOL, "SOL (its own tolerance)"),
    *mismatch_cases(MISMATCH_TOKEN, DEFAULT_TOL, "a mint without its own tolerance"),
    # Drained to 0 and closed at 10m: the exporter sets exists=0 and drops the balance series
    # (exporter/collectors/balances.py); the books still hold 250k.
    Case(
        "EscrowBalanceMismatch",
        "a drained-and-closed escrow with 250k on the books fires",
        {
            BAL % ("escrow_usdc", USDC): "250000x9",
            EXISTS % "escrow_usdc": "1x9 0x40",
            LEDGER % ("escrow_usdc", USDC): "250000x50",
        },
        "30m",
        [Fired("critical", _USDC_LABELS, "-250000.000000")],
    ),
    Case(
        "EscrowBalanceMismatch",
        "a closed escrow the books also say is empty is quiet",
        {
            BAL % ("escrow_usdc", USDC): "0x9",
            EXISTS % "escrow_usdc": "1x9 0x40",
            LEDGER % ("escrow_usdc", USDC): "0x50",
        },
        "30m",
    ),
]
if Decimal(SOL_TOL) < Decimal(DEFAULT_TOL):
    # The "one tolerance for every mint": a SOL drift the default would let through.
    _SOL_OVER = plus("100", (Decimal(SOL_TOL) + Decimal(DEFAULT_TOL)) / 2)
    MISMATCH_CASES.append(
        Case(
            "EscrowBalanceMismatch",
            "a SOL drift over its own tolerance but under the default fires",
            {BAL % ("escrow_x", "SOL"): f"{_SOL_OVER}x20", LEDGER % ("escrow_x", "SOL"): "100x20"},
            "12m",
            [
                Fired(
                    "critical",
                    {"account": "escrow_x", "mint": "SOL", "tolerance": SOL_TOL},
                    drift(_SOL_OVER, "100"),
                )
            ],
        )
    )


BALANCE_CASES: list[Case] = [
    *MISMATCH_CASES,
    Case(
        "EscrowBalanceStale",
        "reads failing since 60m (series dropped 75 s later) fires at 80m",
        {TS: TS_READS_FAIL_AT_60M, ESCROW_INFO: "1x800", EXISTS % "escrow_usdc": "1x244", PST: "0x800"},
        "80m",
        [Fired("high", STALE_LABELS, "20m 0s")],
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "reads failing since 60m still fire at 150m",
        {TS: TS_READS_FAIL_AT_60M, ESCROW_INFO: "1x800", EXISTS % "escrow_usdc": "1x244", PST: "0x800"},
        "150m",
        [Fired("high", STALE_LABELS, "1h 30m 0s")],
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "exporter (re)started at 40m, reads failing from 50m (series younger than 30m) fires",
        {
            TS: "_x160 2400+15x40 3000x4",
            ESCROW_INFO: "_x160 1x500",
            EXISTS % "escrow_usdc": "_x160 1x44",
            PST: "_x160 2400x500",
        },
        "70m",
        [Fired("high", STALE_LABELS, "20m 0s")],
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        f"last read exactly {STALE_S}s ago is quiet",
        {TS: f"-{STALE_S}+15x200", ESCROW_INFO: "1x200", EXISTS % "escrow_usdc": "1x200", PST: "-3600x200"},
        "30m",
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "never read since the exporter started 20m ago fires",
        {ESCROW_INFO: "1x100", PST: "0x100"},
        "20m",
        [Fired("high", STALE_LABELS, "20m 0s")],
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "a closed account (exists 0, balance dropped) is quiet",
        {TS: "0+15x40", EXISTS % "escrow_usdc": "1x40 0x200", ESCROW_INFO: "1x240", PST: "0x240"},
        "40m",
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "an exporter restarted under a new instance leaves no stale balance behind",
        {
            TS: "0+15x120",
            ESCROW_INFO: "1x120",
            PST: "0x120",
            f'escrow_account_balance_updated_timestamp_seconds{{{J2},account="escrow_usdc"}}': "_x120 1800+15x240",
            f'escrow_account_info{{{J2},account="escrow_usdc",role="escrow",kind="token",address="Addr3"}}': "_x120 1x240",
            f"process_start_time_seconds{{{J2}}}": "_x120 1800x240",
        },
        "60m",
        interval="15s",
    ),
    *held(
        "EscrowAccountMissing",
        f'escrow_account_exists{{{J},account="escrow_pyusd"}}',
        5,
        "high",
        {**JL, "account": "escrow_pyusd"},
    ),
    Case(
        "EscrowWalletBelowFloor",
        "treasury 0.5 SOL and treasury 99.5 USDC fire; escrow role ignored",
        {
            BAL % ("treasury_sol", "SOL"): f"{under(SOL_FLOOR)}x20",
            INFO % ("treasury_sol", "treasury", "sol", "1"): "1x20",
            BAL % ("treasury_usdc", USDC): f"{under(USDC_FLOOR)}x20",
            INFO % ("treasury_usdc", "treasury", "token", "2"): "1x20",
            BAL % ("escrow_usdc", USDC): "0x20",
            INFO % ("escrow_usdc", "escrow", "token", "3"): "1x20",
        },
        "12m",
        [
            Fired("high", {**SOL_WALLET, "floor": SOL_FLOOR}, under(SOL_FLOOR)),
            Fired("high", {**USDC_WALLET, "floor": USDC_FLOOR}, under(USDC_FLOOR)),
        ],
    ),
    # Drained to 0 and closed at 10m: the exporter drops the balance series and sets exists=0.
    Case(
        "EscrowWalletBelowFloor",
        "a treasury SOL wallet and a treasury token account drained and closed fire at 0",
        {
            BAL % ("treasury_sol", "SOL"): "5x9",
            INFO % ("treasury_sol", "treasury", "sol", "1"): "1x60",
            EXISTS % "treasury_sol": "1x9 0x50",
            BAL % ("treasury_usdc", USDC): "500x9",
            INFO % ("treasury_usdc", "treasury", "token", "2"): "1x60",
            EXISTS % "treasury_usdc": "1x9 0x50",
        },
        "30m",
        [
            Fired("high", {**SOL_WALLET, "floor": SOL_FLOOR}, "0"),
            Fired("high", {**USDC_WALLET, "floor": USDC_FLOOR}, "0"),
        ],
    ),
    Case(
        "EscrowWalletBelowFloor",
        "exactly at the floors is quiet",
        {
            BAL % ("treasury_sol", "SOL"): f"{SOL_FLOOR}x20",
            INFO % ("treasury_sol", "treasury", "sol", "1"): "1x20",
            BAL % ("treasury_usdc", USDC): f"{USDC_FLOOR}x20",
            INFO % ("treasury_usdc", "treasury", "token", "2"): "1x20",
        },
        "12m",
    ),
    # Ordinary days that used to page (issue 13). Each case fails on the rules it replaced.
    Case(
        "EscrowWalletBelowFloor",
        "a treasury holding a token without a configured floor is quiet",
        {
            BAL % ("treasury_gov", HV_TOKEN): "0.5x20",
            INFO % ("treasury_gov", "treasury", "token", "5"): "1x20",
        },
        "12m",
    ),
    Case(
        "EscrowWalletBelowFloor",
        "a treasury holding less of a token than its account floor fires",
        {
            BAL % ("treasury_hv", HV_TOKEN): f"{under(HV_FLOOR)}x20",
            INFO % ("treasury_hv", "treasury", "token", "4"): "1x20",
        },
        "12m",
        [Fired("high", {**HV_WALLET, "floor": HV_FLOOR}, under(HV_FLOOR))],
    ),
    Case(
        "EscrowWalletBelowFloor",
        "a fee wallet emptied by a planned sweep is quiet",
        {BAL % ("fee_usdc", USDC): "0x20", INFO % ("fee_usdc", "fee", "token", "2"): "1x20"},
        "12m",
    ),
]
