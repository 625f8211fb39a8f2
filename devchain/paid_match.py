"""The reference Anchor program ``paid_match``: state, instruction building and execution.

Each ``build_*`` returns a ``Call``: the top-level instruction (so the message can be compiled
and signed before execution) and ``run(trace)``, which checks everything first and only then
moves money, so a failed instruction leaves state untouched (the runtime would roll it back).
"""

from __future__ import annotations

import base64
import heapq
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from devchain.accounts import Account, rent_exempt, set_token_amount, token_account, token_amount
from devchain.program import (
    AUTHORITY,
    BORSH,
    CONFIG_PDA,
    CONFIG_SPACE,
    ERRORS,
    ESCROW_SOL,
    ESCROW_TOKEN,
    EVENT_AUTHORITY,
    FEE_TOKEN,
    HOOK_ID,
    MATCH_SPACE,
    MINT_DECIMALS,
    NATIVE_MINT,
    PROGRAM_ID,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM_OF,
    TREASURY_SOL,
    discriminator,
    match_pda,
    pubkey_of,
)
from devchain.trace import ProgramError, Trace

#: Anchor's ``EVENT_IX_TAG_LE``: the first 8 bytes of an ``emit_cpi!`` self-invocation.
EVENT_IX_TAG = bytes.fromhex("e445a52e51cb9a1d")
SOL = str(NATIVE_MINT)
_SOURCE = {
    "create_match": "programs/paid_match/src/instructions/create_match.rs:31",
    "join_match": "programs/paid_match/src/instructions/join_match.rs:42",
    "start_match": "programs/paid_match/src/instructions/start_match.rs:19",
    "settle_match": "programs/paid_match/src/instructions/settle_match.rs:57",
    "refund_match": "programs/paid_match/src/instructions/refund_match.rs:28",
    "withdraw": "programs/paid_match/src/instructions/withdraw.rs:35",
    "pause": "programs/paid_match/src/instructions/admin.rs:14",
    "resume": "programs/paid_match/src/instructions/admin.rs:27",
    "sweep_fees": "programs/paid_match/src/instructions/sweep_fees.rs:24",
}


def _camel(snake: str) -> str:
    return "".join(p.capitalize() for p in snake.split("_"))


@dataclass
class MatchState:
    match_id: int
    creator: Pubkey
    mint: str
    entry_fee: int
    max_players: int
    players: list[Pubkey]
    status: str
    created_at: int
    created_seq: int


@dataclass
class Emitted:
    """An event the program emitted in a successful instruction (for ground truth and listeners)."""

    name: str
    fields: dict[str, Any]
    via_cpi: bool


@dataclass
class Call:
    name: str
    ix: Instruction
    signers: list[Keypair]  # the first one pays the fee
    run: Callable[[Trace], None]


@dataclass
class PaidMatch:
    accounts: dict[Pubkey, Account]
    authority: Pubkey = pubkey_of(AUTHORITY)
    fee_bps: int = 250
    paused: bool = False
    match_count: int = 0
    matches: dict[int, MatchState] = field(default_factory=dict)
    #: Prizes credited to winners, withdrawable: (user, mint) -> raw amount.
    credits: dict[tuple[Pubkey, str], int] = field(default_factory=dict)
    emitted: list[Emitted] = field(default_factory=list)
    #: The matches not finished (Settled or Cancelled), in creation order: what the generator
    #: picks from, without walking the thousands of finished ones kept per transaction.
    live: dict[int, MatchState] = field(default_factory=dict)
    #: Ids of the finished matches still kept (a min-heap: the oldest is pruned first).
    finished: list[int] = field(default_factory=list)

    # ---- account data -------------------------------------------------------------------
    def write_config(self) -> None:
        body = BORSH.encode(
            "PlatformConfig",
            {
                "authority": self.authority,
                "treasury": TREASURY_SOL,
                "fee_bps": self.fee_bps,
                "paused": self.paused,
                "match_count": self.match_count,
            },
        )
        data = discriminator("account", "PlatformConfig") + body
        self.accounts[CONFIG_PDA] = Account(
            rent_exempt(CONFIG_SPACE), data.ljust(CONFIG_SPACE, b"\0"), PROGRAM_ID
        )

    def _write_match(self, m: MatchState) -> None:
        body = BORSH.encode(
            "Match",
            {
                "match_id": m.match_id,
                "creator": m.creator,
                "mint": m.mint,
                "entry_fee": m.entry_fee,
                "pot": m.entry_fee * len(m.players) if m.status in ("Open", "InProgress", "Paused") else 0,
                "max_players": m.max_players,
                "players": m.players,
                "status": m.status,
                "created_at": m.created_at,
            },
        )
        data = (discriminator("account", "Match") + body).ljust(MATCH_SPACE, b"\0")
        self.accounts[match_pda(m.match_id)] = Account(rent_exempt(MATCH_SPACE), data, PROGRAM_ID)

    def forget_match(self, match_id: int) -> None:
        """Drop a finished match from memory (bounded state); its account disappears too."""
        self.matches.pop(match_id, None)
        self.live.pop(match_id, None)
        self.accounts.pop(match_pda(match_id), None)

    def prune_finished(self, keep: int) -> None:
        """Forget the oldest finished matches beyond ``keep``."""
        while len(self.finished) > keep:
            self.forget_match(heapq.heappop(self.finished))

    def _finish(self, m: MatchState, status: str) -> None:
        m.status = status
        if self.live.pop(m.match_id, None) is not None:
            heapq.heappush(self.finished, m.match_id)

    # ---- helpers --------------------------------------------------------------------------
    def _ix(self, name: str, args: bytes, metas: list[AccountMeta]) -> Instruction:
        return Instruction(PROGRAM_ID, discriminator("global", name) + args, metas)

    def _fail(self, ix_name: str, err: str) -> ProgramError:
        code, msg = ERRORS[err]
        return ProgramError(err, code, msg, _SOURCE[ix_name])

    def _emit(self, t: Trace, name: str, fields: dict[str, Any]) -> None:
        payload = discriminator("event", name) + BORSH.encode(name, fields)
        t.log("Program data: " + base64.b64encode(payload).decode())
        self.emitted.append(Emitted(name, fields, via_cpi=False))

    def _emit_cpi(self, t: Trace, name: str, fields: dict[str, Any]) -> None:
        payload = EVENT_IX_TAG + discriminator("event", name) + BORSH.encode(name, fields)
        ix = Instruction(PROGRAM_ID, payload, [AccountMeta(EVENT_AUTHORITY, True, False)])
        t.enter(PROGRAM_ID, ix)
        t.consume(1_000 + len(payload) * 3)
        t.exit_ok()
        self.emitted.append(Emitted(name, fields, via_cpi=True))

    def _start(self, t: Trace, name: str) -> None:
        t.log(f"Program log: Instruction: {_camel(name)}")
        t.consume(2_500)

    def _check_not_paused(self, ix_name: str) -> None:
        if self.paused:
            raise self._fail(ix_name, "ProgramPaused")

    def _transfer(
        self, t: Trace, mint: str, src: Pubkey, dst: Pubkey, authority: Pubkey, amount: int
    ) -> None:
        """Move ``amount`` via a System or Token CPI, updating the accounts."""
        if amount == 0:
            return
        if mint == SOL:
            data = struct.pack("<IQ", 2, amount)
            ix = Instruction(
                SYSTEM_PROGRAM, data, [AccountMeta(src, True, True), AccountMeta(dst, False, True)]
            )
            t.cpi(ix, [], 0)
            self.accounts[src].lamports -= amount
            self.accounts[dst].lamports += amount
            return
        program = TOKEN_PROGRAM_OF[mint]
        mint_pk = Pubkey.from_string(mint)
        data = bytes([12]) + struct.pack("<QB", amount, MINT_DECIMALS[mint])
        metas = [
            AccountMeta(src, False, True),
            AccountMeta(mint_pk, False, False),
            AccountMeta(dst, False, True),
            AccountMeta(authority, True, False),
        ]
        t.cpi(Instruction(program, data, metas), ["Program log: Instruction: TransferChecked"], 6_200)
        set_token_amount(self.accounts[src], token_amount(self.accounts[src]) - amount)
        set_token_amount(self.accounts[dst], token_amount(self.accounts[dst]) + amount)

    def balance_of(self, owner: Pubkey, mint: str) -> int:
        """A wallet's spendable balance in ``mint`` (lamports or its associated token account)."""
        if mint == SOL:
            acc = self.accounts.get(owner)
            return acc.lamports if acc else 0
        acc = self.accounts.get(wallet_token_account(owner, mint))
        return token_amount(acc) if acc else 0

    def _escrow(self, mint: str) -> Pubkey:
        return ESCROW_SOL if mint == SOL else ESCROW_TOKEN[mint]

    def _money_metas(self, mint: str, wallet: Pubkey | None) -> list[AccountMeta]:
        """mint, wallet token account (optional), escrow, token program, system program."""
        escrow = self._escrow(mint)
        token_prog = TOKEN_PROGRAM_OF.get(mint, PROGRAM_ID)  # Anchor passes the program id for None
        wallet_tok = wallet_token_account(wallet, mint) if wallet is not None and mint != SOL else PROGRAM_ID
        return [
            AccountMeta(Pubkey.from_string(mint), False, False),
            AccountMeta(wallet_tok, False, wallet_tok != PROGRAM_ID),
            AccountMeta(escrow, False, True),
            AccountMeta(token_prog, False, False),
            AccountMeta(SYSTEM_PROGRAM, False, False),
        ]

    # ---- instructions ---------------------------------------------------------------------
    def build_create_match(
        self, creator: Keypair, mint: str, entry_fee: int, max_players: int, now: int, seq: int
    ) -> Call:
        match_id = self.match_count
        m_pda = match_pda(match_id)
        metas = [
            AccountMeta(pubkey_of(creator), True, True),
            AccountMeta(CONFIG_PDA, False, True),
            AccountMeta(m_pda, False, True),
            AccountMeta(Pubkey.from_string(mint), False, False),
            AccountMeta(SYSTEM_PROGRAM, False, False),
        ]
        ix = self._ix("create_match", struct.pack("<QB", entry_fee, max_players), metas)

        def run(t: Trace) -> None:
            self._start(t, "create_match")
            self._check_not_paused("create_match")
            rent = rent_exempt(MATCH_SPACE)
            if self.accounts[pubkey_of(creator)].lamports < rent:
                raise self._fail("create_match", "InsufficientFunds")
            data = struct.pack("<IQQ", 0, rent, MATCH_SPACE) + bytes(PROGRAM_ID)
            create = Instruction(
                SYSTEM_PROGRAM,
                data,
                [AccountMeta(pubkey_of(creator), True, True), AccountMeta(m_pda, True, True)],
            )
            t.cpi(create, [], 0)
            self.accounts[pubkey_of(creator)].lamports -= rent
            self.match_count += 1
            m = MatchState(match_id, pubkey_of(creator), mint, entry_fee, max_players, [], "Open", now, seq)
            self.matches[match_id] = m
            self.live[match_id] = m
            self._write_match(m)
            self.write_config()
            fields = {
                "match_id": match_id,
                "creator": pubkey_of(creator),
                "mint": Pubkey.from_string(mint),
                "entry_fee": entry_fee,
                "max_players": max_players,
                "paid": entry_fee > 0,
            }
            self._emit(t, "MatchCreated", fields)
            t.consume(9_000)

        return Call("create_match", ix, [creator], run)

    def build_join_match(self, player: Keypair, match_id: int, hook: bool) -> Call:
        m = self.matches[match_id]
        metas = [
            AccountMeta(pubkey_of(player), True, True),
            AccountMeta(CONFIG_PDA, False, False),
            AccountMeta(match_pda(match_id), False, True),
            *self._money_metas(m.mint, pubkey_of(player)),
            AccountMeta(HOOK_ID if hook else PROGRAM_ID, False, False),
        ]
        ix = self._ix("join_match", struct.pack("<Q", match_id), metas)

        def run(t: Trace) -> None:
            self._start(t, "join_match")
            self._check_not_paused("join_match")
            if m.status != "Open":
                raise self._fail("join_match", "MatchNotOpen")
            if len(m.players) >= m.max_players:
                raise self._fail("join_match", "MatchFull")
            if self.balance_of(pubkey_of(player), m.mint) < m.entry_fee + (10_000 if m.mint == SOL else 0):
                raise self._fail("join_match", "InsufficientFunds")
            src = pubkey_of(player) if m.mint == SOL else wallet_token_account(pubkey_of(player), m.mint)
            self._transfer(t, m.mint, src, self._escrow(m.mint), pubkey_of(player), m.entry_fee)
            if hook:
                # A third-party hook that logs data starting with *our* event discriminator:
                # decoders must attribute "Program data:" lines by the invoke stack, not by prefix.
                fake = {
                    "match_id": match_id,
                    "player": pubkey_of(player),
                    "mint": Pubkey.from_string(m.mint),
                    "amount": 999_999_999_999,
                }
                payload = discriminator("event", "PlayerJoined") + BORSH.encode("PlayerJoined", fake)
                notify = Instruction(HOOK_ID, b"\x07notify", [AccountMeta(pubkey_of(player), False, False)])
                t.cpi(
                    notify,
                    [
                        "Program log: Instruction: Notify",
                        "Program data: " + base64.b64encode(payload).decode(),
                    ],
                    3_100,
                )
            m.players.append(pubkey_of(player))
            self._write_match(m)
            amount = m.entry_fee
            self._emit(
                t,
                "PlayerJoined",
                {
                    "match_id": match_id,
                    "player": pubkey_of(player),
                    "mint": Pubkey.from_string(m.mint),
                    "amount": amount,
                },
            )
            t.consume(7_000)

        return Call("join_match", ix, [player], run)

    def _authority_metas(self, signer: Pubkey, match_id: int) -> list[AccountMeta]:
        return [
            AccountMeta(signer, True, False),
            AccountMeta(CONFIG_PDA, False, False),
            AccountMeta(match_pda(match_id), False, True),
        ]

    def _check_authority(self, ix_name: str, signer: Pubkey) -> None:
        if signer != self.authority:
            raise self._fail(ix_name, "Unauthorized")

    def build_start_match(self, signer: Keypair, match_id: int) -> Call:
        m = self.matches[match_id]
        ix = self._ix(
            "start_match", struct.pack("<Q", match_id), self._authority_metas(pubkey_of(signer), match_id)
        )

        def run(t: Trace) -> None:
            self._start(t, "start_match")
            self._check_not_paused("start_match")
            self._check_authority("start_match", pubkey_of(signer))
            if m.status != "Open":
                raise self._fail("start_match", "MatchNotOpen")
            m.status = "InProgress"
            self._write_match(m)
            self._emit(t, "MatchStarted", {"match_id": match_id, "players": len(m.players)})
            t.consume(3_000)

        return Call("start_match", ix, [signer], run)

    def build_settle_match(self, payer: Keypair, signer: Keypair, match_id: int, winner: Pubkey) -> Call:
        m = self.matches[match_id]
        fee_acc = TREASURY_SOL if m.mint == SOL else FEE_TOKEN[m.mint]
        mint_m, _, escrow_m, token_m, system_m = self._money_metas(m.mint, None)
        metas = [
            *self._authority_metas(pubkey_of(signer), match_id),
            mint_m,
            escrow_m,
            AccountMeta(fee_acc, False, True),
            token_m,
            system_m,
            AccountMeta(EVENT_AUTHORITY, False, False),
            AccountMeta(PROGRAM_ID, False, False),
        ]
        ix = self._ix("settle_match", struct.pack("<Q", match_id) + bytes(winner), metas)

        def run(t: Trace) -> None:
            self._start(t, "settle_match")
            self._check_not_paused("settle_match")
            self._check_authority("settle_match", pubkey_of(signer))
            if m.status != "InProgress":
                raise self._fail("settle_match", "MatchNotOpen")
            if winner not in m.players:
                raise self._fail("settle_match", "InvalidWinner")
            pot = m.entry_fee * len(m.players)
            fee = pot * self.fee_bps // 10_000
            prize = pot - fee
            self._transfer(t, m.mint, self._escrow(m.mint), fee_acc, CONFIG_PDA, fee)
            if prize:
                key = (winner, m.mint)
                self.credits[key] = self.credits.get(key, 0) + prize
            self._finish(m, "Settled")
            self._write_match(m)
            fields = {
                "match_id": match_id,
                "winner": winner,
                "mint": Pubkey.from_string(m.mint),
                "prize": prize,
                "fee": fee,
            }
            self._emit_cpi(t, "MatchSettled", fields)
            t.consume(6_000)

        signers = [payer, signer] if pubkey_of(payer) != pubkey_of(signer) else [signer]
        return Call("settle_match", ix, signers, run)

    def build_refund_match(self, signer: Keypair, match_id: int) -> Call:
        m = self.matches[match_id]
        metas = [
            *self._authority_metas(pubkey_of(signer), match_id),
            *[x for i, x in enumerate(self._money_metas(m.mint, None)) if i != 1],
        ]
        # Remaining accounts: where each player's refund goes.
        for p in m.players:
            metas.append(AccountMeta(p if m.mint == SOL else wallet_token_account(p, m.mint), False, True))
        ix = self._ix("refund_match", struct.pack("<Q", match_id), metas)

        def run(t: Trace) -> None:
            self._start(t, "refund_match")
            self._check_not_paused("refund_match")
            self._check_authority("refund_match", pubkey_of(signer))
            if m.status != "Open":
                raise self._fail("refund_match", "MatchNotOpen")
            for p in m.players:
                dst = p if m.mint == SOL else wallet_token_account(p, m.mint)
                self._transfer(t, m.mint, self._escrow(m.mint), dst, CONFIG_PDA, m.entry_fee)
                fields = {
                    "match_id": match_id,
                    "player": p,
                    "mint": Pubkey.from_string(m.mint),
                    "amount": m.entry_fee,
                }
                self._emit(t, "MatchRefunded", fields)
                t.consume(1_500)
            self._finish(m, "Cancelled")
            self._write_match(m)

        return Call("refund_match", ix, [signer], run)

    def build_withdraw(self, user: Keypair, mint: str, amount: int) -> Call:
        metas = [
            AccountMeta(pubkey_of(user), True, True),
            AccountMeta(CONFIG_PDA, False, False),
            *self._money_metas(mint, pubkey_of(user)),
            AccountMeta(EVENT_AUTHORITY, False, False),
            AccountMeta(PROGRAM_ID, False, False),
        ]
        # _money_metas starts with the mint, then the user's token account, then the escrow:
        # the IDL orders them mint, escrow, user_token, so swap to match it.
        metas[3], metas[4] = metas[4], metas[3]
        ix = self._ix("withdraw", struct.pack("<Q", amount), metas)

        def run(t: Trace) -> None:
            self._start(t, "withdraw")
            self._check_not_paused("withdraw")
            key = (pubkey_of(user), mint)
            if amount == 0 or self.credits.get(key, 0) < amount:
                raise self._fail("withdraw", "InsufficientFunds")
            dst = pubkey_of(user) if mint == SOL else wallet_token_account(pubkey_of(user), mint)
            self._transfer(t, mint, self._escrow(mint), dst, CONFIG_PDA, amount)
            self.credits[key] -= amount
            if self.credits[key] == 0:
                del self.credits[key]
            self._emit_cpi(
                t,
                "WithdrawalProcessed",
                {"user": pubkey_of(user), "mint": Pubkey.from_string(mint), "amount": amount},
            )
            t.consume(4_000)

        return Call("withdraw", ix, [user], run)

    def build_pause(self, signer: Keypair, reason: Any) -> Call:
        metas = [AccountMeta(pubkey_of(signer), True, False), AccountMeta(CONFIG_PDA, False, True)]
        ix = self._ix("pause", BORSH._encode({"defined": {"name": "PauseReason"}}, reason), metas)

        def run(t: Trace) -> None:
            self._start(t, "pause")
            self._check_authority("pause", pubkey_of(signer))
            self.paused = True
            self.write_config()
            self._emit(t, "ProgramPaused", {"authority": pubkey_of(signer), "reason": reason})

        return Call("pause", ix, [signer], run)

    def build_resume(self, signer: Keypair) -> Call:
        metas = [AccountMeta(pubkey_of(signer), True, False), AccountMeta(CONFIG_PDA, False, True)]
        ix = self._ix("resume", b"", metas)

        def run(t: Trace) -> None:
            self._start(t, "resume")
            self._check_authority("resume", pubkey_of(signer))
            self.paused = False
            self.write_config()
            self._emit(t, "ProgramResumed", {"authority": pubkey_of(signer)})

        return Call("resume", ix, [signer], run)

    def build_sweep_fees(self, signer: Keypair, mint: str, amount: int) -> Call:
        """The authority moves ``amount`` of collected fees in ``mint`` out of the program's fee
        wallet to its own wallet (a planned sweep); it emits ``FeesSwept``. Allowed while paused:
        sweeping is an operator action, not a player's."""
        fee_account, destination = FEE_TOKEN[mint], wallet_token_account(pubkey_of(signer), mint)
        metas = [
            AccountMeta(pubkey_of(signer), True, False),
            AccountMeta(CONFIG_PDA, False, False),
            AccountMeta(Pubkey.from_string(mint), False, False),
            AccountMeta(fee_account, False, True),
            AccountMeta(destination, False, True),
            AccountMeta(TOKEN_PROGRAM_OF[mint], False, False),
        ]
        ix = self._ix("sweep_fees", struct.pack("<Q", amount), metas)

        def run(t: Trace) -> None:
            self._start(t, "sweep_fees")
            self._check_authority("sweep_fees", pubkey_of(signer))
            if amount == 0 or token_amount(self.accounts[fee_account]) < amount:
                raise self._fail("sweep_fees", "InsufficientFunds")
            self._transfer(t, mint, fee_account, destination, CONFIG_PDA, amount)
            self._emit(
                t,
                "FeesSwept",
                {
                    "authority": pubkey_of(signer),
                    "mint": Pubkey.from_string(mint),
                    "amount": amount,
                    "destination": destination,
                },
            )

        return Call("sweep_fees", ix, [signer], run)


_ATA_CACHE: dict[tuple[Pubkey, str], Pubkey] = {}


def wallet_token_account(owner: Pubkey, mint: str) -> Pubkey:
    """The wallet's associated token account for ``mint`` (under the mint's token program)."""
    key = (owner, mint)
    if key not in _ATA_CACHE:
        _ATA_CACHE[key] = get_associated_token_address(
            owner, Pubkey.from_string(mint), TOKEN_PROGRAM_OF[mint]
        )
    return _ATA_CACHE[key]


def new_wallet_token_account(owner: Pubkey, mint: str, amount: int) -> Account:
    return token_account(Pubkey.from_string(mint), owner, amount, TOKEN_PROGRAM_OF[mint])
