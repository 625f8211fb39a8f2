"""Decode throughput (events/s) per IDL on a fixed, seeded corpus of transactions.

For each fixture IDL (../shared/fixtures/idls) and the reference program (idls/paid_match.json),
builds transactions carrying random values of every event type (tests/support/anchor_encoder.py),
emitted with ``emit!`` (log lines) and, separately, with ``emit_cpi!`` (inner instructions),
and times ``EventDecoder.decode_transaction`` over them.  If the ``solana-anchor-events``
package (Rust, log form only) is installed, it is timed on the same log corpus as a baseline.

How ours and the baseline are compared (the bench runs on a shared, often loaded 2-core machine,
where a sequential "ours three times, then theirs three times" let a burst of load land on one
side only and moved a ratio from 0.93x to 0.50x between runs):

* both run in this one process, one thread, on the same corpus, each warmed up once first;
* a run's time is the CPU time of this thread (``time.thread_time``), not wall time: time spent
  waiting for a core while other processes run is not decode time (on this machine under a load
  average of 35, wall-clock bests of one function varied 2x where CPU-time bests agreed to 0.3%);
  what load still costs (caches, a shared core) the pairing and best-of below absorb;
* ``ROUNDS`` paired rounds: each round times ours and the baseline back to back, the order
  alternating between rounds, so a change in machine load reaches both sides alike;
* a garbage collection before every timed run (so one side never pays for the other's garbage),
  the collector left on during it (both sides build Python objects; so does the exporter);
* the figure per side is its best round (the least-disturbed run: load only ever adds time), and
  the ratio is best against best; the median and range of the per-round ratios (ours/baseline in
  the same round) are reported beside it as the spread.  When the two disagree by more than
  ``NOISY`` the result says so (``noisy``): rerun on a quieter machine before trusting the ratio.

anchorpy's ``EventParser`` is the second baseline, on the legacy IDL ``jup_lock_locker`` (it
cannot read the 0.30+ ones): it runs in its own virtualenv (``bench.anchorpy_baseline``) on the
same log corpus, and ``run()`` returns that comparison as an extra table row (``rows``). When
anchorpy cannot be installed or cannot read the IDL, the row shows n/a and says why.

    python -m bench.decode                      # prints the result as JSON
    python -m bench.decode --only raydium_cp_swap --no-anchorpy --rounds 31

``run(smoke=True)`` decodes a few transactions once per IDL and leaves anchorpy out (it installs
a virtualenv): the smoke test in ``make test`` that keeps this bench from breaking unnoticed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exporter.anchor import EventDecoder, load_idl
from tests.support.anchor_encoder import AnchorEncoder, emit_cpi_tx, emit_log_tx

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_IDLS = ROOT.parent / "shared" / "fixtures" / "idls"
TRANSACTIONS = 2000
EVENTS_PER_TX = 3
#: paired rounds (ours, baseline) per corpus; a round of 6,000 events takes a few tens of ms
ROUNDS = 21
#: timed runs of the figures without a baseline (emit_cpi!, bytes only)
REPEATS = 7
#: best-vs-best and the median paired ratio further apart than this (relative): flagged noisy
NOISY = 0.10
SMOKE_TRANSACTIONS = 20

Run = Callable[[], Any]


def idl_paths() -> list[Path]:
    paths = sorted(FIXTURE_IDLS.glob("*.json")) if FIXTURE_IDLS.is_dir() else []
    ref = ROOT / "idls" / "paid_match.json"
    return paths + ([ref] if ref.exists() else [])


def corpus(
    enc: AnchorEncoder, cpi: bool, seed: int = 42, transactions: int = TRANSACTIONS
) -> tuple[list[dict[str, Any]], int]:
    rng = random.Random(seed)
    names = sorted(enc.events)
    txs = []
    for _ in range(transactions):
        payloads = [enc.random_event(rng.choice(names), rng)[0] for _ in range(EVENTS_PER_TX)]
        txs.append(emit_cpi_tx(enc.program_id, payloads) if cpi else emit_log_tx(enc.program_id, payloads))
    return txs, transactions * EVENTS_PER_TX


def _timed(fn: Run) -> float:
    """CPU seconds of one run of ``fn`` (see the module doc for why CPU time)."""
    gc.collect()  # the previous run's garbage is not this run's cost
    start = time.thread_time()
    fn()  # its result (kept until it returns, as a caller would) is dropped after the clock stops
    return time.thread_time() - start


def _best_rate(fn: Run, events: int, repeats: int = REPEATS) -> float:
    fn()  # warm-up
    return events / min(_timed(fn) for _ in range(repeats))


def paired(ours: Run, baseline: Run, events: int, rounds: int = ROUNDS) -> dict[str, Any]:
    """Ours and the baseline timed in alternating rounds; see the module doc for the method."""
    ours()
    baseline()  # warm-up: memoised log frames, allocator arenas, the baseline's own caches
    t_ours: list[float] = []
    t_base: list[float] = []
    for i in range(rounds):
        order = [(ours, t_ours), (baseline, t_base)]
        for fn, times in order if i % 2 == 0 else reversed(order):
            times.append(_timed(fn))
    per_round = sorted(b / o for o, b in zip(t_ours, t_base, strict=True))
    best = min(t_base) / min(t_ours)
    median = statistics.median(per_round)
    return {
        "ours_events_per_s": round(events / min(t_ours)),
        "baseline_events_per_s": round(events / min(t_base)),
        "ratio_best": round(best, 2),
        "ratio_median_of_rounds": round(median, 2),
        "ratio_range_of_rounds": [round(per_round[0], 2), round(per_round[-1], 2)],
        # how much slower a typical round ran than the best: the load each side saw
        "ours_median_over_best": round(statistics.median(t_ours) / min(t_ours), 2),
        "baseline_median_over_best": round(statistics.median(t_base) / min(t_base), 2),
        "noisy": abs(best - median) > NOISY * best,
    }


def bench_idl(
    path: Path, transactions: int = TRANSACTIONS, repeats: int = REPEATS, rounds: int = ROUNDS
) -> dict[str, Any]:
    raw = json.loads(path.read_text())
    enc = AnchorEncoder(raw)
    if not enc.program_id:
        enc.program_id = "11111111111111111111111111111111"
    dec = EventDecoder(load_idl(path), enc.program_id)
    result: dict[str, Any] = {
        "event_types": len(enc.events),
        "transactions": transactions,
        "repeats": repeats,
        "rounds": rounds,
    }
    log_txs, events = corpus(enc, cpi=False, transactions=transactions)
    cpi_txs, _ = corpus(enc, cpi=True, transactions=transactions)
    for form, txs in (("log", log_txs), ("cpi", cpi_txs)):
        decoded = sum(len(dec.decode_transaction(tx).events) for tx in txs)
        assert decoded == events, f"{path.name}: {form}: decoded {decoded} of {events} events"

    def ours_log() -> Any:
        return [dec.decode_transaction(t) for t in log_txs]

    baseline = _baseline(raw, log_txs, events)
    if baseline is None:
        result["log_events_per_s"] = round(_best_rate(ours_log, events, rounds))
    else:
        cmp = paired(ours_log, baseline, events, rounds)
        result["log_events_per_s"] = cmp.pop("ours_events_per_s")
        result["baseline_log_events_per_s"] = cmp.pop("baseline_events_per_s")
        result["ratio_vs_baseline"] = cmp["ratio_best"]
        result["comparison"] = cmp
    result["cpi_events_per_s"] = round(
        _best_rate(lambda: [dec.decode_transaction(t) for t in cpi_txs], events, repeats)
    )
    rng = random.Random(1)
    payloads = [
        enc.random_event(n, rng)[0]
        for n in sorted(enc.events)
        for _ in range(transactions // len(enc.events) + 1)
    ]
    # the Borsh part alone: event bytes -> value, no log or transaction parsing
    result["bytes_events_per_s"] = round(
        _best_rate(lambda: [dec.decode_event(p) for p in payloads], len(payloads), repeats)
    )
    return result


def _baseline(raw: dict[str, Any], txs: list[dict[str, Any]], events: int) -> Run | None:
    """solana-anchor-events over the same log lines, or None when it is absent or cannot."""
    try:
        from solana_anchor_events import EventDecoder as RustDecoder  # optional, PyPI
    except ImportError:
        return None
    try:
        rust = RustDecoder(json.dumps(raw))
    except ValueError:  # an IDL it cannot read
        return None
    logs = [tx["meta"]["logMessages"] for tx in txs]
    if sum(len(rust.parse_logs(lines)) for lines in logs) != events:
        return None  # it does not decode this corpus correctly: no fair comparison
    parse = rust.parse_logs
    return lambda: [parse(lines) for lines in logs]


def method() -> dict[str, Any]:
    """The assumptions behind the figures, stored with them."""
    return {
        "process": "ours and the baseline in one Python process, one thread, same corpus",
        "clock": "CPU time of the thread (time.thread_time): time waiting for a core is not counted",
        "rounds": "paired rounds, order alternating; each side warmed up once",
        "figure": "best round per side; ratio = best vs best",
        "spread": "median and range of the per-round ratios; noisy when the median is more than "
        f"{NOISY:.0%} from the best-vs-best ratio",
        "gc": "collected before each timed run, enabled during it",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


ANCHORPY_IDL = FIXTURE_IDLS / "jup_lock_locker.json"


def anchorpy_row(
    decode: dict[str, Any], smoke: bool = False, skip: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The "ours vs anchorpy EventParser" row (a ``bench.run`` row dict) and anchorpy's raw result.

    ``skip``: why anchorpy is left out (not measured), when it is."""
    stem = ANCHORPY_IDL.stem
    ours = decode.get(stem, {}).get("log_events_per_s")
    if smoke:
        raw: dict[str, Any] = {"error": "not measured in a smoke run (it installs anchorpy in its own venv)"}
    elif skip:
        raw = {"error": skip}
    elif ours is None:
        raw = {"error": f"{ANCHORPY_IDL} is absent (../shared/fixtures/idls not checked out)"}
    else:
        from bench.anchorpy_baseline import measure  # it imports this module: not at the top

        raw = measure(ANCHORPY_IDL)
    base = raw.get("events_per_s")
    if base is not None:
        note = f"anchorpy {raw['anchorpy']} in var/bench/anchorpy-venv, on the same log corpus"
    else:
        note = ("skipped: " if ours is None else "baseline not measured: ") + raw["error"]
    row = {
        "figure": f"log events/s, {stem} vs anchorpy EventParser",
        "unit": "events/s",
        "ours": ours,
        "baseline": base,
        "baseline_name": "anchorpy EventParser (Python, separate venv)",
        "better": "higher",
        "note": note,
    }
    return row, raw


def run(
    smoke: bool = False, only: list[str] | None = None, rounds: int = ROUNDS, anchorpy: bool = True
) -> dict[str, Any]:
    """``{"decode": {idl_file_stem: {log_events_per_s, cpi_events_per_s, [baseline...,
    comparison]}}, "method": {...}, "rows": [the anchorpy comparison], "anchorpy": {...}}``."""
    paths = [p for p in idl_paths() if not only or p.stem in only]
    info = method()
    if smoke:
        decode = {p.stem: bench_idl(p, SMOKE_TRANSACTIONS, repeats=1, rounds=1) for p in paths}
    else:
        decode = {p.stem: bench_idl(p, rounds=rounds) for p in paths}
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    row, raw = anchorpy_row(decode, smoke, "" if anchorpy else "left out (--no-anchorpy)")
    return {"decode": decode, "method": info, "rows": [row], "anchorpy": raw}


def main() -> None:
    p = argparse.ArgumentParser(description="decode throughput, ours vs solana-anchor-events (JSON out)")
    p.add_argument("--only", default="", help="comma-separated IDL file stems (default: all)")
    p.add_argument("--rounds", type=int, default=ROUNDS, help=f"paired rounds per corpus (default {ROUNDS})")
    p.add_argument("--no-anchorpy", action="store_true", help="leave out the anchorpy row (its own venv)")
    args = p.parse_args()
    only = [x for x in args.only.split(",") if x] or None
    print(json.dumps(run(only=only, rounds=args.rounds, anchorpy=not args.no_anchorpy), indent=2))


if __name__ == "__main__":
    main()
