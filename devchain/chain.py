"""The in-memory chain: accounts, slots, transaction history, ground truth and listeners.

``Chain.step(n)`` produces ``n`` generator transactions deterministically (no wall clock when
``genesis_time`` is given); ``Chain.sync_clock(now)`` moves slots forward in real time (~400 ms per
slot) for the live server. ``Chain.state()`` is the ground truth an observer of the served
transactions would count.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import struct
import time
import zlib
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from devchain.accounts import (
    Account,
    mint_account,
    program_account,
    rent_exempt,
    set_token_amount,
    system_account,
    token_account,
    token_amount,
)
from devchain.events import BusinessEvent, Listener
from devchain.generator import Generator
from devchain.paid_match import SOL, Call, Emitted, PaidMatch, new_wallet_token_account, wallet_token_account
from devchain.program import (
    ALT_PROGRAM,
    AUTHORITY,
    COMPUTE_BUDGET_PROGRAM,
    CONFIG_PDA,
    CRANK,
    ESCROW_NAME_OF_MINT,
    ESCROW_SOL,
    ESCROW_TOKEN,
    EVENT_AUTHORITY,
    FEE_TOKEN,
    HOOK_ID,
    LOOKUP_TABLE,
    MATCH_STATUSES,
    MINT_AUTHORITY,
    MINT_DECIMALS,
    NATIVE_MINT,
    PROGRAM_ID,
    PYUSD_MINT,
    ROUTER_ID,
    SYSTEM_PROGRAM,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    TOKEN_PROGRAM_OF,
    TREASURY_SOL,
    USDC_MINT,
    WATCHED,
    keypair,
    pubkey_of,
)
from devchain.trace import ProgramError, Trace
from devchain.txbuild import (
    LAMPORTS_PER_SIGNATURE,
    compile_and_sign,
    inner_instruction_json,
    lookup_table_data,
    token_balances,
)

log = logging.getLogger("devchain")

GENESIS_SLOT = 300_000_000
SLOT_SECONDS = 0.4
FINALIZED_DEPTH = 32
DEFAULT_CU_LIMIT = 200_000
N_PLAYERS = 32
#: Opening balances of the treasury and fee wallets: an operator funds them before launch, and
#: the demo must sit above the wallet floors of bundle/config.py (1 SOL, 100 token units) so a
#: healthy run fires no EscrowWalletBelowFloor. They are not escrow accounts: the books ignore them.
TREASURY_OPENING_LAMPORTS = 10 * 10**9
FEE_OPENING_TOKENS = 1_000 * 10**6
#: Finished matches kept as accounts; older ones are forgotten so memory stays bounded.
KEEP_FINISHED_MATCHES = 2_000
_AMOUNT_FIELDS = {
    "MatchCreated": ("entry_fee",),
    "PlayerJoined": ("amount",),
    "MatchSettled": ("prize", "fee"),
    "MatchRefunded": ("amount",),
    "WithdrawalProcessed": ("amount",),
    "FeesSwept": ("amount",),
}
_KIND = {
    "MatchCreated": "match_created",
    "PlayerJoined": "deposit",
    "MatchStarted": "match_started",
    "MatchSettled": "settlement",
    "MatchRefunded": "refund",
    "WithdrawalProcessed": "withdrawal",
    "ProgramPaused": "pause",
    "ProgramResumed": "resume",
    "FeesSwept": "fee_sweep",
}


@dataclass(slots=True)
class TxRecord:
    seq: int
    signature: str
    slot: int
    block_time: int
    err: Any
    blob: bytes  # zlib(JSON {"meta", "transaction", "version", "raw"}) keeps 200k transactions small


#: A recorded transaction, the addresses it mentions (its account keys) and its log lines.
TxListener = Callable[[TxRecord, list[str], list[str]], None]


@dataclass
class TxOptions:
    """How a generated call is wrapped: the noise real programs see."""

    version_v0: bool = False
    cu_limit: int | None = None
    cu_price: int | None = None  # micro-lamports per compute unit (priority fee)
    via_router: bool = False


def builtin_name(program: Pubkey) -> bytes:
    """Native programs hold their name as account data."""
    return b"system_program" if program == SYSTEM_PROGRAM else b"compute_budget_program"


class Chain:
    def __init__(
        self, seed: int = 0, genesis_time: float | None = None, history_limit: int = 200_000
    ) -> None:
        self.seed = seed
        self.genesis_time = time.time() if genesis_time is None else genesis_time
        self.slot = GENESIS_SLOT
        self.history_limit = history_limit
        self.accounts: dict[Pubkey, Account] = {}
        self.program = PaidMatch(self.accounts)
        self.players = [keypair(f"player/{i}") for i in range(N_PLAYERS)]
        self._listeners: list[Listener] = []
        #: Called with each recorded transaction, its account keys and log lines (PubSub feeds on it).
        self._tx_listeners: list[TxListener] = []
        self._records: dict[int, TxRecord] = {}
        self._seq_of: dict[str, int] = {}
        self._by_address: dict[str, list[int]] = {}
        self._next_seq = 0
        self.audit_gaps_requested = 0
        self._audit_gap_pending = False
        self._truth_events: dict[str, dict[str, Any]] = {
            n: {"count": 0, "amounts": {f: {} for f in _AMOUNT_FIELDS.get(n, ())}} for n in _KIND
        }
        self._tx_ok = 0
        self._tx_failed = 0
        self._tx_errors: dict[str, int] = {}
        #: Failed transactions by the program instruction a reader of the transaction can name: a
        #: routed call's is an inner instruction, which a failed transaction does not record.
        self._tx_failed_by_ix: dict[str, int] = {}
        self._fees = 0
        self.drained: dict[str, int] = {}
        #: Newest slot an RPC answer showed as complete; no transaction lands in it any more.
        self.sealed_slot = 0
        self._genesis()
        self.generator = Generator(self, random.Random(seed))

    # ---- genesis --------------------------------------------------------------------------
    def _genesis(self) -> None:
        a = self.accounts
        a[ESCROW_SOL] = system_account(rent_exempt(0))
        a[TREASURY_SOL] = system_account(rent_exempt(0) + TREASURY_OPENING_LAMPORTS)
        for mint in (USDC_MINT, PYUSD_MINT):
            program = TOKEN_PROGRAM_OF[str(mint)]
            a[ESCROW_TOKEN[str(mint)]] = token_account(mint, CONFIG_PDA, 0, program)
            a[FEE_TOKEN[str(mint)]] = token_account(mint, CONFIG_PDA, FEE_OPENING_TOKENS, program)
        a[NATIVE_MINT] = mint_account(SYSTEM_PROGRAM, 0, 9, TOKEN_PROGRAM)
        for pid in (PROGRAM_ID, ROUTER_ID, HOOK_ID):
            a[pid] = program_account(
                Pubkey.find_program_address(
                    [bytes(pid)], Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
                )[0]
            )
        native_loader = Pubkey.from_string("NativeLoader1111111111111111111111111111111")
        for builtin in (SYSTEM_PROGRAM, COMPUTE_BUDGET_PROGRAM):
            a[builtin] = Account(1, builtin_name(builtin), native_loader, executable=True)
        loader2 = Pubkey.from_string("BPFLoader2111111111111111111111111111111111")
        for token_prog in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
            a[token_prog] = Account(rent_exempt(134_080), b"", loader2, executable=True)
        a[pubkey_of(AUTHORITY)] = system_account(1_000 * 10**9)
        a[pubkey_of(CRANK)] = system_account(1_000 * 10**9)
        for mint in (USDC_MINT, PYUSD_MINT):  # where planned fee sweeps go
            a[wallet_token_account(pubkey_of(AUTHORITY), str(mint))] = new_wallet_token_account(
                pubkey_of(AUTHORITY), str(mint), 0
            )
        supply = FEE_OPENING_TOKENS  # the fee wallet's opening balance was minted too
        for p in self.players:
            a[pubkey_of(p)] = system_account(500 * 10**9)
            for mint in (USDC_MINT, PYUSD_MINT):
                a[wallet_token_account(pubkey_of(p), str(mint))] = new_wallet_token_account(
                    pubkey_of(p), str(mint), 100_000 * 10**6
                )
            supply += 100_000 * 10**6
        a[USDC_MINT] = mint_account(pubkey_of(MINT_AUTHORITY), supply, 6, TOKEN_PROGRAM)
        a[PYUSD_MINT] = mint_account(pubkey_of(MINT_AUTHORITY), supply, 6, TOKEN_2022_PROGRAM)
        lookup_addresses = [
            CONFIG_PDA,
            ESCROW_SOL,
            *ESCROW_TOKEN.values(),
            TREASURY_SOL,
            *FEE_TOKEN.values(),
            EVENT_AUTHORITY,
            USDC_MINT,
            PYUSD_MINT,
            TOKEN_PROGRAM,
            TOKEN_2022_PROGRAM,
            SYSTEM_PROGRAM,
        ]
        data = lookup_table_data(pubkey_of(AUTHORITY), lookup_addresses)
        a[LOOKUP_TABLE] = Account(rent_exempt(len(data)), data, ALT_PROGRAM)
        self.lookup = AddressLookupTableAccount(LOOKUP_TABLE, lookup_addresses)
        self.program.write_config()
        self.genesis_balances = {
            name: self._raw_balance(addr, mint) for name, (addr, mint) in WATCHED.items()
        }

    # ---- clock ----------------------------------------------------------------------------
    def block_time(self, slot: int) -> int:
        return int(self.genesis_time + (slot - GENESIS_SLOT) * SLOT_SECONDS)

    def blockhash(self, slot: int) -> Hash:
        return Hash(hashlib.sha256(b"devchain-blockhash" + struct.pack("<Q", slot)).digest())

    def sync_clock(self, now: float | None = None) -> None:
        """Advance slots to wall-clock time (never backwards)."""
        now = time.time() if now is None else now
        target = GENESIS_SLOT + int((now - self.genesis_time) / SLOT_SECONDS)
        self.slot = max(self.slot, target)

    def seal_slot(self, slot: int) -> None:
        """Close ``slot``: an answer with this context slot was served, so its state is final."""
        self.sealed_slot = max(self.sealed_slot, slot)

    def finalized_slot(self) -> int:
        return max(GENESIS_SLOT, self.slot - FINALIZED_DEPTH)

    # ---- listeners and actions ------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def add_tx_listener(self, fn: TxListener) -> None:
        self._tx_listeners.append(fn)

    def request_audit_gap(self) -> None:
        """Ask the ledger to skip writing one business event (it reads ``consume_audit_gap``)."""
        self.audit_gaps_requested += 1
        self._audit_gap_pending = True

    @property
    def audit_gap_pending(self) -> bool:
        return self._audit_gap_pending

    def consume_audit_gap(self) -> bool:
        pending, self._audit_gap_pending = self._audit_gap_pending, False
        return pending

    def drain_escrow(self, account: str, amount: int) -> int:
        """Move money out of a watched account with no transaction and no event (a fault)."""
        if account not in WATCHED:
            raise ValueError(f"unknown account {account!r}; known: {', '.join(WATCHED)}")
        addr, mint = WATCHED[account]
        acc = self.accounts[addr]
        if mint == SOL:
            amount = max(0, min(amount, acc.lamports - rent_exempt(0)))
            acc.lamports -= amount
        else:
            amount = max(0, min(amount, token_amount(acc)))
            set_token_amount(acc, token_amount(acc) - amount)
        self.drained[account] = self.drained.get(account, 0) + amount
        return amount

    def restore_escrow(self, account: str, amount: int | None = None) -> int:
        """Undo ``drain_escrow``: put back up to ``amount`` (default: all) of what was drained, again
        with no transaction, so the books and the chain agree once more (ends a drain fault)."""
        if account not in WATCHED:
            raise ValueError(f"unknown account {account!r}; known: {', '.join(WATCHED)}")
        drained = self.drained.get(account, 0)
        amount = drained if amount is None else max(0, min(amount, drained))
        addr, mint = WATCHED[account]
        acc = self.accounts[addr]
        if mint == SOL:
            acc.lamports += amount
        else:
            set_token_amount(acc, token_amount(acc) + amount)
        if drained - amount:
            self.drained[account] = drained - amount
        else:
            self.drained.pop(account, None)
        return amount

    def pause(self, reason: Any = None) -> str:
        return self.execute(
            self.program.build_pause(AUTHORITY, reason or {"Manual": ["operator"]}), TxOptions()
        )

    def resume(self) -> str:
        return self.execute(self.program.build_resume(AUTHORITY), TxOptions())

    def sweep_fees(self, account: str, amount: int | None = None) -> tuple[str, int]:
        """The operator's planned sweep of a fee wallet (default: all of it) by the program's
        ``sweep_fees`` instruction, which emits ``FeesSwept``: unlike ``drain_escrow``, a movement
        the books can account for. Returns the signature and the amount swept."""
        if account not in WATCHED or WATCHED[account][0] not in FEE_TOKEN.values():
            fees = [n for n, (addr, _) in WATCHED.items() if addr in FEE_TOKEN.values()]
            raise ValueError(f"{account!r} is not a fee wallet; fee wallets: {', '.join(fees)}")
        addr, mint = WATCHED[account]
        balance = token_amount(self.accounts[addr])
        amount = balance if amount is None else min(amount, balance)
        sig = self.execute(self.program.build_sweep_fees(AUTHORITY, mint, amount), TxOptions())
        return sig, amount

    def withdrawal_spike(self, count: int) -> list[str]:
        """Up to ``count`` successful withdrawals now (limited by prizes that can be withdrawn)."""
        sigs = []
        for _ in range(count):
            call = self.generator.spike_withdrawal()
            if call is None:
                break
            sigs.append(self.execute(call, TxOptions()))
        return sigs

    # ---- producing transactions -----------------------------------------------------------
    def step(self, n: int = 1, advance_slot: bool = True) -> list[str]:
        """Produce ``n`` generator transactions; each lands in a new slot when ``advance_slot``."""
        sigs = []
        for _ in range(n):
            if advance_slot:
                self.slot += 1
            call, opts = self.generator.next()
            sigs.append(self.execute(call, opts))
        return sigs

    def execute(self, call: Call, opts: TxOptions) -> str:
        if self.slot <= self.sealed_slot:
            self.slot = self.sealed_slot + 1
        top: list[Instruction] = []
        if opts.cu_limit is not None:
            top.append(set_compute_unit_limit(opts.cu_limit))
        if opts.cu_price is not None:
            top.append(set_compute_unit_price(opts.cu_price))
        if opts.via_router:
            metas = [*call.ix.accounts, AccountMeta(PROGRAM_ID, False, False)]
            top.append(Instruction(ROUTER_ID, b"\x01" + bytes(call.ix.data), metas))
        else:
            top.append(call.ix)
        # A validator rejects a signature it already processed, so a real client repeating the
        # same instruction in one slot signs with an older recent blockhash. The history must
        # never hold one signature twice: getTransaction and ``until`` look records up by it.
        age = 0
        while True:
            compiled = compile_and_sign(
                top,
                call.signers,
                self.blockhash(self.slot - age),
                self.lookup if opts.version_v0 else None,
            )
            if compiled.signature not in self._seq_of:
                break
            age += 1
        keys = compiled.keys
        index_of = {k: i for i, k in enumerate(keys)}
        pre_lamports = [self.accounts[k].lamports if k in self.accounts else 0 for k in keys]
        pre_tokens = token_balances(keys, self.accounts)

        # Without SetComputeUnitLimit the runtime grants 200k units per non-budget instruction.
        non_budget = sum(1 for ix in top if ix.program_id != COMPUTE_BUDGET_PROGRAM)
        cu_limit = opts.cu_limit if opts.cu_limit is not None else DEFAULT_CU_LIMIT * non_budget
        fee = compiled.num_signatures * LAMPORTS_PER_SIGNATURE
        if opts.cu_price is not None:
            fee += -(-opts.cu_price * cu_limit // 1_000_000)
        payer = pubkey_of(call.signers[0])
        self.accounts[payer].lamports -= fee

        trace = Trace(cu_limit=cu_limit)
        self.program.emitted = []
        inner: list[dict[str, Any]] = []
        err: Any = None
        for i, ix in enumerate(top):
            trace.inner = []
            try:
                if ix.program_id == COMPUTE_BUDGET_PROGRAM:
                    trace.enter(COMPUTE_BUDGET_PROGRAM)
                    trace.exit_ok()
                elif ix.program_id == ROUTER_ID:
                    trace.enter(ROUTER_ID)
                    trace.log("Program log: Instruction: Route")
                    trace.consume(1_800)
                    trace.enter(PROGRAM_ID, call.ix)
                    call.run(trace)
                    trace.exit_ok()
                    trace.consume(600)
                    trace.exit_ok()
                else:
                    trace.enter(PROGRAM_ID)
                    call.run(trace)
                    trace.exit_ok()
            except ProgramError as e:
                trace.log(
                    f"Program log: AnchorError thrown in {e.source_line}. Error Code: {e.name}. "
                    f"Error Number: {e.code}. Error Message: {e.msg}."
                )
                trace.consume(1_200)
                trace.unwind_error(e.code)
                err = {"InstructionError": [i, {"Custom": e.code}]}
                self._tx_errors[e.name] = self._tx_errors.get(e.name, 0) + 1
                break
            if trace.inner:
                inner.append(
                    {
                        "index": i,
                        "instructions": [inner_instruction_json(x, h, index_of) for x, h in trace.inner],
                    }
                )
        emitted = self.program.emitted if err is None else []
        if err is not None:
            inner = []
        meta = {
            "computeUnitsConsumed": trace.used,
            "err": err,
            "fee": fee,
            "innerInstructions": inner,
            "loadedAddresses": {
                "readonly": [str(k) for k in compiled.loaded_readonly],
                "writable": [str(k) for k in compiled.loaded_writable],
            },
            "logMessages": trace.logs,
            "postBalances": [self.accounts[k].lamports if k in self.accounts else 0 for k in keys],
            "postTokenBalances": token_balances(keys, self.accounts),
            "preBalances": pre_lamports,
            "preTokenBalances": pre_tokens,
            "rewards": [],
            "status": {"Ok": None} if err is None else {"Err": err},
        }
        doc = {
            "meta": meta,
            "transaction": {
                "message": compiled.message_json,
                "signatures": [str(s) for s in compiled.tx.signatures],
            },
            "version": compiled.version,
            "raw": base64.b64encode(bytes(compiled.tx)).decode(),
        }
        self._record(compiled.signature, err, doc, keys)
        self._fees += fee
        if err is None:
            self._tx_ok += 1
        else:
            self._tx_failed += 1
            routed = any(ix.program_id == ROUTER_ID for ix in top)
            named = "unknown" if routed else call.name
            self._tx_failed_by_ix[named] = self._tx_failed_by_ix.get(named, 0) + 1
        for ev in emitted:
            self._count_event(ev)
        for ev in emitted:
            self._notify(ev, compiled.signature)
        self._prune_matches()
        return compiled.signature

    def _record(self, sig: str, err: Any, doc: dict[str, Any], keys: list[Pubkey]) -> None:
        seq = self._next_seq
        self._next_seq += 1
        blob = zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 1)
        self._records[seq] = TxRecord(seq, sig, self.slot, self.block_time(self.slot), err, blob)
        self._seq_of[sig] = seq
        for k in dict.fromkeys(str(k) for k in keys):
            self._by_address.setdefault(k, []).append(seq)
        while len(self._records) > self.history_limit:
            oldest = next(iter(self._records))
            rec = self._records.pop(oldest)
            del self._seq_of[rec.signature]
        if seq % 4096 == 0:
            self._compact_index()
        addresses = [str(k) for k in keys]
        for fn in self._tx_listeners:
            try:
                fn(self._records[seq], addresses, doc["meta"]["logMessages"])
            except Exception:  # a broken subscriber must not stop the chain
                log.exception("devchain transaction listener failed on %s", sig)

    def _compact_index(self) -> None:
        low = next(iter(self._records), self._next_seq)
        for addr, seqs in self._by_address.items():
            if seqs and seqs[0] < low:
                self._by_address[addr] = seqs[bisect_left(seqs, low) :]

    def _count_event(self, ev: Emitted) -> None:
        truth = self._truth_events[ev.name]
        truth["count"] += 1
        for f in _AMOUNT_FIELDS.get(ev.name, ()):
            mint = str(ev.fields["mint"])
            truth["amounts"][f][mint] = truth["amounts"][f].get(mint, 0) + ev.fields[f]

    def _notify(self, ev: Emitted, sig: str) -> None:
        f = ev.fields
        match_id = f.get("match_id")
        mint = str(f["mint"]) if "mint" in f else None
        if mint is None and match_id is not None and match_id in self.program.matches:
            mint = self.program.matches[match_id].mint
        user = f.get("player") or f.get("winner") or f.get("user") or f.get("creator") or f.get("authority")
        amount = next((f[x] for x in ("amount", "prize", "entry_fee") if x in f), 0)
        event = BusinessEvent(
            kind=_KIND[ev.name],  # type: ignore[arg-type]
            signature=sig,
            slot=self.slot,
            block_time=self.block_time(self.slot),
            match_id=match_id,
            user=str(user) if user is not None else None,
            mint=mint,
            escrow_account=ESCROW_NAME_OF_MINT.get(mint) if mint else None,
            amount=amount,
            fee=f.get("fee", 0),
            paid=bool(f.get("paid", False)),
        )
        for fn in self._listeners:
            try:
                fn(event)
            except Exception:  # a broken listener must not stop the chain
                log.exception("devchain listener failed on %s", event.kind)

    def _prune_matches(self) -> None:
        self.program.prune_finished(KEEP_FINISHED_MATCHES)

    # ---- reading history ------------------------------------------------------------------
    def get_record(self, signature: str) -> TxRecord | None:
        seq = self._seq_of.get(signature)
        return None if seq is None else self._records.get(seq)

    @staticmethod
    def load(rec: TxRecord) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(zlib.decompress(rec.blob))
        return doc

    def signatures_for(
        self, address: str, before: str | None, until: str | None, limit: int, max_slot: int
    ) -> list[TxRecord] | None:
        """Newest first. ``None`` when ``before`` is unknown (the caller decides the error)."""
        seqs = self._by_address.get(address, [])
        hi = len(seqs)
        if before is not None:
            b = self._seq_of.get(before)
            if b is None:
                return None
            hi = bisect_left(seqs, b)
        stop = self._seq_of.get(until, -1) if until is not None else -1
        out: list[TxRecord] = []
        for idx in range(hi - 1, -1, -1):
            seq = seqs[idx]
            if seq <= stop or len(out) >= limit:
                break
            rec = self._records.get(seq)
            if rec is None:
                break  # evicted: older history is gone
            if rec.slot <= max_slot:
                out.append(rec)
        return out

    # ---- ground truth ---------------------------------------------------------------------
    def _raw_balance(self, addr: Pubkey, mint: str) -> int:
        acc = self.accounts.get(addr)
        if acc is None:
            return 0
        return acc.lamports if mint == SOL else token_amount(acc)

    def state(self) -> dict[str, Any]:
        balances = {}
        for name, (addr, mint) in WATCHED.items():
            raw = self._raw_balance(addr, mint)
            dec = MINT_DECIMALS[mint]
            balances[name] = {
                "address": str(addr),
                "mint": "SOL" if mint == SOL else mint,
                "raw": raw,
                "decimals": dec,
                "balance": raw / 10**dec,
                "genesis_raw": self.genesis_balances[name],
            }
        by_status = dict.fromkeys(MATCH_STATUSES, 0)
        pots: dict[str, int] = {}
        for m in self.program.matches.values():
            by_status[m.status] += 1
            if m.status in ("Open", "InProgress"):
                pots[m.mint] = pots.get(m.mint, 0) + m.entry_fee * len(m.players)
        credits: dict[str, int] = {}
        for (_, mint), amount in self.program.credits.items():
            credits[mint] = credits.get(mint, 0) + amount
        return {
            "slot": self.slot,
            "program_id": str(PROGRAM_ID),
            "paused": self.program.paused,
            "events": self._truth_events,
            "transactions": {
                "success": self._tx_ok,
                "failed": self._tx_failed,
                "errors": dict(self._tx_errors),
                "failed_by_instruction": dict(self._tx_failed_by_ix),
            },
            "fees_lamports": self._fees,
            "balances": balances,
            "matches": by_status,
            "open_pots": pots,
            "unwithdrawn_prizes": credits,
            "drained": dict(self.drained),
            "audit_gaps_requested": self.audit_gaps_requested,
            "history": {"transactions": len(self._records), "limit": self.history_limit},
        }
