"""Account storage with the exact on-chain data layouts (system, SPL Token / Token-2022, Anchor)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount, TokenAccountState

from devchain.program import BPF_UPGRADEABLE_LOADER, SYSTEM_PROGRAM, TOKEN_2022_PROGRAM, TOKEN_PROGRAM

TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
TOKEN_ACCOUNT_LEN = 165
MINT_LEN = 82
#: Lamports per byte-year times two years, as the rent sysvar computes the exempt minimum.
_RENT_PER_BYTE = 3480 * 2


def rent_exempt(data_len: int) -> int:
    return (128 + data_len) * _RENT_PER_BYTE


@dataclass(slots=True)
class Account:
    lamports: int
    data: bytes
    owner: Pubkey
    executable: bool = False


def system_account(lamports: int) -> Account:
    return Account(lamports, b"", SYSTEM_PROGRAM)


def token_account(mint: Pubkey, owner: Pubkey, amount: int, program: Pubkey) -> Account:
    ta = TokenAccount(mint, owner, amount, None, TokenAccountState.Initialized, None, 0, None)
    return Account(rent_exempt(TOKEN_ACCOUNT_LEN), bytes(ta), program)


def mint_account(authority: Pubkey, supply: int, decimals: int, program: Pubkey) -> Account:
    return Account(rent_exempt(MINT_LEN), bytes(Mint(authority, supply, decimals, True, None)), program)


def program_account(programdata: Pubkey) -> Account:
    # UpgradeableLoaderState::Program { programdata_address }: u32 tag 2 + 32 bytes.
    data = struct.pack("<I", 2) + bytes(programdata)
    return Account(rent_exempt(len(data)), data, BPF_UPGRADEABLE_LOADER, executable=True)


def is_token_account(acc: Account) -> bool:
    return acc.owner in TOKEN_PROGRAMS and len(acc.data) >= TOKEN_ACCOUNT_LEN


def token_amount(acc: Account) -> int:
    return int(struct.unpack_from("<Q", acc.data, 64)[0])


def token_mint_owner(acc: Account) -> tuple[Pubkey, Pubkey]:
    return Pubkey.from_bytes(acc.data[0:32]), Pubkey.from_bytes(acc.data[32:64])


def set_token_amount(acc: Account, amount: int) -> None:
    if amount < 0:
        raise ValueError("token amount would go negative")
    acc.data = acc.data[:64] + struct.pack("<Q", amount) + acc.data[72:]


def mint_decimals(acc: Account) -> int:
    return acc.data[44]
