"""Every bench runs in ``make test`` on a tiny input (``bench.run.collect(smoke=True)``), so a bench
that breaks fails CI instead of going unnoticed until the next ``make bench``.

No timing is asserted: these check that each bench ran to the end and produced its figures with
sane shapes (the expected keys, positive counts and durations, rows the results table can print),
and that a smoke run never overwrites bench/results.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench import ingest, rss
from bench.balances import MISSING_EVERY, SMOKE_ACCOUNTS
from bench.report import JSON_PATH, MD_PATH, Row, markdown
from bench.run import SMOKE_SERIES, collect


@pytest.fixture(autouse=True)
def results_untouched() -> Iterator[None]:
    before = [p.read_bytes() if p.exists() else None for p in (MD_PATH, JSON_PATH)]
    yield
    assert [p.read_bytes() if p.exists() else None for p in (MD_PATH, JSON_PATH)] == before


def _smoke(name: str) -> tuple[list[Row], dict[str, Any]]:
    rows, raw, skipped = collect([name], smoke=True)
    assert skipped == {}, f"bench {name} did not run: {skipped}"
    assert rows, f"bench {name} produced no rows"
    for r in rows:
        assert r.figure and r.unit and r.better in ("higher", "lower"), r
        assert r.ours is None or isinstance(r.ours, (int, float)), r
    assert "| bench | figure |" in markdown(rows, skipped, 1.0)
    return rows, raw[name]


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def test_decode_bench_smoke() -> None:
    rows, raw = _smoke("decode")
    assert raw["decode"], "no IDL was benched"
    for idl, r in raw["decode"].items():
        assert r["event_types"] > 0, idl
        for key in ("log_events_per_s", "cpi_events_per_s", "bytes_events_per_s"):
            assert _positive(r[key]), (idl, key, r)
        if "baseline_log_events_per_s" in r:  # solana-anchor-events installed (make bench does)
            assert _positive(r["baseline_log_events_per_s"]) and _positive(r["ratio_vs_baseline"])
    figures = {r.figure for r in rows}
    for idl in raw["decode"]:
        assert {f"log events/s, {idl}", f"emit_cpi! events/s, {idl}"} <= figures
    anchorpy = [r for r in rows if "anchorpy" in r.figure]
    assert len(anchorpy) == 1 and anchorpy[0].baseline is None and "smoke" in anchorpy[0].note


def test_ingest_bench_smoke_meters_per_call() -> None:
    rows, raw = _smoke("ingest")
    assert raw["setup"]["metering"] == "per_call"
    for side in ("batched", "naive"):
        r = raw[side]
        assert r["transactions"] == ingest.SMOKE.transactions, side
        # billed per call: every transaction costs at least its own getTransaction call
        assert r["rpc_calls"] >= r["transactions"] and r["rpc_calls_per_transaction"] >= 1, r
        assert _positive(r["rpc_requests"]) and _positive(r["wall_seconds"]), r
        steps = raw["sweep"][side]["steps"]
        assert steps and all(_positive(s["offered_tps"]) for s in steps), steps
    assert raw["batched"]["rpc_requests"] < raw["naive"]["rpc_requests"]  # batches: fewer round trips
    by_figure = {r.figure: r for r in rows}
    billed = by_figure["billed RPC calls per ingested transaction"]
    assert _positive(billed.ours) and _positive(billed.baseline)
    assert "bills N" in billed.note  # the row says how the provider meters a batch
    sweep_row = by_figure["highest rate with bounded ingest lag, per-call metering"]
    assert "per call" in sweep_row.note
    assert any("not what providers bill" in f for f in by_figure)  # the batch-as-one figure, labelled


def test_balances_bench_smoke() -> None:
    rows, raw = _smoke("balances")
    assert raw["accounts"] == SMOKE_ACCOUNTS and raw["missing_accounts"] > 0
    assert _positive(raw["balances_read"])
    assert 0 < raw["ours_rpc_calls_per_cycle"] < raw["baseline_rpc_calls_per_cycle"]
    assert _positive(raw["ours_seconds_per_cycle"]) and _positive(raw["baseline_seconds_per_cycle"])
    assert len(rows) == 3


def test_scrape_bench_smoke() -> None:
    rows, raw = _smoke("scrape")
    (r,) = raw["sizes"]
    assert r["series"] == SMOKE_SERIES
    for key in (
        "body_bytes",
        "ours_http_seconds",
        "ours_http_gzip_seconds",
        "baseline_http_seconds",
        "baseline_generate_latest_seconds",
        "peak_rss_mib",
        "on_loop_http_seconds",
        "ours_vs_generate_latest",
        "on_loop_vs_generate_latest",
    ):
        assert _positive(r[key]), (key, r[key])
    for side in ("ours", "on_loop"):  # /-/healthy answered while /metrics was scraped back to back
        healthy = r[f"{side}_healthy_during_scrapes"]
        assert healthy["requests"] >= 1 and healthy["scrapes"] >= 1 and _positive(healthy["p99"]), healthy
    by_figure = {row.figure: row for row in rows}
    assert {"/metrics latency, 1k series", "peak RSS, 1k series"} <= set(by_figure)
    vs_render = by_figure["/metrics latency vs in-process render, 1k series"]
    assert vs_render.ratio == pytest.approx(r["ours_vs_generate_latest"])
    on_loop = by_figure["/metrics latency rendered on the loop at scrape, 1k series"]
    assert on_loop.ratio == pytest.approx(r["on_loop_vs_generate_latest"])
    healthy_row = by_figure["/-/healthy p99 during back-to-back scrapes, 1k series"]
    assert healthy_row.ours == r["ours_healthy_during_scrapes"]["p99"]
    assert healthy_row.baseline == r["on_loop_healthy_during_scrapes"]["p99"]


def test_rss_bench_smoke() -> None:
    rows, raw = _smoke("rss")
    assert (raw["accounts"], raw["series"]) == (rss.SMOKE_ACCOUNTS, rss.SMOKE_SERIES)
    # every existing account served a balance (every tenth configured one does not exist)
    assert raw["balances_served"] == rss.SMOKE_ACCOUNTS - rss.SMOKE_ACCOUNTS // MISSING_EVERY
    assert _positive(raw["peak_rss_mib"])
    (row,) = rows
    assert (
        row.figure == "exporter peak RSS, 100 accounts + 1,000 SQL series" and row.ours == raw["peak_rss_mib"]
    )


def test_soak_bench_smoke() -> None:
    rows, raw = _smoke("soak")
    assert raw["samples"] >= 3 and len(raw["rss_kib"]) == raw["samples"]
    assert all(_positive(v) for v in raw["rss_kib"] + raw["open_fds"])
    assert raw["scrapes"] >= 1 and raw["scrape_errors"] == 0
    assert isinstance(raw["rss_growth"], float) and isinstance(raw["fd_growth"], float)
    # the fixed-size structures say how full they are: growth while one fills is not a leak
    buckets = {k: v for k, v in raw["bounded"].items() if k.endswith("/block_time_buckets")}
    assert buckets, raw["bounded"]
    for fill in raw["bounded"].values():
        held, room = (int(x) for x in fill.split("/"))
        assert 0 <= held <= room and room > 0, raw["bounded"]
    assert {r.figure.split(",")[0] for r in rows} == {
        "RSS growth after warm-up",
        "open fd growth after warm-up",
    }


def test_merge_replaces_the_rerun_benches_rows_and_keeps_the_others() -> None:
    """``bench.run --only X --merge``: X's rows and raw numbers are the new ones, every other
    bench's come from the previous results.json, in the usual bench order."""
    from dataclasses import asdict

    from bench.run import merged

    def row(bench: str, figure: str, ours: float) -> Row:
        return Row(bench, figure, "s", ours, None, "none", "lower")

    previous = {
        "rows": [
            {**asdict(r), "ratio": None}
            for r in (row("decode", "d", 1), row("sources", "old", 2), row("soak", "s", 3))
        ],
        "raw": {"decode": {"x": 1}, "sources": {"old": True}, "soak": {"passed": False}},
        "skipped": {"rss": "not there yet"},
    }
    rows, raw, skipped = merged(
        ["sources"], [row("sources", "new", 9)], {"sources": {"new": True}}, {}, previous
    )
    assert [(r.bench, r.figure, r.ours) for r in rows] == [
        ("decode", "d", 1),
        ("sources", "new", 9),
        ("soak", "s", 3),
    ]
    assert raw == {"decode": {"x": 1}, "sources": {"new": True}, "soak": {"passed": False}}
    assert skipped == {"rss": "not there yet"}
