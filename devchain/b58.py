"""Bitcoin-alphabet base58, as Solana uses for keys, signatures and instruction data (``based58``)."""

from __future__ import annotations

import based58


def b58encode(data: bytes) -> str:
    return based58.b58encode(data).decode("ascii")


def b58decode(text: str) -> bytes:
    """Decode; raises ValueError on a character outside the alphabet."""
    return based58.b58decode(text.encode("ascii"))  # UnicodeEncodeError is a ValueError
