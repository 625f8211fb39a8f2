"""`escrow-exporter decode` says where each event came from, reads base64-encoded transactions,
and fetches transactions by signature from an RPC (here the simulator)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import wait_until
from tests.support.util import ROOT, cli, free_port

IDL = ROOT / "idls" / "paid_match.json"
PROGRAM = json.loads(IDL.read_text())["address"]
OPTS = {"maxSupportedTransactionVersion": 0, "commitment": "confirmed"}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devchain]:
    d = Devchain(tmp_path_factory.mktemp("devchain"), seed=7, tps=20)
    yield d
    d.stop()


@pytest.fixture(scope="module")
def signatures(chain: Devchain) -> list[str]:
    """Some confirmed transactions of the program, enough of them to carry events."""

    def enough() -> list[str] | None:
        res = chain.rpc("getSignaturesForAddress", [PROGRAM, {"limit": 15, "commitment": "confirmed"}])[
            "result"
        ]
        return [r["signature"] for r in res if r["err"] is None] if len(res) >= 15 else None

    return wait_until(enough, timeout=30, what="15 program transactions on the simulator")


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_fetched_by_signature_equals_the_saved_json_and_names_the_signature(
    chain: Devchain, signatures: list[str], tmp_path: Path
) -> None:
    sig_args = [a for s in signatures for a in ("--signature", s)]
    fetched = cli("decode", "--idl", str(IDL), "--url", chain.url, *sig_args)
    assert fetched.returncode == 0, fetched.stderr
    events = _lines(fetched.stdout)
    assert events, "no events in 15 program transactions"
    assert {e["signature"] for e in events} <= set(signatures) and all(e["file"] is None for e in events)
    files = []
    for i, sig in enumerate(signatures):
        f = tmp_path / f"tx{i}.json"
        f.write_text(json.dumps(chain.rpc("getTransaction", [sig, {"encoding": "json", **OPTS}])["result"]))
        files.append(f)
    saved = cli("decode", "--idl", str(IDL), *map(str, files))
    assert saved.returncode == 0, saved.stderr
    from_files = _lines(saved.stdout)
    by_file = {str(f): s for f, s in zip(files, signatures, strict=True)}
    assert all(by_file[e["file"]] == e["signature"] for e in from_files)
    assert [{**e, "file": None} for e in from_files] == events


def test_base64_encoded_transactions_decode_like_json(
    chain: Devchain, signatures: list[str], tmp_path: Path
) -> None:
    for encoding in ("json", "base64"):
        for i, sig in enumerate(signatures):
            result = chain.rpc("getTransaction", [sig, {"encoding": encoding, **OPTS}])["result"]
            (tmp_path / f"{encoding}-{i:02d}.json").write_text(json.dumps(result))
    outs = {}
    for encoding in ("json", "base64"):
        paths = sorted(str(p) for p in tmp_path.glob(f"{encoding}-*.json"))
        r = cli("decode", "--idl", str(IDL), *paths)
        assert r.returncode == 0, r.stderr
        outs[encoding] = [{k: v for k, v in e.items() if k != "file"} for e in _lines(r.stdout)]
    assert outs["base64"] and outs["base64"] == outs["json"]


def test_an_encoding_that_is_not_a_transaction_is_named(tmp_path: Path) -> None:
    f = tmp_path / "tx.json"
    f.write_text(json.dumps({"meta": {}, "transaction": ["bm90IGEgdHJhbnNhY3Rpb24=", "base64"]}))
    r = cli("decode", "--idl", str(IDL), str(f))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f'{f}: "transaction" is not a base64-encoded Solana transaction' in r.stderr


def test_fetch_failures_are_one_line_naming_host_and_cause(chain: Devchain) -> None:
    missing = "1" * 64
    r = cli("decode", "--idl", str(IDL), "--url", chain.url, "--signature", missing)
    assert r.returncode == 2 and r.stderr.strip().endswith("no such transaction (at commitment confirmed)"), (
        r.stderr
    )
    port = free_port()
    r = cli(
        "decode",
        "--idl",
        str(IDL),
        "--url",
        f"http://127.0.0.1:{port}/?api-key=SECRET",
        "--signature",
        missing,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "from 127.0.0.1: cannot connect" in r.stderr and "SECRET" not in r.stderr
    r = cli("decode", "--idl", str(IDL), "--url", chain.url)
    assert r.returncode == 2 and "--url and --signature go together" in r.stderr
