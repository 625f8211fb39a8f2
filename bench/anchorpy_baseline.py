"""Decode baseline: anchorpy's ``EventParser`` on a legacy IDL, run in its own virtualenv.

anchorpy pins old ``solana``/``solders`` versions, so it never goes into ``.venv``: it lives in
``var/bench/anchorpy-venv``, created and filled with pip on first use. The log corpus is the one
``bench.decode`` times our decoder on (same IDL, same seed), written to a JSON file; a small
script run by the venv's python times ``EventParser.parse_logs`` over it and prints JSON.

``measure(idl_path)`` returns ``{"events_per_s": ..., "anchorpy": version}`` or, when anchorpy
cannot be installed, cannot read the IDL or does not decode the corpus correctly,
``{"error": "<the concrete reason>"}``. Never raises for those.

    python -m bench.anchorpy_baseline [IDL]     # prints the result as JSON
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.decode import FIXTURE_IDLS, REPEATS, ROOT, corpus
from tests.support.anchor_encoder import AnchorEncoder

VENV = ROOT / "var" / "bench" / "anchorpy-venv"
VENV_PYTHON = VENV / "bin" / "python"
CORPUS_PATH = ROOT / "var" / "bench" / "anchorpy-corpus.json"
ANCHORPY = "anchorpy==0.21.0"  # pinned: the figure must not move with an upstream release
INSTALL_TIMEOUT = 900
RUN_TIMEOUT = 600
DEFAULT_IDL = FIXTURE_IDLS / "jup_lock_locker.json"

# Runs inside the anchorpy venv: argv[1] is the corpus file. Prints one JSON object.
_SCRIPT = r"""
import json, sys, time
from importlib.metadata import version
data = json.load(open(sys.argv[1]))
def out(**kw):
    print(json.dumps(kw))
    sys.exit(0)
try:
    from anchorpy import Coder, EventParser, Idl
    from solders.pubkey import Pubkey
except Exception as e:
    out(error=f"anchorpy does not import: {type(e).__name__}: {e}")
try:
    idl = Idl.from_json(open(data["idl"]).read())
    parser = EventParser(Pubkey.from_string(data["program_id"]), Coder(idl))
except Exception as e:
    out(error=f"anchorpy cannot read {data['idl_name']}: {type(e).__name__}: {str(e)[:200]}")
def once():
    events = []
    for logs in data["logs"]:
        parser.parse_logs(logs, events.append)
    return events
try:
    names = [e.name for e in once()]
except Exception as e:
    out(error=f"anchorpy EventParser failed on the corpus: {type(e).__name__}: {str(e)[:200]}")
best = float("inf")
for _ in range(data["repeats"]):
    start = time.perf_counter()
    once()
    best = min(best, time.perf_counter() - start)
out(names=names, events_per_s=len(names) / best, anchorpy=version("anchorpy"))
"""


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def ensure_venv() -> str | None:
    """Create the venv and install anchorpy if needed; the reason it failed, or None."""
    if VENV_PYTHON.exists():
        return None
    VENV.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(VENV_PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", ANCHORPY],
    ]
    for cmd in steps:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"installing {ANCHORPY} in {VENV.relative_to(ROOT)} took over {INSTALL_TIMEOUT} s"
        if done.returncode != 0:
            # a half-made venv would be taken for a good one next time
            subprocess.run(["rm", "-rf", str(VENV)], check=False)
            return (
                f"cannot install {ANCHORPY} in {VENV.relative_to(ROOT)}: {_tail(done.stderr or done.stdout)}"
            )
    return None


def measure(idl_path: Path = DEFAULT_IDL) -> dict[str, Any]:
    if not idl_path.exists():
        return {"error": f"{idl_path} is absent (../shared/fixtures/idls not checked out)"}
    why = ensure_venv()
    if why is not None:
        return {"error": why}
    raw = json.loads(idl_path.read_text())
    enc = AnchorEncoder(raw)
    if not enc.program_id:
        enc.program_id = "11111111111111111111111111111111"
    txs, events = corpus(enc, cpi=False)  # the very corpus bench.decode times our decoder on
    expected = _our_names(idl_path, enc.program_id, txs)
    CORPUS_PATH.parent.mkdir(parents=True, exist_ok=True)
    CORPUS_PATH.write_text(
        json.dumps(
            {
                "idl": str(idl_path),
                "idl_name": idl_path.name,
                "program_id": enc.program_id,
                "repeats": REPEATS,
                "logs": [tx["meta"]["logMessages"] for tx in txs],
            }
        )
    )
    try:
        done = subprocess.run(
            [str(VENV_PYTHON), "-c", _SCRIPT, str(CORPUS_PATH)],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"anchorpy took over {RUN_TIMEOUT} s on the corpus"}
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"the anchorpy script failed: {_tail(done.stderr)}"}
    if "error" in result:
        return {"error": result["error"]}
    names = result.pop("names")
    if len(names) != events or names != expected:
        # a parser that drops or misnames events is not a fair comparison
        return {"error": f"anchorpy decoded {len(names)} of {events} events, or other names than ours"}
    result["events"] = events
    result["events_per_s"] = round(result["events_per_s"])
    return result


def _our_names(idl_path: Path, program_id: str, txs: list[dict[str, Any]]) -> list[str]:
    from exporter.anchor import EventDecoder, load_idl

    dec = EventDecoder(load_idl(idl_path), program_id)
    return [e.name for tx in txs for e in dec.decode_transaction(tx).events]


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_IDL), indent=2))
