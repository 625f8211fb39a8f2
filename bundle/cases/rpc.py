"""Cases for the ``rpc`` rule group: the Solana RPC endpoints the exporter reads (up, lagging,
failing over, slow, erroring)."""

from __future__ import annotations

from bundle.cases.common import Case, Fired, held, percent
from bundle.cases.series import JL, J
from bundle.config import PARAMS
from exporter.rpc.metrics import _LATENCY_BUCKETS

RPC_BUCKETS = [str(b) for b in _LATENCY_BUCKETS]
SLOT_LAG = int(PARAMS["rpc_slot_lag"])
FAILOVERS_MAX = int(PARAMS["failovers_per_30m"])
RPC_P95 = float(PARAMS["rpc_latency_p95_seconds"])
RPC_ERR = round(float(PARAMS["rpc_error_ratio"]) * 100)
FAILOVERS = f"escrow_rpc_failovers_total{{{J}}}"
RPC_LAT = f'escrow_rpc_request_duration_seconds_bucket{{{J},endpoint="a",method="getSlot",le="%s"}}'
RPC_REQ = f'escrow_rpc_requests_total{{{J},endpoint="a",method="getSlot",outcome="%s"}}'
# EscrowRpcLatencyHigh: the latency bucket edges around the p95 threshold, and the fastest one.
_NEXT_EDGE = min(b for b in (float(x) for x in RPC_BUCKETS) if b > RPC_P95)
_PREV_EDGE = max([0.0, *(b for b in (float(x) for x in RPC_BUCKETS) if b < RPC_P95)])
_FAST_EDGE = min(float(x) for x in RPC_BUCKETS)


def failovers(n: int) -> str:
    """10 failovers long ago, then ``n`` more 1 minute apart (15 s scrapes), then none."""
    steps = " ".join(f"{10 + i}x4" for i in range(1, n))
    return f"10x240 {steps} {10 + n}x200".replace("  ", " ")


def rpc_latency(seconds_bucket: float) -> dict[str, str]:
    """60 requests a minute, all in the bucket whose upper edge is ``seconds_bucket``."""
    out = {}
    for le in [*RPC_BUCKETS, "+Inf"]:
        counted = le == "+Inf" or float(le) >= seconds_bucket
        out[RPC_LAT % le] = "0+60x40" if counted else "0x40"
    return out


def rpc_latency_outage() -> dict[str, str]:
    """60 requests a minute: slow (just above the threshold) until 20m, then fast (at or under
    the bucket below it)."""
    out = {}
    for le in [*RPC_BUCKETS, "+Inf"]:
        edge = float("inf") if le == "+Inf" else float(le)
        values = []
        for t in range(41):
            slow, fast = 60 * min(t, 20), 60 * max(0, t - 20)
            values.append(str((slow if edge >= _NEXT_EDGE else 0) + (fast if edge >= _FAST_EDGE else 0)))
        out[RPC_LAT % le] = " ".join(values)
    return out


RPC_CASES: list[Case] = [
    Case(
        "EscrowRpcOutage",
        "both endpoints down fires",
        {f'escrow_rpc_up{{{J},endpoint="a"}}': "1 0x10", f'escrow_rpc_up{{{J},endpoint="b"}}': "1 0x10"},
        "3m",
        [Fired("critical", JL, "0")],
    ),
    Case(
        "EscrowRpcOutage",
        "one of two endpoints up is quiet",
        {f'escrow_rpc_up{{{J},endpoint="a"}}': "1 0x10", f'escrow_rpc_up{{{J},endpoint="b"}}': "1x10"},
        "3m",
    ),
    *held(
        "EscrowRpcEndpointDown", f'escrow_rpc_up{{{J},endpoint="b"}}', 5, "medium", {**JL, "endpoint": "b"}
    ),
    Case(
        "EscrowRpcEndpointLagging",
        f"{SLOT_LAG + 1} slots behind fires",
        {
            f'escrow_rpc_slot{{{J},endpoint="a"}}': "10000x20",
            f'escrow_rpc_slot{{{J},endpoint="b"}}': f"{10000 - SLOT_LAG - 1}x20",
        },
        "7m",
        [Fired("low", {**JL, "endpoint": "b"}, str(SLOT_LAG + 1))],
    ),
    Case(
        "EscrowRpcEndpointLagging",
        f"{SLOT_LAG} slots behind is quiet",
        {
            f'escrow_rpc_slot{{{J},endpoint="a"}}': "10000x20",
            f'escrow_rpc_slot{{{J},endpoint="b"}}': f"{10000 - SLOT_LAG}x20",
        },
        "7m",
    ),
    # Scrapes every 15 s, evaluations every 10 s: not aligned, as in production, so increase()
    # extrapolates (exactly 4 failovers read as 4.03).
    Case(
        "EscrowRpcFailoverFlapping",
        f"{FAILOVERS_MAX + 1} failovers in 30m (unaligned scrapes) fires",
        {FAILOVERS: failovers(FAILOVERS_MAX + 1)},
        "70m10s",
        [Fired("medium", JL, str(FAILOVERS_MAX + 1))],
        interval="15s",
        evaluation_interval="10s",
    ),
    Case(
        "EscrowRpcFailoverFlapping",
        f"exactly {FAILOVERS_MAX} failovers in 30m (unaligned scrapes) is quiet",
        {FAILOVERS: failovers(FAILOVERS_MAX)},
        "70m10s",
        interval="15s",
        evaluation_interval="10s",
    ),
    Case(
        "EscrowRpcLatencyHigh",
        f"every request between {RPC_P95:g}s and {_NEXT_EDGE:g}s fires",
        rpc_latency(_NEXT_EDGE),
        "22m",
        [Fired("medium", {**JL, "endpoint": "a"}, f"{RPC_P95 + 0.95 * (_NEXT_EDGE - RPC_P95):.2f}")],
    ),
    Case(
        "EscrowRpcLatencyHigh",
        f"every request between {_PREV_EDGE:g}s and {RPC_P95:g}s is quiet",
        rpc_latency(RPC_P95),
        "22m",
    ),
    Case(
        "EscrowRpcErrorRatio",
        f"{RPC_ERR + 5}% of requests timing out fires",
        {RPC_REQ % "success": f"0+{95 - RPC_ERR}x40", RPC_REQ % "timeout": f"0+{RPC_ERR + 5}x40"},
        "22m",
        [Fired("medium", {**JL, "endpoint": "a"}, percent((RPC_ERR + 5) / 100))],
    ),
    # An outage: every request timing out from 0 to 20m, then all succeed again.
    Case(
        "EscrowRpcErrorRatio",
        "5 minutes after an outage's timeouts stopped is quiet",
        {RPC_REQ % "success": "0x20 0+100x20", RPC_REQ % "timeout": "0+100x20 2000x20"},
        "25m",
    ),
    Case(
        "EscrowRpcLatencyHigh",
        "5 minutes after an outage's slow timeouts stopped is quiet",
        rpc_latency_outage(),
        "25m",
    ),
    Case(
        "EscrowRpcErrorRatio",
        f"exactly {RPC_ERR}% of requests failing is quiet",
        {RPC_REQ % "success": f"0+{100 - RPC_ERR}x40", RPC_REQ % "error": f"0+{RPC_ERR}x40"},
        "22m",
    ),
]
