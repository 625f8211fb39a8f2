"""Decode throughput (events/s) per IDL on a fixed, seeded corpus of transactions.

For each fixture IDL (../shared/fixtures/idls) and the reference program (idls/paid_match.json),
builds transactions carrying random values of every event type (tests/support/anchor_encoder.py),
emitted with ``emit!`` (log lines) and, separately, with ``emit_cpi!`` (inner instructions),
and times ``EventDecoder.decode_transaction`` over them.  If the ``solana-anchor-events``
package (Rust, log form only, 0.30+ IDLs only) is installed, it is timed on the same log
corpus as a baseline.

anchorpy's ``EventParser`` is the second baseline, on the legacy IDL ``jup_lock_locker`` (it
cannot read the 0.30+ ones): it runs in its own virtualenv (``bench.anchorpy_baseline``) on the
same log corpus, and ``run()`` returns that comparison as an extra table row (``rows``). When
anchorpy cannot be installed or cannot read the IDL, the row shows n/a and says why.

    python -m bench.decode        # prints the result as JSON

``run(smoke=True)`` decodes a few transactions once per IDL and leaves anchorpy out (it installs
a virtualenv): the smoke test in ``make test`` that keeps this bench from breaking unnoticed.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from exporter.anchor import EventDecoder, load_idl
from tests.support.anchor_encoder import AnchorEncoder, emit_cpi_tx, emit_log_tx

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_IDLS = ROOT.parent / "shared" / "fixtures" / "idls"
TRANSACTIONS = 2000
EVENTS_PER_TX = 3
REPEATS = 3
SMOKE_TRANSACTIONS = 20


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


def _best_rate(fn: Any, events: int, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return events / best


def bench_idl(path: Path, transactions: int = TRANSACTIONS, repeats: int = REPEATS) -> dict[str, Any]:
    raw = json.loads(path.read_text())
    enc = AnchorEncoder(raw)
    if not enc.program_id:
        enc.program_id = "11111111111111111111111111111111"
    dec = EventDecoder(load_idl(path), enc.program_id)
    result: dict[str, Any] = {
        "event_types": len(enc.events),
        "transactions": transactions,
        "repeats": repeats,
    }
    for form in ("log", "cpi"):
        txs, events = corpus(enc, cpi=form == "cpi", transactions=transactions)
        decoded = sum(len(dec.decode_transaction(tx).events) for tx in txs)
        assert decoded == events, f"{path.name}: decoded {decoded} of {events} events"
        result[f"{form}_events_per_s"] = round(
            _best_rate(lambda txs=txs: [dec.decode_transaction(t) for t in txs], events, repeats)
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
    baseline = _baseline(path, raw, corpus(enc, cpi=False, transactions=transactions), repeats)
    if baseline is not None:
        result["baseline_log_events_per_s"] = round(baseline)
        result["ratio_vs_baseline"] = round(result["log_events_per_s"] / baseline, 2)
    return result


def _baseline(
    path: Path, raw: dict[str, Any], data: tuple[list[dict[str, Any]], int], repeats: int
) -> float | None:
    try:
        from solana_anchor_events import EventDecoder as RustDecoder  # optional, PyPI
    except ImportError:
        return None
    try:
        rust = RustDecoder(json.dumps(raw))
    except ValueError:  # legacy IDL: not supported by that package
        return None
    txs, events = data
    logs = [tx["meta"]["logMessages"] for tx in txs]
    if sum(len(rust.parse_logs(lines)) for lines in logs) != events:
        return None  # it does not decode this corpus correctly: no fair comparison
    return _best_rate(lambda: [rust.parse_logs(lines) for lines in logs], events, repeats)


ANCHORPY_IDL = FIXTURE_IDLS / "jup_lock_locker.json"


def anchorpy_row(decode: dict[str, Any], smoke: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """The "ours vs anchorpy EventParser" row (a ``bench.run`` row dict) and anchorpy's raw result."""
    stem = ANCHORPY_IDL.stem
    ours = decode.get(stem, {}).get("log_events_per_s")
    if smoke:
        raw: dict[str, Any] = {"error": "not measured in a smoke run (it installs anchorpy in its own venv)"}
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


def run(smoke: bool = False) -> dict[str, Any]:
    """``{"decode": {idl_file_stem: {log_events_per_s, cpi_events_per_s, [baseline...]}},
    "rows": [the anchorpy comparison], "anchorpy": {events_per_s, ...} or {error}}``."""
    if smoke:
        decode = {p.stem: bench_idl(p, SMOKE_TRANSACTIONS, repeats=1) for p in idl_paths()}
    else:
        decode = {p.stem: bench_idl(p) for p in idl_paths()}
    row, raw = anchorpy_row(decode, smoke)
    return {"decode": decode, "rows": [row], "anchorpy": raw}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
