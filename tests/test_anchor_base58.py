"""base58 goes through ``based58`` (no hand-written base58 left in ``exporter/``, ``devchain/`` or
``tests/support/``, and a test keeps it so): known values, the same text as solders' public keys,
round trips with leading zero bytes (which base58 writes as ``1``s), and ``ValueError`` on
anything else.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from devchain import b58 as devchain_b58
from exporter.anchor.logs import b58decode
from exporter.ingest.account_layout import b58encode
from tests.support import anchor_encoder
from tests.support.util import ROOT

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
FUZZ = settings(max_examples=300, deadline=None)


def test_known_values() -> None:
    for decode in (b58decode, devchain_b58.b58decode):
        assert decode("") == b""
        assert decode("1") == b"\0"
        assert decode("11") == b"\0\0"
        assert decode("3yZe7d") == b"test"
        assert decode("11111111111111111111111111111111") == bytes(32)
    for encode in (b58encode, devchain_b58.b58encode, anchor_encoder.b58encode):
        assert encode(b"") == ""
        assert encode(b"\0\0test") == "113yZe7d"


@pytest.mark.parametrize("bad", ["0", "O", "I", "l", "abc+", "é", "1" * 20_001])
def test_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        b58decode(bad)
    if len(bad) < 100:
        with pytest.raises(ValueError):
            devchain_b58.b58decode(bad)


@FUZZ
@given(st.binary(max_size=300), st.integers(0, 5))
def test_roundtrip(raw: bytes, zeros: int) -> None:
    raw = b"\0" * zeros + raw
    text = b58encode(raw)
    assert devchain_b58.b58encode(raw) == text
    assert b58decode(text) == raw
    assert devchain_b58.b58decode(text) == raw


@FUZZ
@given(st.binary(min_size=32, max_size=32))
def test_same_text_as_solders_public_keys(raw: bytes) -> None:
    # the decoder renders pubkeys with solders: both must agree on every 32-byte key
    text = str(Pubkey.from_bytes(raw))
    assert b58encode(raw) == text
    assert b58decode(text) == raw


@FUZZ
@given(st.text(alphabet=ALPHABET + "0OIl+/= é\x00", max_size=200) | st.text(max_size=50))
def test_any_text_gives_bytes_or_value_error(text: str) -> None:
    try:
        raw = b58decode(text)
    except ValueError:
        assert any(c not in ALPHABET for c in text)
        return
    assert b58encode(raw) == text


def test_no_hand_written_base58_comes_back() -> None:
    # A hand-written codec starts from the alphabet: finding it in our sources finds the codec.
    # (Each of these places once had its own; based58 itself lives in the virtualenv.)
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("exporter", "devchain", "tests/support")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ALPHABET in line or ALPHABET[::-1] in line
    ]
    assert found == [], f"a base58 alphabet outside based58 (use based58 instead): {found}"
