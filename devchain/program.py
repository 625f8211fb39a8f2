"""Fixed addresses and the IDL of the reference Anchor program ``paid_match``.

Every address here is derived from a fixed label, independent of ``--seed``, so the example
config and the IDL in ``idls/`` stay static. ``python -m devchain.program`` rewrites
``idls/paid_match.json`` from ``build_idl()``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from devchain.borsh import BorshEncoder


def keypair(label: str) -> Keypair:
    """A keypair derived from a fixed label: the same on every run and machine."""
    return Keypair.from_seed(hashlib.sha256(b"devchain:" + label.encode()).digest())


#: id(keypair) -> (the keypair, its public key). The keypair is held so its id is never reused
#: by another object; the chain signs with a fixed set of keypairs, so this stays small.
_PUBKEYS: dict[int, tuple[Keypair, Pubkey]] = {}


def pubkey_of(kp: Keypair) -> Pubkey:
    """``kp.pubkey()``, derived once: solders derives it from the secret on every call (~20 us,
    a sixth of the generator's time per transaction at a few per transaction, profiled by
    bench/sources.py). ``hash(kp)`` derives it too, so the cache is keyed by identity."""
    hit = _PUBKEYS.get(id(kp))
    if hit is None or hit[0] is not kp:
        hit = _PUBKEYS[id(kp)] = (kp, kp.pubkey())
    return hit[1]


@functools.lru_cache(maxsize=64)
def discriminator(namespace: str, name: str) -> bytes:
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


PROGRAM_ID = keypair("paid_match/program").pubkey()
ROUTER_ID = keypair("router/program").pubkey()  # an aggregator that CPIs into paid_match
HOOK_ID = keypair("hook/program").pubkey()  # a program paid_match CPIs into; logs look-alike data
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
COMPUTE_BUDGET_PROGRAM = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
BPF_UPGRADEABLE_LOADER = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
ALT_PROGRAM = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")
NATIVE_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")

USDC_MINT = keypair("mint/usdc").pubkey()
PYUSD_MINT = keypair("mint/pyusd").pubkey()
MINT_DECIMALS = {str(NATIVE_MINT): 9, str(USDC_MINT): 6, str(PYUSD_MINT): 6}
TOKEN_PROGRAM_OF = {str(USDC_MINT): TOKEN_PROGRAM, str(PYUSD_MINT): TOKEN_2022_PROGRAM}

AUTHORITY = keypair("authority")
CRANK = keypair("crank")  # pays fees for the authority's settle transactions (2 signatures)
MINT_AUTHORITY = keypair("mint-authority")
LOOKUP_TABLE = keypair("lookup-table").pubkey()


def pda(*seeds: bytes) -> Pubkey:
    return Pubkey.find_program_address(list(seeds), PROGRAM_ID)[0]


CONFIG_PDA = pda(b"config")
EVENT_AUTHORITY = pda(b"__event_authority")
ESCROW_SOL = pda(b"escrow_sol")
TREASURY_SOL = pda(b"treasury")
ESCROW_TOKEN = {str(m): pda(b"escrow", bytes(m)) for m in (USDC_MINT, PYUSD_MINT)}
FEE_TOKEN = {str(m): pda(b"fee", bytes(m)) for m in (USDC_MINT, PYUSD_MINT)}


@functools.lru_cache(maxsize=8192)  # find_program_address hashes up to 255 times; a match is used for a while
def match_pda(match_id: int) -> Pubkey:
    return pda(b"match", struct.pack("<Q", match_id))


#: The accounts the demo watches, by their config name.
WATCHED: dict[str, tuple[Pubkey, str]] = {
    "escrow_sol": (ESCROW_SOL, str(NATIVE_MINT)),
    "escrow_usdc": (ESCROW_TOKEN[str(USDC_MINT)], str(USDC_MINT)),
    "escrow_pyusd": (ESCROW_TOKEN[str(PYUSD_MINT)], str(PYUSD_MINT)),
    "treasury_sol": (TREASURY_SOL, str(NATIVE_MINT)),
    "fee_usdc": (FEE_TOKEN[str(USDC_MINT)], str(USDC_MINT)),
}
ESCROW_NAME_OF_MINT = {
    str(NATIVE_MINT): "escrow_sol",
    str(USDC_MINT): "escrow_usdc",
    str(PYUSD_MINT): "escrow_pyusd",
}

ERRORS: dict[str, tuple[int, str]] = {
    "ProgramPaused": (6000, "The program is paused"),
    "MatchFull": (6001, "The match is full"),
    "MatchNotOpen": (6002, "The match is not open"),
    "InsufficientFunds": (6003, "Insufficient funds"),
    "Unauthorized": (6004, "Unauthorized"),
    "InvalidWinner": (6005, "The winner did not play in this match"),
}

MATCH_STATUSES = ["Open", "InProgress", "Paused", "Settled", "Cancelled"]
MAX_PLAYERS_CAP = 10
#: Anchor allocates fixed space: 8 discriminator + fields with players at their maximum length.
MATCH_SPACE = 8 + 8 + 32 + 32 + 8 + 8 + 1 + (4 + 32 * MAX_PLAYERS_CAP) + 1 + 8
CONFIG_SPACE = 8 + 32 + 32 + 2 + 1 + 8


def _f(name: str, ty: Any) -> dict[str, Any]:
    return {"name": name, "type": ty}


def _defined(name: str) -> dict[str, Any]:
    return {"defined": {"name": name}}


_EVENT_FIELDS: dict[str, list[dict[str, Any]]] = {
    "MatchCreated": [
        _f("match_id", "u64"),
        _f("creator", "pubkey"),
        _f("mint", "pubkey"),
        _f("entry_fee", "u64"),
        _f("max_players", "u8"),
        _f("paid", "bool"),
    ],
    "PlayerJoined": [
        _f("match_id", "u64"),
        _f("player", "pubkey"),
        _f("mint", "pubkey"),
        _f("amount", "u64"),
    ],
    "MatchStarted": [_f("match_id", "u64"), _f("players", "u8")],
    "MatchSettled": [
        _f("match_id", "u64"),
        _f("winner", "pubkey"),
        _f("mint", "pubkey"),
        _f("prize", "u64"),
        _f("fee", "u64"),
    ],
    "MatchRefunded": [
        _f("match_id", "u64"),
        _f("player", "pubkey"),
        _f("mint", "pubkey"),
        _f("amount", "u64"),
    ],
    "WithdrawalProcessed": [_f("user", "pubkey"), _f("mint", "pubkey"), _f("amount", "u64")],
    "ProgramPaused": [_f("authority", "pubkey"), _f("reason", _defined("PauseReason"))],
    "ProgramResumed": [_f("authority", "pubkey")],
    "FeesSwept": [
        _f("authority", "pubkey"),
        _f("mint", "pubkey"),
        _f("amount", "u64"),
        _f("destination", "pubkey"),
    ],
}
EVENT_NAMES = list(_EVENT_FIELDS)

_ACCOUNT_FIELDS: dict[str, list[dict[str, Any]]] = {
    "Match": [
        _f("match_id", "u64"),
        _f("creator", "pubkey"),
        _f("mint", "pubkey"),
        _f("entry_fee", "u64"),
        _f("pot", "u64"),
        _f("max_players", "u8"),
        _f("players", {"vec": "pubkey"}),
        _f("status", _defined("MatchStatus")),
        _f("created_at", "i64"),
    ],
    "PlatformConfig": [
        _f("authority", "pubkey"),
        _f("treasury", "pubkey"),
        _f("fee_bps", "u16"),
        _f("paused", "bool"),
        _f("match_count", "u64"),
    ],
}


def _const_seed(text: str) -> dict[str, Any]:
    return {"kind": "const", "value": list(text.encode())}


def _acc(name: str, *, w: bool = False, s: bool = False, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if w:
        out["writable"] = True
    if s:
        out["signer"] = True
    out.update(extra)
    return out


_CONFIG = _acc("config", pda={"seeds": [_const_seed("config")]})
_CONFIG_W = _acc("config", w=True, pda={"seeds": [_const_seed("config")]})
_MATCH_W = _acc("match", w=True, pda={"seeds": [_const_seed("match"), {"kind": "arg", "path": "match_id"}]})
_EVENT_CPI = [
    _acc("event_authority", pda={"seeds": [_const_seed("__event_authority")]}),
    _acc("program", address=str(PROGRAM_ID)),
]
_TOKEN_PROGRAM = _acc("token_program", optional=True)
_SYSTEM = _acc("system_program", address=str(SYSTEM_PROGRAM))

_INSTRUCTIONS: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    (
        "create_match",
        [
            _acc("creator", w=True, s=True),
            _CONFIG_W,
            _acc(
                "match",
                w=True,
                pda={
                    "seeds": [
                        _const_seed("match"),
                        {"kind": "account", "path": "config.match_count", "account": "PlatformConfig"},
                    ]
                },
            ),
            _acc("mint"),
            _SYSTEM,
        ],
        [_f("entry_fee", "u64"), _f("max_players", "u8")],
    ),
    (
        "join_match",
        [
            _acc("player", w=True, s=True),
            _CONFIG,
            _MATCH_W,
            _acc("mint"),
            _acc("player_token", w=True, optional=True),
            _acc("escrow", w=True),
            _TOKEN_PROGRAM,
            _SYSTEM,
            _acc("hook_program", optional=True),
        ],
        [_f("match_id", "u64")],
    ),
    ("start_match", [_acc("authority", s=True), _CONFIG, _MATCH_W], [_f("match_id", "u64")]),
    (
        "settle_match",
        [
            _acc("authority", s=True),
            _CONFIG,
            _MATCH_W,
            _acc("mint"),
            _acc("escrow", w=True),
            _acc("fee_account", w=True),
            _TOKEN_PROGRAM,
            _SYSTEM,
            *_EVENT_CPI,
        ],
        [_f("match_id", "u64"), _f("winner", "pubkey")],
    ),
    (
        "refund_match",
        [
            _acc("authority", s=True),
            _CONFIG,
            _MATCH_W,
            _acc("mint"),
            _acc("escrow", w=True),
            _TOKEN_PROGRAM,
            _SYSTEM,
        ],
        [_f("match_id", "u64")],
    ),
    (
        "withdraw",
        [
            _acc("user", w=True, s=True),
            _CONFIG,
            _acc("mint"),
            _acc("escrow", w=True),
            _acc("user_token", w=True, optional=True),
            _TOKEN_PROGRAM,
            _SYSTEM,
            *_EVENT_CPI,
        ],
        [_f("amount", "u64")],
    ),
    ("pause", [_acc("authority", s=True), _CONFIG_W], [_f("reason", _defined("PauseReason"))]),
    ("resume", [_acc("authority", s=True), _CONFIG_W], []),
    (
        # The operator's planned fee sweep: fee wallet -> an outside wallet, with an event, so the
        # exporter's exact reconciliation accounts for it (a flow debiting the `fee` role).
        "sweep_fees",
        [
            _acc("authority", s=True),
            _CONFIG,
            _acc("mint"),
            _acc("fee_account", w=True),
            _acc("destination", w=True),
            _acc("token_program"),
        ],
        [_f("amount", "u64")],
    ),
]

_ENUMS: list[dict[str, Any]] = [
    {"name": "MatchStatus", "type": {"kind": "enum", "variants": [{"name": s} for s in MATCH_STATUSES]}},
    {
        "name": "PauseReason",
        "type": {
            "kind": "enum",
            "variants": [
                {"name": "Maintenance"},
                {"name": "Incident", "fields": [_f("code", "u32")]},
                {"name": "Manual", "fields": ["string"]},
            ],
        },
    },
]


def build_idl() -> dict[str, Any]:
    structs = {**_ACCOUNT_FIELDS, **_EVENT_FIELDS}
    return {
        "address": str(PROGRAM_ID),
        "metadata": {
            "name": "paid_match",
            "version": "0.1.0",
            "spec": "0.1.0",
            "description": "Reference paid-match escrow program simulated by devchain",
        },
        "instructions": [
            {"name": n, "discriminator": list(discriminator("global", n)), "accounts": accs, "args": args}
            for n, accs, args in _INSTRUCTIONS
        ],
        "accounts": [
            {"name": n, "discriminator": list(discriminator("account", n))} for n in _ACCOUNT_FIELDS
        ],
        "events": [{"name": n, "discriminator": list(discriminator("event", n))} for n in _EVENT_FIELDS],
        "errors": [{"code": code, "name": name, "msg": msg} for name, (code, msg) in ERRORS.items()],
        "types": [{"name": n, "type": {"kind": "struct", "fields": fs}} for n, fs in structs.items()]
        + _ENUMS,
    }


IDL = build_idl()
BORSH = BorshEncoder(IDL["types"])
IDL_PATH = Path(__file__).resolve().parent.parent / "idls" / "paid_match.json"


def idl_json() -> str:
    return json.dumps(IDL, indent=2) + "\n"


if __name__ == "__main__":
    IDL_PATH.write_text(idl_json())
    sys.stdout.write(f"wrote {IDL_PATH}\n")
