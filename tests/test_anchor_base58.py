"""base58 decoding of instruction data: the Rust-backed path (``based58``) and the pure-Python
fallback give the same bytes, and reject the same inputs with ``ValueError``.

``b58decode`` picks ``based58`` when it is installed; ``b58decode_py`` is the fallback. The
comparison runs on valid encodings (with leading zero bytes, which base58 writes as ``1``s) and
on arbitrary text (bad characters, non-ASCII, over-long strings).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.anchor import logs
from exporter.anchor.logs import b58decode, b58decode_py
from exporter.ingest.account_layout import b58encode

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
FUZZ = settings(max_examples=300, deadline=None)


def _outcome(fn: object, text: str) -> bytes | str:
    try:
        return fn(text)  # type: ignore[operator, no-any-return]
    except ValueError:
        return "ValueError"


def test_known_values() -> None:
    for decode in (b58decode, b58decode_py):
        assert decode("") == b""
        assert decode("1") == b"\0"
        assert decode("11") == b"\0\0"
        assert decode("3yZe7d") == b"test"
        assert decode("11111111111111111111111111111111") == bytes(32)


@pytest.mark.parametrize("bad", ["0", "O", "I", "l", "abc+", "é", "1" * 20_001])
def test_rejects(bad: str) -> None:
    for decode in (b58decode, b58decode_py):
        with pytest.raises(ValueError):
            decode(bad)


@FUZZ
@given(st.binary(max_size=300), st.integers(0, 5))
def test_roundtrip(raw: bytes, zeros: int) -> None:
    raw = b"\0" * zeros + raw
    text = b58encode(raw)
    assert b58decode(text) == raw
    assert b58decode_py(text) == raw


@FUZZ
@given(st.text(alphabet=ALPHABET + "0OIl+/= é\x00", max_size=200) | st.text(max_size=50))
def test_same_result_on_any_text(text: str) -> None:
    assert _outcome(b58decode, text) == _outcome(b58decode_py, text)


def test_native_path_in_use_when_installed() -> None:
    # guards the speed-up: with based58 installed, b58decode must not silently fall back
    pytest.importorskip("based58", reason="based58 not installed: the pure-Python path is the one in use")
    assert logs._native_b58decode is not None
