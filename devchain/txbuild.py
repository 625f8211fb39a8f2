"""Compile, sign and render transactions exactly like ``getTransaction`` with ``encoding: json``."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageHeader, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from devchain.accounts import Account, is_token_account, token_amount, token_mint_owner
from devchain.b58 import b58encode
from devchain.program import MINT_DECIMALS, pubkey_of

LAMPORTS_PER_SIGNATURE = 5_000


def lookup_table_data(authority: Pubkey, addresses: list[Pubkey]) -> bytes:
    """``AddressLookupTable`` account data: 56-byte meta (never deactivated) + addresses."""
    meta = struct.pack("<IQQB", 1, 2**64 - 1, 0, 0) + b"\x01" + bytes(authority) + b"\0\0"
    return meta + b"".join(bytes(a) for a in addresses)


@dataclass
class Compiled:
    tx: Transaction | VersionedTransaction
    signature: str
    keys: list[Pubkey]  # static keys, then loaded writable, then loaded readonly
    loaded_writable: list[Pubkey]
    loaded_readonly: list[Pubkey]
    message_json: dict[str, Any]
    num_signatures: int
    version: int | str


def _sign(
    data: bytes, static: list[Pubkey], header: MessageHeader, signers: list[Keypair]
) -> list[Signature]:
    """One signature per required signer, in the message's order. The same bytes as
    ``Transaction(signers, ...)``, which derives each signer's public key twice more (half of
    its 86 us per signer on this machine); ed25519 signatures are deterministic."""
    by_key = {pubkey_of(k): k for k in signers}
    sigs = []
    for key in static[: header.num_required_signatures]:
        signer = by_key.get(key)
        if signer is None:
            raise ValueError(f"no keypair among the signers for required signer {key}")
        sigs.append(signer.sign_message(data))
    return sigs


def compile_and_sign(
    instructions: list[Instruction],
    signers: list[Keypair],
    blockhash: Hash,
    lookup: AddressLookupTableAccount | None,
) -> Compiled:
    payer = pubkey_of(signers[0])
    tx: Transaction | VersionedTransaction
    loaded_w: list[Pubkey] = []
    loaded_r: list[Pubkey] = []
    if lookup is None:
        msg = Message.new_with_blockhash(instructions, payer, blockhash)
        static = list(msg.account_keys)
        tx = Transaction.populate(msg, _sign(bytes(msg), static, msg.header, signers))
        compiled = msg.instructions
        header = msg.header
        version: int | str = "legacy"
        extra: dict[str, Any] = {}
    else:
        msg0 = MessageV0.try_compile(payer, instructions, [lookup], blockhash)
        static = list(msg0.account_keys)
        tx = VersionedTransaction.populate(
            msg0, _sign(to_bytes_versioned(msg0), static, msg0.header, signers)
        )
        compiled = msg0.instructions
        header = msg0.header
        version = 0
        lookups = []
        for lk in msg0.address_table_lookups:
            loaded_w += [lookup.addresses[i] for i in bytes(lk.writable_indexes)]
            loaded_r += [lookup.addresses[i] for i in bytes(lk.readonly_indexes)]
            lookups.append(
                {
                    "accountKey": str(lk.account_key),
                    "readonlyIndexes": list(bytes(lk.readonly_indexes)),
                    "writableIndexes": list(bytes(lk.writable_indexes)),
                }
            )
        extra = {"addressTableLookups": lookups}
    message_json = {
        "accountKeys": [str(k) for k in static],
        "header": {
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            "numRequiredSignatures": header.num_required_signatures,
        },
        "instructions": [
            {
                "accounts": list(bytes(ci.accounts)),
                "data": b58encode(bytes(ci.data)),
                "programIdIndex": ci.program_id_index,
                "stackHeight": None,
            }
            for ci in compiled
        ],
        "recentBlockhash": str(blockhash),
        **extra,
    }
    return Compiled(
        tx=tx,
        signature=str(tx.signatures[0]),
        keys=static + loaded_w + loaded_r,
        loaded_writable=loaded_w,
        loaded_readonly=loaded_r,
        message_json=message_json,
        num_signatures=header.num_required_signatures,
        version=version,
    )


def inner_instruction_json(ix: Instruction, stack_height: int, index_of: dict[Pubkey, int]) -> dict[str, Any]:
    return {
        "accounts": [index_of[m.pubkey] for m in ix.accounts],
        "data": b58encode(bytes(ix.data)),
        "programIdIndex": index_of[ix.program_id],
        "stackHeight": stack_height,
    }


def ui_amount_string(raw: int, decimals: int) -> str:
    text = format(Decimal(raw).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def ui_token_amount(raw: int, decimals: int) -> dict[str, Any]:
    return {
        "amount": str(raw),
        "decimals": decimals,
        "uiAmount": raw / 10**decimals if raw else None,
        "uiAmountString": ui_amount_string(raw, decimals),
    }


def token_balances(keys: list[Pubkey], accounts: dict[Pubkey, Account]) -> list[dict[str, Any]]:
    out = []
    for i, k in enumerate(keys):
        acc = accounts.get(k)
        if acc is None or not is_token_account(acc):
            continue
        mint, owner = token_mint_owner(acc)
        out.append(
            {
                "accountIndex": i,
                "mint": str(mint),
                "owner": str(owner),
                "programId": str(acc.owner),
                "uiTokenAmount": ui_token_amount(token_amount(acc), MINT_DECIMALS.get(str(mint), 0)),
            }
        )
    return out
