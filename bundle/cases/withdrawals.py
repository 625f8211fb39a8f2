"""Cases for the withdrawal alerts of the ``treasury`` rule group: EscrowWithdrawalSpike and
EscrowWithdrawalAmountSpike, on 8 days of history, without it, and on the ordinary days (a
restart, an ingestion stall and its catch-up, a first deployment's backfill) that used to page."""

from __future__ import annotations

from bundle.cases.common import Case, Fired, promtool_values
from bundle.cases.series import LAG, PROG, PST, USDC, WD, WD_BT, WITHDRAWAL, J
from bundle.config import PARAMS

# EscrowWithdrawalSpike from the site's factor and floor, in withdrawals per 10 minutes (the
# cases' scrape interval; x6 per hour). At the defaults (3x, 20/h): a 30/h baseline, 120/h fires,
# 90/h (exactly 3x) is quiet, 300/h without 7-day history fires, 18/h is under the floor.
SPIKE_FACTOR = float(PARAMS["withdrawal_spike_factor"])
SPIKE_FLOOR = float(PARAMS["withdrawal_spike_floor"])
_BASE = max(5, int(SPIKE_FLOOR // (6 * SPIKE_FACTOR)) + 1)  # baseline x factor above the floor
_AT_FACTOR = int(SPIKE_FACTOR * _BASE)  # at most factor x baseline: quiet
_OVER = _AT_FACTOR + _BASE  # above factor x baseline
_NO_HISTORY = _BASE * int(2 * SPIKE_FACTOR + 4)  # far above the 6-hour average
_UNDER_FLOOR = int((SPIKE_FLOOR - 1) // 6)
# EscrowWithdrawalAmountSpike: 100 USDC per 10 minutes as the baseline, then as far above it as
# _NO_HISTORY is; withdrawals frequent enough to pass the floor throughout.
_AMOUNT_SPIKE = 100 * int(2 * SPIKE_FACTOR + 4)  # USDC per 10 minutes
_AMOUNT_COUNT = max(10, int(SPIKE_FLOOR // 6) + 1)  # withdrawals per 10 minutes, above the floor


# The withdrawal alerts read the exporter's block-time window (escrow_events_block_time_window,
# window="1h"): what happened on chain in the trailing hour among what was ingested by then. The
# cases describe withdrawals by the sample they happened in and the sample they were ingested in,
# and derive from that both the window and the ingestion-time counter the exporter serves.
WD_AMOUNT_BT = (
    f'escrow_event_amount_block_time_window{{{J},program="paid_match",event="{WITHDRAWAL}",'
    f'field="amount",mint="{USDC}",window="1h"}}'
)
WD_AMOUNT = (
    f'escrow_event_amount_total{{{J},program="paid_match",event="{WITHDRAWAL}",field="amount",mint="{USDC}"}}'
)

# Ingestion caught up and the exporter up since 0, for the 8-day withdrawal cases (10m samples).
SETTLED = {LAG: "0x1200", PST: "0x1200"}


def on_chain(
    happened: dict[int, float],
    samples: int,
    per_hour: int,
    ingested_at: dict[int, int] | None = None,
    backfilled: tuple[float, int] = (0, 0),
    down: tuple[int, ...] = (),
) -> tuple[str, str]:
    """(ingestion-time counter, 1h block-time window) for withdrawals ``happened`` (sample ->
    count), each ingested at its own sample unless ``ingested_at`` says later; ``backfilled``:
    (count, sample) of withdrawals far older than the window, counted at that sample; the
    exporter is not scraped at ``down``."""
    late = ingested_at or {}
    added = [0.0] * (samples + 1)
    for j, n in happened.items():
        added[late.get(j, j)] += n
    added[backfilled[1]] += backfilled[0]
    counter: list[float | None] = []
    window: list[float | None] = []
    total = 0.0
    for i in range(samples + 1):
        total += added[i]
        seen = sum(n for j, n in happened.items() if i - per_hour < j <= i and late.get(j, j) <= i)
        counter.append(None if i in down else total)
        window.append(None if i in down else seen)
    return promtool_values(counter), promtool_values(window)


def withdrawals(per_hour: int = 6, **kwargs: object) -> dict[str, str]:
    counter, window = on_chain(per_hour=per_hour, **kwargs)  # type: ignore[arg-type]
    return {WD: counter, WD_BT: window}


def _spike_after_8_days(per_10m: int) -> dict[str, str]:
    happened = {j: float(_BASE if j <= 1152 else per_10m) for j in range(1, 1173)}
    return withdrawals(happened=happened, samples=1172)


def spike_case(
    title: str,
    series: dict[str, str],
    at: str,
    fires: list[Fired] | None = None,
    alert: str = "EscrowWithdrawalSpike",
) -> Case:
    return Case(alert, title, series, at, fires or [], interval="10m", evaluation_interval="10m")


_STALL = range(25, 43)  # 10m samples: a 3-hour stall, caught up in one cycle at its last sample
_STEADY = {j: 5.0 for j in range(1, 71)}  # 30 withdrawals/h on chain throughout
# A real spike right after a restart or a catch-up (1m samples): 7 hours at C a minute, then S a
# minute. S is chosen so the window passes factor x baseline within 5 minutes of the spike's
# start (the `for:`), whatever the site's factor; C keeps the hourly count above the floor.
_C = int(SPIKE_FLOOR // 60) + 1
_S = _C * (2 + int(15 * (SPIKE_FACTOR - 1)) + 1)
_RESTART = 420
_SPIKE = {j: float(_C if j <= _RESTART else _S) for j in range(1, _RESTART + 16)}
_SPIKE_AT = f"{_RESTART + 10}m"
_SPIKE_VALUE = str(50 * _C + 10 * _S)  # the window 10 minutes in: 50 minutes at C, 10 at S


def spike_after(restart: bool) -> dict[str, str]:
    """``_SPIKE`` on chain; the exporter restarted at ``_RESTART`` (one scrape missed, the minute's
    withdrawals ingested the next), or ingestion stalled for the 3 hours before and caught up then."""
    n = _RESTART + 15
    if restart:
        series = withdrawals(
            60, happened=_SPIKE, samples=n, ingested_at={_RESTART: _RESTART + 1}, down=(_RESTART,)
        )
        pst = promtool_values(
            [None if i == _RESTART else (0 if i < _RESTART else _RESTART * 60) for i in range(n + 1)]
        )
        lag = promtool_values([None if i == _RESTART else 0 for i in range(n + 1)])
    else:
        stalled = range(_RESTART - 180, _RESTART)
        series = withdrawals(60, happened=_SPIKE, samples=n, ingested_at=dict.fromkeys(stalled, _RESTART))
        pst = f"0x{n}"
        lag = promtool_values(
            [float(60 * (i - stalled.start + 1)) if i in stalled else 0.0 for i in range(n + 1)]
        )
    return {**series, PST: pst, LAG: lag}


WITHDRAWAL_CASES: list[Case] = [
    # Ingestion caught up and the exporter up throughout (SETTLED).
    Case(
        "EscrowWithdrawalSpike",
        f"{6 * _OVER}/h against a {6 * _BASE}/h baseline fires",
        {**_spike_after_8_days(_OVER), **SETTLED},
        "11590m",
        [Fired("critical", PROG, str(6 * _OVER))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        f"{6 * _AT_FACTOR}/h ({PARAMS['withdrawal_spike_factor']}x baseline) is quiet",
        {**_spike_after_8_days(_AT_FACTOR), **SETTLED},
        "11590m",
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        f"without 7-day history, {6 * _NO_HISTORY}/h after 5 hours at {6 * _BASE}/h fires",
        {
            **withdrawals(
                happened={j: float(_BASE if j <= 30 else _NO_HISTORY) for j in range(1, 43)}, samples=42
            ),
            **SETTLED,
        },
        "410m",
        [Fired("critical", PROG, str(6 * _NO_HISTORY))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        f"{6 * _UNDER_FLOOR}/h after a week of none is under the floor",
        {
            **withdrawals(happened={j: float(_UNDER_FLOOR) for j in range(1153, 1173)}, samples=1172),
            **SETTLED,
        },
        "11590m",
        interval="10m",
        evaluation_interval="10m",
    ),
    # Ordinary days that used to page (issue 13). Each case fails on the rules it replaced.
    # The demo: a steady 300 withdrawals/h, no 7-day history, exporter up for hours.
    spike_case(
        "a steady 300/h with no 7-day history is quiet",
        {**withdrawals(happened={j: 50.0 for j in range(1, 41)}, samples=40), LAG: "0x40", PST: "0x40"},
        "290m",
    ),
    # 30/h, ingestion stalled for 3h (lag grows), then the backlog is ingested at once: the
    # window under-counts during the stall and is exact again after the catch-up.
    spike_case(
        "the catch-up after a 3-hour ingestion stall is quiet",
        {
            **withdrawals(happened=_STEADY, samples=70, ingested_at=dict.fromkeys(_STALL, _STALL.stop - 1)),
            LAG: "0x24 600+600x17 0x28",
            PST: "0x70",
        },
        "470m",
    ),
    # The same stall where the exporter's lag could not see it (its RPC node's history stopped:
    # nothing was listed as pending, lag 0; EscrowRpcEndpointLagging's case). The old rules,
    # gated on the lag, paged on the catch-up.
    spike_case(
        "the catch-up after a 3-hour stall the lag could not see is quiet",
        {
            **withdrawals(happened=_STEADY, samples=70, ingested_at=dict.fromkeys(_STALL, _STALL.stop - 1)),
            LAG: "0x70",
            PST: "0x70",
        },
        "470m",
    ),
    # A first deployment backfills 1,000 historical withdrawals (days old) in its first cycle.
    spike_case(
        "a first deployment's backfill of 1,000 withdrawals is quiet",
        {
            **withdrawals(happened={j: 5.0 for j in range(1, 21)}, samples=20, backfilled=(1000, 1)),
            LAG: "0x20",
            PST: "0x20",
        },
        "40m",
    ),
    # The old rules silenced the first hour after any restart or catch-up: a blind spot.
    Case(
        "EscrowWithdrawalSpike",
        "a real spike 10 minutes after an exporter restart fires",
        spike_after(restart=True),
        _SPIKE_AT,
        [Fired("critical", PROG, _SPIKE_VALUE)],
    ),
    Case(
        "EscrowWithdrawalSpike",
        "a real spike 10 minutes after a 3-hour stall's catch-up fires",
        spike_after(restart=False),
        _SPIKE_AT,
        [Fired("critical", PROG, _SPIKE_VALUE)],
    ),
    # 600 USDC an hour for 5 hours (60 withdrawals/h, above the floor), then 10x (at the default
    # factor 3: 2 x factor + 4) as much: no 7-day history.
    spike_case(
        f"{6 * _AMOUNT_SPIKE:,} USDC/h after 5 hours at 600/h fires",
        {
            WD_AMOUNT: on_chain({j: 100.0 if j <= 30 else _AMOUNT_SPIKE for j in range(1, 43)}, 42, 6)[0],
            WD_AMOUNT_BT: on_chain({j: 100.0 if j <= 30 else _AMOUNT_SPIKE for j in range(1, 43)}, 42, 6)[1],
            **withdrawals(happened={j: float(_AMOUNT_COUNT) for j in range(1, 43)}, samples=42),
            **SETTLED,
        },
        "410m",
        [Fired("critical", {**PROG, "mint": USDC}, f"{6 * _AMOUNT_SPIKE:.2f}")],
        alert="EscrowWithdrawalAmountSpike",
    ),
    spike_case(
        "a steady 600 USDC/h is quiet",
        {
            WD_AMOUNT: "0+100x42",
            WD_AMOUNT_BT: on_chain({j: 100.0 for j in range(1, 43)}, 42, 6)[1],
            **withdrawals(happened={j: float(_AMOUNT_COUNT) for j in range(1, 43)}, samples=42),
            **SETTLED,
        },
        "410m",
        alert="EscrowWithdrawalAmountSpike",
    ),
]
