"""Decides the next transaction of the simulated workload, deterministically from one RNG.

The mix: matches are created (paid and free; SOL, USDC, PYUSD), players join, full matches
start and settle, stale ones are refunded, winners withdraw. A few calls are made to fail on
purpose with each Anchor error, and the wrapping varies (v0 with a lookup table, router CPI,
compute budget) so consumers meet what mainnet serves.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from solders.keypair import Keypair

from devchain.paid_match import SOL, Call, MatchState
from devchain.program import AUTHORITY, CRANK, PYUSD_MINT, USDC_MINT, pubkey_of

if TYPE_CHECKING:
    from devchain.chain import Chain, TxOptions

_SOL_FEES = [10_000_000, 50_000_000, 100_000_000, 500_000_000]
_TOKEN_FEES = [1_000_000, 5_000_000, 10_000_000, 25_000_000]
#: Transactions after which an unfilled open match is refunded.
_STALE_AFTER = 40


class Generator:
    def __init__(self, chain: Chain, rng: random.Random) -> None:
        self.chain = chain
        self.rng = rng
        self.n = 0
        # Keypair.pubkey() derives the key (~20 us): half the producer's time when called per
        # player per transaction (profiled, bench/sources.py). The players never change.
        self._players = [(pubkey_of(p), p) for p in chain.players]
        self._by_pubkey = dict(self._players)

    def _options(self, allow_router: bool) -> TxOptions:
        from devchain.chain import TxOptions

        r = self.rng
        opts = TxOptions(version_v0=r.random() < 0.5, via_router=allow_router and r.random() < 0.2)
        if r.random() < 0.3:
            opts.cu_limit = r.choice([100_000, 150_000, 300_000])
            if r.random() < 0.5:
                opts.cu_price = r.choice([1_000, 5_000, 25_000])
        return opts

    def _player(self) -> Keypair:
        return self.rng.choice(self.chain.players)

    def next(self) -> tuple[Call, TxOptions]:
        """The next call and how to wrap it."""
        self.n += 1
        r = self.rng
        prog = self.chain.program
        matches = list(prog.live.values())  # the finished ones are never picked
        open_ = [m for m in matches if m.status == "Open"]
        joinable = [m for m in open_ if len(m.players) < m.max_players]
        full = [m for m in open_ if len(m.players) >= m.max_players]
        running = [m for m in matches if m.status == "InProgress"]
        stale = [m for m in joinable if self.n - m.created_seq > _STALE_AFTER]
        credits = list(prog.credits.items())

        choices: list[tuple[str, float]] = [("create", 3.0 if len(open_) < 6 else 0.3)]
        if joinable:
            choices.append(("join", 8.0))
        if full:
            choices.append(("start", 4.0))
        if running:
            choices.append(("settle", 4.0))
        if stale:
            choices.append(("refund", 1.5))
        if credits:
            choices.append(("withdraw", 2.0))
        if open_ and matches:
            choices.append(("fail", 0.6))
        kind = r.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]

        if kind == "create":
            mint = r.choices([SOL, str(USDC_MINT), str(PYUSD_MINT)], weights=[4, 4, 2])[0]
            paid = r.random() < 0.8
            fee = r.choice(_SOL_FEES if mint == SOL else _TOKEN_FEES) if paid else 0
            call = prog.build_create_match(
                self._player(), mint, fee, r.randint(2, 6), self.chain.block_time(self.chain.slot), self.n
            )
            return call, self._options(False)
        if kind == "join":
            m = r.choice(joinable)
            player = self._pick_new_player(m)
            return prog.build_join_match(player, m.match_id, hook=r.random() < 0.15), self._options(True)
        if kind == "start":
            return prog.build_start_match(AUTHORITY, r.choice(full).match_id), self._options(False)
        if kind == "settle":
            m = r.choice(running)
            payer = CRANK if r.random() < 0.5 else AUTHORITY
            return prog.build_settle_match(payer, AUTHORITY, m.match_id, r.choice(m.players)), self._options(
                False
            )
        if kind == "refund":
            return prog.build_refund_match(AUTHORITY, r.choice(stale).match_id), self._options(False)
        if kind == "withdraw":
            (user, mint), amount = r.choice(credits)
            part = amount if r.random() < 0.6 else max(1, amount // 2)
            return prog.build_withdraw(self._keypair_of(user), mint, part), self._options(False)
        return self._failing(open_, running, full, credits), self._options(False)

    def _failing(
        self,
        open_: list[MatchState],
        running: list[MatchState],
        full: list[MatchState],
        credits: Sequence[object],
    ) -> Call:
        """A call that fails with an Anchor error, as bots and impatient users cause."""
        r = self.rng
        prog = self.chain.program
        options = ["not_open", "unauthorized", "insufficient"]
        if full:
            options.append("full")
        if running:
            options += ["invalid_winner", "not_open"]
        what = r.choice(options)
        if what == "full":
            m = r.choice(full)
            return prog.build_join_match(self._pick_new_player(m), m.match_id, hook=False)
        if what == "not_open" and running:
            m = r.choice(running)
            return prog.build_join_match(self._pick_new_player(m), m.match_id, hook=False)
        if what == "invalid_winner":
            m = r.choice(running)
            outsider = next(p for p in self.chain.players if pubkey_of(p) not in m.players)
            return prog.build_settle_match(AUTHORITY, AUTHORITY, m.match_id, pubkey_of(outsider))
        if what == "unauthorized":
            return prog.build_start_match(self._player(), r.choice(open_).match_id)
        # Withdraw more than was ever won.
        player = self._player()
        mint = r.choice([SOL, str(USDC_MINT)])
        return prog.build_withdraw(player, mint, prog.credits.get((pubkey_of(player), mint), 0) + 1_000_000)

    def spike_withdrawal(self) -> Call | None:
        """One withdrawal of part of a winner's prize (for ``withdrawal_spike``), if any remain."""
        credits = list(self.chain.program.credits.items())
        if not credits:
            return None
        (user, mint), amount = self.rng.choice(credits)
        return self.chain.program.build_withdraw(self._keypair_of(user), mint, max(1, amount // 4))

    def _pick_new_player(self, m: MatchState) -> Keypair:
        candidates = [p for key, p in self._players if key not in m.players]
        return self.rng.choice(candidates)

    def _keypair_of(self, user: object) -> Keypair:
        return self._by_pubkey[user]  # type: ignore[index]
