"""The ``decode`` CLI contract, end to end in a subprocess.

Runs ``python -m exporter.anchor.cli`` until the lead wires ``escrow-exporter decode`` to it;
the arguments and output are the same.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.anchor_encoder import AnchorEncoder, emit_cpi_tx, emit_log_tx
from tests.support.util import FIXTURE_IDLS, ROOT


def decode(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter.anchor.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        input=stdin,
    )


def _fixture(name: str) -> Path:
    path = FIXTURE_IDLS / name
    if not path.exists():
        pytest.skip(f"fixture IDLs absent: {FIXTURE_IDLS}")
    return path


def test_events_of_several_files_one_json_object_per_line(tmp_path: Path) -> None:
    idl_path = _fixture("alpha_vault.json")
    enc = AnchorEncoder(json.loads(idl_path.read_text()))
    rng = random.Random(5)
    (r1, v1), (r2, v2) = (
        enc.random_event("EscrowDeposit", rng),
        enc.random_event("MerkleProofMetadataCreated", rng),
    )
    (r3, v3) = enc.random_event("SwapFill", rng)
    f1, f2 = tmp_path / "a.json", tmp_path / "b.json"
    f1.write_text(json.dumps(emit_log_tx(enc.program_id, [r1, r2])))
    f2.write_text(json.dumps(emit_cpi_tx(enc.program_id, [r3])))
    out = decode("--idl", str(idl_path), str(f1), str(f2))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    sig1, sig2 = (json.loads(f.read_text())["transaction"]["signatures"][0] for f in (f1, f2))
    # Each line names its source: the file and the transaction's signature.
    assert [json.loads(line) for line in lines] == [
        {"event": "EscrowDeposit", "source": "log", "data": v1, "file": str(f1), "signature": sig1},
        {
            "event": "MerkleProofMetadataCreated",
            "source": "log",
            "data": v2,
            "file": str(f1),
            "signature": sig1,
        },
        {"event": "SwapFill", "source": "cpi", "data": v3, "file": str(f2), "signature": sig2},
    ]
    # u64 values come out as exact JSON integers, not floats or strings
    assert f'"amount": {v1["amount"]}' in lines[0]


def test_legacy_idl_with_program_id_override(tmp_path: Path) -> None:
    idl_path = _fixture("jup_lock_locker.json")
    enc = AnchorEncoder(json.loads(idl_path.read_text()))
    raw, value = enc.random_event("EventClaim", random.Random(2))
    other = "Vote111111111111111111111111111111111111111"  # any valid id but the IDL's
    tx = tmp_path / "tx.json"
    tx.write_text(json.dumps({"jsonrpc": "2.0", "id": 1, "result": emit_log_tx(other, [raw])}))
    assert decode("--idl", str(idl_path), str(tx)).stdout == ""  # not the IDL's program: nothing
    out = decode("--idl", str(idl_path), "--program-id", other, str(tx))
    assert out.returncode == 0 and json.loads(out.stdout) == {
        "event": "EventClaim",
        "source": "log",
        "data": value,
        "file": str(tx),
        "signature": json.loads(tx.read_text())["result"]["transaction"]["signatures"][0],
    }


def test_account(tmp_path: Path) -> None:
    idl_path = _fixture("raydium_cp_swap.json")
    enc = AnchorEncoder(json.loads(idl_path.read_text()))
    raw, value = enc.random_account("PoolState", random.Random(4))
    out = decode("--idl", str(idl_path), "--account", base64.b64encode(raw).decode())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"account": "PoolState", "data": value}


def test_reference_program_stdin() -> None:
    idl_path = ROOT / "idls" / "paid_match.json"
    if not idl_path.exists():
        pytest.skip("idls/paid_match.json not written yet")
    enc = AnchorEncoder(json.loads(idl_path.read_text()))
    raw, value = enc.random_event("ProgramPaused", random.Random(9))
    tx = emit_log_tx(enc.program_id, [raw])
    out = decode("--idl", str(idl_path), "-", stdin=json.dumps(tx))
    assert json.loads(out.stdout) == {
        "event": "ProgramPaused",
        "source": "log",
        "data": value,
        "file": "-",
        "signature": tx["transaction"]["signatures"][0],
    }


@pytest.mark.parametrize(
    ("idl_text", "tx_text", "extra", "message"),
    [
        (None, "{}", [], "cannot read the IDL"),
        ("{not json", "{}", [], "not valid JSON: Expecting property name"),
        (
            '{"address": "x", "events": [{"name": "E"}], "types": [{"name": "E", "type": {"kind": "struct"}}]}',
            "{}",
            [],
            "events.E: missing 'discriminator'",
        ),
        (None, "x", ["--account", "!!"], "not valid base64"),
        (None, "[1]", [], "not a getTransaction result"),
        (None, "{", [], "not valid JSON"),
        (None, "{}", ["--account", "AAAA"], "give either --account or transaction FILEs"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, idl_text: str | None, tx_text: str, extra: list[str], message: str
) -> None:
    idl = tmp_path / "idl.json"
    if idl_text is not None:
        idl.write_text(idl_text)
    elif "cannot read" not in message:
        idl.write_text(
            json.dumps({"address": "11111111111111111111111111111111", "metadata": {"spec": "0.1.0"}})
        )
    tx = tmp_path / "tx.json"
    tx.write_text(tx_text)
    files = [] if extra and "either" not in message else [str(tx)]
    out = decode("--idl", str(idl), *extra, *files)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr
    assert "Traceback" not in out.stderr
    if idl_text is None and "cannot read" in message:
        assert str(idl) in out.stderr


def test_wired_into_escrow_exporter(tmp_path: Path) -> None:
    """The same contract through the installed ``escrow-exporter decode`` entry point."""
    from tests.support.util import cli

    idl_path = _fixture("raydium_cp_swap.json")
    enc = AnchorEncoder(json.loads(idl_path.read_text()))
    raw, value = enc.random_event("SwapEvent", random.Random(8))
    tx = tmp_path / "tx.json"
    tx.write_text(json.dumps(emit_log_tx(enc.program_id, [raw])))
    out = cli("decode", "--idl", str(idl_path), str(tx))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "event": "SwapEvent",
        "source": "log",
        "data": value,
        "file": str(tx),
        "signature": json.loads(tx.read_text())["transaction"]["signatures"][0],
    }
    assert cli("decode", "--idl", str(tmp_path / "missing.json"), str(tx)).returncode == 2


@pytest.mark.parametrize("program_id", ["xyz", "Othr111111111111111111111111111111111111111", ""])
def test_mistyped_program_id_is_a_usage_error(tmp_path: Path, program_id: str) -> None:
    """A typo matched nothing and printed nothing with exit 0, indistinguishable from no events."""
    from tests.support.util import cli

    idl_path = _fixture("raydium_cp_swap.json")
    enc = AnchorEncoder(json.loads(idl_path.read_text()))
    raw, _ = enc.random_event("SwapEvent", random.Random(8))
    tx = tmp_path / "tx.json"
    tx.write_text(json.dumps(emit_log_tx(enc.program_id, [raw])))
    out = cli("decode", "--idl", str(idl_path), "--program-id", program_id, str(tx))
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        f"escrow-exporter decode: --program-id {program_id!r}: not a valid base58 public key (32 bytes)"
    ]
