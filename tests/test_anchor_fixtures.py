"""Round trip every event and account type of the real fixture IDLs and of the reference program.

Random values are encoded by tests/support/anchor_encoder.py and decoded by the project, both as
``Program data:`` log lines (emit!) and as emit_cpi! inner instructions.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from exporter.anchor import DecodedEvent, EventDecoder, load_idl
from tests.support.anchor_encoder import AnchorEncoder, b58encode, emit_cpi_tx, emit_log_tx
from tests.support.util import FIXTURE_IDLS, ROOT

FIXTURES = ["alpha_vault.json", "jup_lock_locker.json", "raydium_cp_swap.json"]
PAID_MATCH = ROOT / "idls" / "paid_match.json"


def _idl_path(name: str) -> Path:
    if name == "paid_match.json":
        if not PAID_MATCH.exists():
            pytest.skip(f"{PAID_MATCH} not written yet (the devchain reference program's IDL)")
        return PAID_MATCH
    if not FIXTURE_IDLS.is_dir():
        pytest.skip(f"fixture IDLs absent: {FIXTURE_IDLS} (clone ../shared next to the repo)")
    return FIXTURE_IDLS / name


ALL = [*FIXTURES, "paid_match.json"]


@pytest.fixture(params=ALL)
def idl_pair(request: pytest.FixtureRequest) -> tuple[EventDecoder, AnchorEncoder]:
    path = _idl_path(request.param)
    return EventDecoder(load_idl(path)), AnchorEncoder(json.loads(path.read_text()))


def test_every_event_round_trips_in_log_and_cpi_form(idl_pair: tuple[EventDecoder, AnchorEncoder]) -> None:
    dec, enc = idl_pair
    assert set(enc.events) == set(dec.idl.events) and enc.events
    rng = random.Random(7)
    for _ in range(25):
        payloads, expected = [], []
        for name in enc.events:
            raw, value = enc.random_event(name, rng)
            payloads.append(raw)
            expected.append((name, value))
        res = dec.decode_transaction(emit_log_tx(dec.program_id, payloads))
        assert res.decode_errors == [] and not res.logs_truncated
        assert res.events == [DecodedEvent(n, "log", v) for n, v in expected]
        res = dec.decode_transaction(emit_cpi_tx(dec.program_id, payloads))
        assert res.decode_errors == []
        assert res.events == [DecodedEvent(n, "cpi", v) for n, v in expected]


def test_every_account_round_trips(idl_pair: tuple[EventDecoder, AnchorEncoder]) -> None:
    dec, enc = idl_pair
    assert set(enc.accounts) == set(dec.idl.accounts) and enc.accounts
    rng = random.Random(11)
    for _ in range(25):
        for name in enc.accounts:
            raw, value = enc.random_account(name, rng)
            assert dec.decode_account(raw + bytes(rng.randint(0, 64))) == (name, value)


def test_every_instruction_is_named(idl_pair: tuple[EventDecoder, AnchorEncoder]) -> None:
    dec, enc = idl_pair
    pid = dec.program_id
    names = list(dec.idl.instructions)
    tx = emit_cpi_tx(pid, [])
    tx["transaction"]["message"]["instructions"] = [
        {"programIdIndex": 2, "accounts": [], "data": b58encode(enc.instruction_data(n) + b"\x01\x02")}
        for n in names
    ] + [{"programIdIndex": 2, "accounts": [], "data": b58encode(b"\xff" * 8)}]
    assert dec.instruction_names(tx) == [*names, "unknown"]


def test_real_layout_sizes() -> None:
    """Known on-chain sizes of the zero-copy accounts pin the repr(C)/packed rules."""
    alpha = EventDecoder(load_idl(_idl_path("alpha_vault.json")))
    escrow = alpha.idl.accounts["Escrow"].discriminator
    # Escrow (repr(C)) is 8 + 128 bytes; one byte less must not decode.
    name, data = alpha.decode_account(escrow + bytes(128))
    assert name == "Escrow" and data["padding"] == [0]
    with pytest.raises(Exception, match="short_data"):
        alpha.decode_account(escrow + bytes(127))
    ray = EventDecoder(load_idl(_idl_path("raydium_cp_swap.json")))
    # ObservationState (packed): 1 + 2 + 32 + 100 * 40 + 32 = 4067 bytes after the discriminator.
    obs = ray.idl.accounts["ObservationState"].discriminator
    assert ray.decode_account(obs + bytes(4067))[0] == "ObservationState"
    with pytest.raises(Exception, match="short_data"):
        ray.decode_account(obs + bytes(4066))
