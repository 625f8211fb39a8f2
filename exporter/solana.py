"""Solana constants and address helpers shared by collectors (built on solders)."""

from __future__ import annotations

import struct

from solders.pubkey import Pubkey

SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS = frozenset({TOKEN_PROGRAM, TOKEN_2022_PROGRAM})
NATIVE_MINT = "So11111111111111111111111111111111111111112"
LAMPORTS_PER_SOL = 1_000_000_000
#: Base layouts shared by SPL Token and Token-2022 (extensions follow them in Token-2022).
TOKEN_ACCOUNT_LEN = 165
MINT_LEN = 82


def parse_pubkey(value: str) -> Pubkey:
    """A base58 public key, or ``ValueError`` saying what is wrong."""
    try:
        return Pubkey.from_string(value)
    except Exception:  # solders raises its own ParseHashError / ValueError variants
        raise ValueError(f"not a valid base58 public key: {value!r}") from None


def seed_bytes(seed: str) -> bytes:
    """Decode a PDA seed written as ``str:TEXT``, ``pubkey:BASE58``, ``u64:N``, ``u8:N`` or ``hex:HEX``."""
    kind, sep, value = seed.partition(":")
    if not sep:
        raise ValueError(f"seed {seed!r} needs a type prefix (str:, pubkey:, u64:, u8:, hex:)")
    if kind == "str":
        data = value.encode()
    elif kind == "pubkey":
        data = bytes(parse_pubkey(value))
    elif kind in ("u64", "u32", "u16", "u8"):
        fmt = {"u64": "<Q", "u32": "<I", "u16": "<H", "u8": "<B"}[kind]
        try:
            data = struct.pack(fmt, int(value))
        except (ValueError, struct.error):
            raise ValueError(f"seed {seed!r}: {value!r} is not a valid {kind}") from None
    elif kind == "hex":
        try:
            data = bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"seed {seed!r}: not valid hex") from None
    else:
        raise ValueError(f"seed {seed!r}: unknown seed type {kind!r}")
    if len(data) > 32:
        raise ValueError(f"seed {seed!r} is longer than 32 bytes")
    return data


def find_pda(program_id: str, seeds: list[str]) -> Pubkey:
    pda, _bump = Pubkey.find_program_address([seed_bytes(s) for s in seeds], parse_pubkey(program_id))
    return pda
