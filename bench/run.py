"""``make bench``: every benchmark in one run, each beside its baseline; writes bench/results.{md,json}.

Benches: decode (``bench.decode``), ingestion (``bench.ingest``, when present), ingestion
sources poll vs logs (``bench.sources``), balances (``bench.balances``), scrape (``bench.scrape``), exporter RSS at 10k accounts + 100k series
(``bench.rss``) and a short soak (``bench.soak``; the full 60-minute one, with its no-page
check, is ``make soak``). A bench that fails or cannot run is listed under "Skipped"
with its reason; the others still produce their rows.

``bench.ingest.run()`` may return ``{"rows": [{"figure", "unit", "ours", "baseline",
"baseline_name", "better", "note"}...], ...raw}`` to put its own rows in the table.

    python -m bench.run                      # everything (about 5 minutes on 2 cores)
    python -m bench.run --only balances,scrape
    python -m bench.run --soak-minutes 1
    python -m bench.run --smoke              # every bench on a tiny input; prints, writes nothing
    python -m bench.run --only sources --merge  # rerun one bench, keep the others' rows from results.json

``--smoke`` (``collect(smoke=True)``) is what tests/test_bench_smoke.py runs in ``make test``, so a
bench that breaks fails CI: each bench module's ``run(smoke=True)`` takes a tiny input.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import JSON_PATH, Row, markdown, write

Rows = list[Row]


def chosen_rows(bench: str, rows: list[dict[str, Any]], baseline_name: str = "") -> Rows:
    """Rows a bench module chose itself (``{"figure", "unit", "ours", "baseline", ...}`` dicts)."""
    return [
        Row(
            bench,
            str(r["figure"]),
            str(r.get("unit", "")),
            r.get("ours"),
            r.get("baseline"),
            str(r.get("baseline_name", baseline_name)),
            str(r.get("better", "")),
            str(r.get("note", "")),
        )
        for r in rows
    ]


def decode_rows(raw: dict[str, Any]) -> Rows:
    rows = []
    for idl, r in raw["decode"].items():
        base = r.get("baseline_log_events_per_s")
        corpus = f"{r.get('transactions', '?')} seeded transactions of {r['event_types']} event types, one core, CPU time"
        cmp = r.get("comparison")
        spread = (
            f"best of {r.get('rounds', '?')} rounds alternating ours and the baseline; ratio per round: "
            f"median {cmp['ratio_median_of_rounds']:.2f}x, range {cmp['ratio_range_of_rounds'][0]:.2f}"
            f"-{cmp['ratio_range_of_rounds'][1]:.2f}x"
            + (" (NOISY: rerun on a quieter machine)" if cmp["noisy"] else "")
            if cmp
            else f"best of {r.get('rounds', '?')} rounds"
        )
        rows.append(
            Row(
                "decode",
                f"log events/s, {idl}",
                "events/s",
                r["log_events_per_s"],
                base,
                "solana-anchor-events (Rust, PyPI)",
                "higher",
                f"{corpus}, {spread}; ours from the transaction (log lines, base64, invoke stack), the "
                "baseline parses the same log lines through its Python binding"
                if base is not None
                else f"{corpus}, {spread}; baseline not installed or cannot read this IDL (legacy format)",
            )
        )
        rows.append(
            Row(
                "decode",
                f"emit_cpi! events/s, {idl}",
                "events/s",
                r["cpi_events_per_s"],
                None,
                "none: the baselines read log lines only",
                "higher",
                f"{corpus}, best of {r.get('repeats', '?')} runs; events in inner instructions (base58 data), "
                "as emit_cpi! leaves them",
            )
        )
    rows += chosen_rows("decode", raw.get("rows", []))
    return rows


def ingest_rows(raw: dict[str, Any]) -> Rows:
    if "rows" in raw:  # the ingestion bench chose its own rows
        return chosen_rows("ingestion", raw["rows"], "naive one-getTransaction-per-signature")
    ours, naive, setup = raw.get("batched", {}), raw.get("naive", {}), raw.get("setup", {})
    base = "naive: one getTransaction per signature, one commit per transaction"
    where = f"{setup.get('transactions', '?')} transactions, {setup.get('slow_ms', '?')} ms RPC latency, "
    where += f"{setup.get('rate_limit_rps', '?')} req/s limit"
    figures = [
        ("rpc_requests_per_transaction", "RPC requests per ingested transaction", "requests"),
        ("cpu_seconds_per_1000_transactions", "CPU seconds per 1,000 transactions", "s"),
        ("wall_seconds", "wall seconds to ingest the history", "s"),
    ]
    rows = [
        Row("ingestion", figure, unit, ours.get(key), naive.get(key), base, "lower", "" if i else where)
        for i, (key, figure, unit) in enumerate(f for f in figures if f[0] in ours)
    ]
    for key, value in raw.items():  # e.g. a highest-bounded-rate figure, when the bench adds one
        if isinstance(value, (int, float)) and not key.endswith("_over_batched"):
            rows.append(Row("ingestion", key.replace("_", " "), "", value, None, "", "", ""))
    return rows


def balances_rows(raw: dict[str, Any]) -> Rows:
    base = "one getBalance/getAccountInfo per account (+ its mint)"
    n = f"{raw['accounts']:,} accounts"
    return [
        Row(
            "balances",
            f"RPC calls per cycle, {n}",
            "calls",
            raw["ours_rpc_calls_per_cycle"],
            raw["baseline_rpc_calls_per_cycle"],
            base,
            "lower",
            f"{raw['missing_accounts']:,} of the accounts do not exist; both report them missing. A "
            "getMultipleAccounts of up to 100 accounts counts as one call, as providers meter by method "
            "call; a plan that bills per account returned would count every account for both",
        ),
        Row(
            "balances",
            f"seconds per cycle, {n} (local simulator)",
            "s",
            raw["ours_seconds_per_cycle"],
            raw["baseline_seconds_per_cycle"],
            base,
            "lower",
            "loopback, no rate limit: a remote provider adds its round trip to every call (ours "
            f"{raw['ours_rpc_calls_per_cycle']:,} calls a cycle, the baseline {raw['baseline_rpc_calls_per_cycle']:,})",
        ),
        Row(
            "balances",
            f"seconds per cycle at {raw['provider_rps']:g} req/s provider limit",
            "s",
            raw["ours_seconds_at_provider_limit"],
            raw["baseline_seconds_at_provider_limit"],
            base,
            "lower",
            "calls / limit: the floor a rate-limited provider imposes",
        ),
    ]


def scrape_rows(raw: dict[str, Any]) -> Rows:
    rows = []
    for r in raw["sizes"]:
        n = f"{r['series'] // 1000}k series"
        rows += [
            Row(
                "scrape",
                f"/metrics latency, {n}",
                "s",
                r["ours_http_seconds"],
                r["baseline_http_seconds"],
                "prometheus_client start_http_server (generate_latest)",
                "lower",
                f"loopback, one client, {r['body_bytes'] / 2**20:.1f} MiB of text; ours serves bytes rendered "
                f"once per collector change ({r['ours_render_seconds']:.2f} s in a worker thread, not in the "
                "scrape), the baseline renders at each scrape",
            ),
            Row(
                "scrape",
                f"/metrics latency gzip, {n}",
                "s",
                r["ours_http_gzip_seconds"],
                r["baseline_http_gzip_seconds"],
                "prometheus_client start_http_server (generate_latest)",
                "lower",
            ),
            Row(
                "scrape",
                f"/metrics latency vs in-process render, {n}",
                "s",
                r["ours_http_seconds"],
                r["baseline_generate_latest_seconds"],
                "generate_latest() in-process, no HTTP",
                "lower",
                f"goal <= 0.2x; ratio from the bench: {r['ours_vs_generate_latest']:.2f}x",
            ),
            Row(
                "scrape",
                f"/metrics latency rendered on the loop at scrape, {n}",
                "s",
                r["on_loop_http_seconds"],
                r["baseline_generate_latest_seconds"],
                "generate_latest() in-process, no HTTP",
                "lower",
                "the exporter before snapshots (Scheduler(bridge=True)): what the snapshot saves",
            ),
            Row(
                "scrape",
                f"/-/healthy p99 during back-to-back scrapes, {n}",
                "s",
                r["ours_healthy_during_scrapes"]["p99"],
                r["on_loop_healthy_during_scrapes"]["p99"],
                "the same exporter rendering on the loop at each scrape (before snapshots)",
                "lower",
                f"goal <= 0.050 s; {r['ours_healthy_during_scrapes']['requests']:.0f} health checks "
                f"beside {r['ours_healthy_during_scrapes']['scrapes']:.0f} gzip scrapes",
            ),
            Row(
                "scrape",
                f"peak RSS, {n}",
                "MiB",
                r["peak_rss_mib"],
                r.get("on_loop_peak_rss_mib"),
                "the same exporter rendering on the loop at each scrape (before snapshots)",
                "lower",
                "the exporter child process (VmHWM): the SQL rows, its snapshot and the cached bytes",
            ),
        ]
    return rows


def rss_rows(raw: dict[str, Any]) -> Rows:
    return [
        Row(
            "rss",
            f"exporter peak RSS, {raw['accounts']:,} accounts + {raw['series']:,} SQL series",
            "MiB",
            raw["peak_rss_mib"],
            None,
            "none",
            "lower",
            "VmHWM of the escrow-exporter process after both collectors ran and two scrapes (text, gzip)",
        )
    ]


def soak_rows(raw: dict[str, Any]) -> Rows:
    m = f"{raw['minutes']:g} min"
    verdict = "passed" if raw["passed"] else "FAILED"
    note = f"{verdict}; full soak: make soak (60 min, no-page check); limit 5% growth after warm-up (open fds: or at most 2 more)"
    return [
        Row(
            "soak",
            f"RSS growth after warm-up, {m}",
            "ratio",
            raw["rss_growth"],
            None,
            "limit 0.05",
            "lower",
            note,
        ),
        Row(
            "soak",
            f"open fd growth after warm-up, {m}",
            "ratio",
            raw["fd_growth"],
            None,
            "limit 0.05",
            "lower",
        ),
    ]


def _soak(minutes: float, smoke: bool) -> dict[str, Any]:
    from bench.soak import soak

    if smoke:
        return soak(SMOKE_SOAK_MINUTES, sample_seconds=1.0, tps=5.0)
    return soak(minutes, sample_seconds=5.0, tps=5.0)


#: The smoke soak: long enough for a few RSS samples and one scrape, far too short to judge growth.
SMOKE_SOAK_MINUTES = 0.1
#: The smoke scrape: one small size, two scrapes per variant.
SMOKE_SERIES = 1_000
ROOT = Path(__file__).resolve().parent.parent


def _scrape_smoke() -> dict[str, Any]:
    """``bench.scrape.run()`` on one tiny size: the same command line, in a fresh interpreter."""
    cmd = [
        sys.executable,
        "-m",
        "bench.scrape",
        "--series",
        str(SMOKE_SERIES),
        "--repeats",
        "2",
        "--window",
        "1",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"scrape bench at {SMOKE_SERIES} series failed:\n{proc.stderr[-2000:]}")
    return {"sizes": [json.loads(proc.stdout)]}


BENCHES = ("decode", "ingest", "sources", "balances", "scrape", "rss", "soak")
#: The ``bench`` column of each bench's rows, where it is not the bench's name.
ROW_LABEL = {"ingest": "ingestion"}
#: Not in ``--smoke`` (make test): ~15 s of simulators and live ingestion, more than a smoke may
#: cost; tests/test_bench_sources.py runs its smoke as a drill.
NOT_IN_SMOKE = ("sources",)


def sources_rows(raw: dict[str, Any]) -> Rows:
    return chosen_rows("sources", raw["rows"])


def merged(
    wanted: list[str], rows: Rows, raw: dict[str, Any], skipped: dict[str, str], previous: dict[str, Any]
) -> tuple[Rows, dict[str, Any], dict[str, str]]:
    """``rows``/``raw``/``skipped`` of the ``wanted`` benches, the other benches' from ``previous``
    (a results.json document), in ``BENCHES`` order."""
    old = [Row(**{k: v for k, v in r.items() if k != "ratio"}) for r in previous.get("rows", [])]
    out: Rows = []
    for name in BENCHES:
        label = ROW_LABEL.get(name, name)
        out += [r for r in (rows if name in wanted else old) if r.bench == label]
    keep_raw = {k: v for k, v in previous.get("raw", {}).items() if k not in wanted}
    keep_skipped = {k: v for k, v in previous.get("skipped", {}).items() if k not in wanted}
    return out, {**keep_raw, **raw}, {**keep_skipped, **skipped}


def partial_reruns(previous: dict[str, Any], wanted: list[str], seconds: float) -> list[dict[str, Any]]:
    """The partial runs whose rows results.json holds: earlier ones keep the benches this run did
    not redo (so a second ``--merge`` does not hide the first), then this run."""
    out = []
    for r in previous.get("reruns", []):
        benches = [b for b in r["benches"] if b not in wanted]
        if benches:
            out.append({**r, "benches": benches})
    out.append({"benches": list(wanted), "seconds": round(seconds), "date": time.strftime("%Y-%m-%d")})
    return out


def _module_run(name: str, smoke: bool) -> Callable[[], dict[str, Any]]:
    def call() -> dict[str, Any]:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"bench.{name}":
                raise LookupError(f"bench/{name}.py is not there yet") from None
            raise
        result: dict[str, Any] = module.run(smoke=True) if smoke else module.run()
        return result

    return call


def collect(
    wanted: list[str], *, smoke: bool = False, soak_minutes: float = 2.0
) -> tuple[Rows, dict[str, Any], dict[str, str]]:
    """Run the ``wanted`` benches: (rows, raw results by bench, skipped bench -> why)."""
    benches: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], Rows]]] = {
        "decode": (_module_run("decode", smoke), decode_rows),
        "ingest": (_module_run("ingest", smoke), ingest_rows),
        "sources": (_module_run("sources", smoke), sources_rows),
        "balances": (_module_run("balances", smoke), balances_rows),
        "scrape": (_scrape_smoke if smoke else _module_run("scrape", False), scrape_rows),
        "rss": (_module_run("rss", smoke), rss_rows),
        "soak": (lambda: _soak(soak_minutes, smoke), soak_rows),
    }
    rows: Rows = []
    raw: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in wanted:
        bench, to_rows = benches[name]
        t0 = time.monotonic()
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        try:
            raw[name] = bench()
            rows += to_rows(raw[name])
        except LookupError as e:
            skipped[name] = str(e)
        except Exception as e:  # one broken bench must not lose the others' figures
            traceback.print_exc()
            skipped[name] = f"failed: {type(e).__name__}: {e}".splitlines()[0]
        print(f"bench {name}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return rows, raw, skipped


def main() -> int:
    p = argparse.ArgumentParser(description="run every bench and write bench/results.md and results.json")
    p.add_argument("--only", default="", help="comma-separated subset: " + ",".join(BENCHES))
    p.add_argument("--soak-minutes", type=float, default=2.0, help="length of the short soak (default 2)")
    p.add_argument("--smoke", action="store_true", help="tiny inputs; print the table, write no results")
    p.add_argument(
        "--merge",
        action="store_true",
        help="with --only: keep the other benches' rows and raw numbers from bench/results.json",
    )
    args = p.parse_args()
    wanted = [b for b in args.only.split(",") if b] or [
        b for b in BENCHES if not (args.smoke and b in NOT_IN_SMOKE)
    ]
    unknown = set(wanted) - set(BENCHES)
    if unknown:
        p.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
    if args.merge and (args.smoke or not args.only):
        p.error("--merge needs --only and no --smoke")
    started = time.monotonic()
    rows, raw, skipped = collect(wanted, smoke=args.smoke, soak_minutes=args.soak_minutes)
    seconds = time.monotonic() - started
    # judged on the benches run now, not on rows --merge keeps from an earlier run
    failed = any(v.startswith("failed") for v in skipped.values())
    soak_failed = not args.smoke and raw.get("soak", {}).get("passed") is False
    if args.smoke:  # tiny inputs: the figures mean nothing, so they never replace the real ones
        print("SMOKE RUN: tiny inputs, the figures below mean nothing; nothing was written.\n")
        print(markdown(rows, skipped, seconds))
    elif args.merge:
        previous = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {}
        rows, raw, skipped = merged(wanted, rows, raw, skipped, previous)
        reruns = partial_reruns(previous, wanted, seconds)
        merge_note = (
            "; ".join(
                f"`--only {','.join(r['benches'])} --merge` rows from a run of {r['seconds']} s on {r['date']}"
                for r in reruns
            )
            + f"; the others kept from the last full run ({previous.get('seconds', '?')} s)"
        )
        write(rows, raw, skipped, float(previous.get("seconds", seconds)), merge_note, reruns)
        print(f"wrote bench/results.md and bench/results.json ({len(rows)} rows)", file=sys.stderr)
    # a smoke soak is too short to judge growth: it only shows the soak runs
    return 1 if failed or soak_failed else 0


if __name__ == "__main__":
    sys.exit(main())
