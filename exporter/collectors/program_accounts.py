"""Program-account state: counts by an enum field, flags and sums of fields of Anchor accounts.

Per configured account type, one getProgramAccounts call filtered by the account's
discriminator (memcmp at offset 0) and, when the needed fields sit in a fixed-size prefix,
a dataSlice. Results become

* ``escrow_program_accounts{program,account,state}``: accounts per variant of ``count_by``
  (every variant listed, 0 included), or ``state="all"``; plus one series per ``flags`` field,
  ``state=<field>``: how many accounts have it true (1/0 for a singleton such as
  ``PlatformConfig.paused``);
* ``escrow_program_account_field_amount{program,account,field,mint}``: sums in whole units.

As for balances, a failed fetch keeps the last values for ``staleness_intervals`` intervals.
So does an account type with an account that cannot be decoded (data not base64, shorter than
the IDL says, unknown discriminator): a count that skips it, or the flag of an unreadable
``PlatformConfig``, would be a wrong figure (0 accounts, "not paused"). Such accounts count in
``escrow_program_accounts_undecodable_total`` and the cycle fails (``malformed_response`` when
the node's data is not base64, ``invalid_account_data`` when it does not decode with the IDL).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.anchor import DecodeError
from exporter.anchor.idl import enum_variants
from exporter.anchor.program import AnchorProgram
from exporter.collectors.base import Collector, CollectorError, SeriesCache
from exporter.collectors.program import SharedProgram
from exporter.config.program_idl import struct_fields
from exporter.config.programs import AccountTypeConfig, ProgramConfig, mint_decimals
from exporter.ingest.account_layout import AccountLayout, b58encode
from exporter.ingest.mapping import label_value
from exporter.rpc.errors import RpcError
from exporter.rpc.pool import RpcPool

ALL = "all"


class _AccountType:
    def __init__(self, program: AnchorProgram, cfg: AccountTypeConfig) -> None:
        self.cfg = cfg
        idl = program.idl
        fields = struct_fields(idl.accounts[cfg.account].typedef)
        needed = (
            set(cfg.flags) | {a.field for a in cfg.sums} | {a.mint_field for a in cfg.sums if a.mint_field}
        )
        if cfg.count_by:
            needed.add(cfg.count_by)
        self.layout = AccountLayout(program, cfg.account, needed)
        self.variants = (enum_variants(idl, fields.get(cfg.count_by)) or []) if cfg.count_by else [ALL]


@dataclass
class _Survey:
    """One account type's figures from one getProgramAccounts answer."""

    counts: dict[str, int]  # state -> accounts
    flags: dict[str, int]  # flag field -> accounts where it is true
    raw_sums: dict[tuple[str, str, int], int | float] = dataclasses.field(
        default_factory=lambda: defaultdict(int)
    )
    problems: dict[str, int] = dataclasses.field(
        default_factory=lambda: defaultdict(int)
    )  # fields not summed
    undecodable: dict[str, int] = dataclasses.field(
        default_factory=lambda: defaultdict(int)
    )  # accounts skipped


def _undecodable_error(program: str, failed: list[tuple[str, dict[str, int]]]) -> CollectorError:
    reason = "malformed_response" if any(NOT_BASE64 in u for _, u in failed) else "invalid_account_data"
    detail = "; ".join(f"{acct}: {', '.join(f'{n} {r}' for r, n in sorted(u.items()))}" for acct, u in failed)
    return CollectorError(
        reason,
        f"program {program}: accounts that cannot be decoded ({detail}); their type's figures are "
        "not updated (check the IDL against the deployed program, or the RPC node)",
    )


class ProgramAccountsCollector(Collector):
    def __init__(self, program: ProgramConfig, pool: RpcPool, anchor: SharedProgram | None = None) -> None:
        self.name = f"program_accounts:{program.name}"
        self.program = program
        #: The program's IDL, compiled types and id, shared with its ingestion collector.
        self.anchor = anchor or SharedProgram(program, at_start=False)
        self.interval = program.accounts.interval_seconds
        self.timeout = max(self.interval * 2, 60.0)
        self.pool = pool
        max_age = self.interval * program.accounts.staleness_intervals
        self.counts = SeriesCache(max_age)  # (program, account, state) -> accounts
        self.sums = SeriesCache(max_age)  # (program, account, field, mint) -> whole units
        self.problems = SeriesCache(max_age)  # (program, account, reason) -> accounts skipped
        self.undecodable: dict[tuple[str, str, str], int] = defaultdict(int)  # (program, account, reason)
        self.types: list[_AccountType] | None = None
        self.program_id = ""

    def _setup_types(self) -> list[_AccountType]:
        if self.types is None:
            built = self.anchor.get()
            self.program_id = built.program_id
            self.types = [_AccountType(built, t) for t in self.program.accounts.types]
        return self.types

    async def _fetch(self, at: _AccountType) -> list[bytes | str]:
        """Each account's data, or why it is not base64 data (``not_base64``)."""
        opts: dict[str, Any] = {
            "encoding": "base64",
            "commitment": self.pool.commitment,
            "filters": [{"memcmp": {"offset": 0, "bytes": b58encode(at.layout.discriminator)}}],
        }
        if (ds := at.layout.data_slice()) is not None:
            opts["dataSlice"] = ds
        reply = await self.pool.call("getProgramAccounts", [self.program_id, opts])
        if isinstance(reply, dict) and "value" in reply:  # withContext shape
            reply = reply["value"]
        if not isinstance(reply, list):
            raise CollectorError("malformed_response", "getProgramAccounts did not return a list")
        return [_account_data(item) for item in reply]

    async def run_cycle(self) -> None:
        types = self._setup_types()
        try:
            fetched = [(at, await self._fetch(at)) for at in types]
        except RpcError as e:
            raise CollectorError("rpc_unavailable", str(e)) from None
        now = time.time()
        failed: list[tuple[str, dict[str, int]]] = []
        for at, datas in fetched:
            survey = self._survey(at, datas)
            acct = at.cfg.account
            self._set_problems(self.program.name, acct, {**survey.problems, **survey.undecodable}, now)
            if survey.undecodable:
                for reason, n in survey.undecodable.items():
                    self.undecodable[(self.program.name, acct, reason)] += n
                failed.append((acct, survey.undecodable))
                continue  # this type's figures stay as last known (then absent), never wrong
            self._publish(at, survey, now)
        if failed:
            raise _undecodable_error(self.program.name, failed)

    def _survey(self, at: _AccountType, datas: list[bytes | str]) -> _Survey:
        """One account type's figures from its accounts' data."""
        survey = _Survey(dict.fromkeys(at.variants, 0), dict.fromkeys(at.cfg.flags, 0))
        for data in datas:
            try:
                if isinstance(data, str):
                    raise DecodeError(data)
                fields = at.layout.decode(data)
            except DecodeError as e:
                survey.undecodable[e.reason] += 1
                continue
            state = label_value(fields.get(at.cfg.count_by)) if at.cfg.count_by else ALL
            survey.counts[state] = survey.counts.get(state, 0) + 1
            for f in at.cfg.flags:
                survey.flags[f] += 1 if fields.get(f) is True else 0
            if not at.cfg.only_states or state in at.cfg.only_states:
                self._add_sums(at, fields, survey)
        return survey

    def _add_sums(self, at: _AccountType, fields: dict[str, Any], survey: _Survey) -> None:
        """Add one account's ``sums`` fields, in raw units, or count why one cannot be summed."""
        for s in at.cfg.sums:
            value = fields.get(s.field)
            if not isinstance(value, int | float) or isinstance(value, bool):
                survey.problems["sum_invalid"] += 1
                continue
            if s.mint_field is not None:
                resolved = mint_decimals(str(fields.get(s.mint_field)), self.program.mints)
                if resolved is None:
                    survey.problems["sum_unknown_mint"] += 1
                    continue
                mint, decimals = resolved
            else:
                known = mint_decimals(s.mint, self.program.mints) if s.mint else None
                mint = s.mint or ""
                decimals = s.decimals if s.decimals is not None else (known[1] if known else 0)
            survey.raw_sums[(s.field, mint, decimals)] += value  # divided once, in _publish: exact

    def _publish(self, at: _AccountType, survey: _Survey, now: float) -> None:
        """A decoded survey becomes the type's counts, flags and sums."""
        p, acct = self.program.name, at.cfg.account
        for state, n in survey.counts.items():
            self.counts.set((p, acct, state), n, now)
        for f, n in survey.flags.items():
            self.counts.set((p, acct, f), n, now)
        sums: dict[tuple[str, str], float] = defaultdict(float)
        for (field, mint, decimals), raw in survey.raw_sums.items():
            sums[(field, mint)] += raw / 10**decimals
        # A mint whose accounts all closed drops to 0 rather than lingering at its last sum.
        for key, _ in list(self.sums.items(now)):
            if key[1] == acct and (key[2], key[3]) not in sums:
                self.sums.set(key, 0.0, now)
        for (field, mint), total in sums.items():
            self.sums.set((p, acct, field, mint), total, now)

    def _set_problems(self, p: str, acct: str, problems: dict[str, int], now: float) -> None:
        for key, _ in list(self.problems.items(now)):
            if key[1] == acct:
                self.problems.discard(key)
        for reason, n in problems.items():
            self.problems.set((p, acct, reason), n, now)

    def collect(self) -> Iterable[Metric]:
        # This program's series only: the snapshot renderer merges programs into one family each.
        now = time.time()
        counts = GaugeMetricFamily(
            "escrow_program_accounts",
            "Program accounts of a type by state (a variant of the configured enum field, 'all', or a bool flag "
            "field: accounts where it is true).",
            labels=["program", "account", "state"],
        )
        sums = GaugeMetricFamily(
            "escrow_program_account_field_amount",
            "Sum of a numeric field over the program's accounts of a type, in whole units (mint: SOL or address).",
            labels=["program", "account", "field", "mint"],
        )
        problems = GaugeMetricFamily(
            "escrow_program_account_decode_errors",
            "Accounts (or fields) skipped in the last survey because they could not be decoded or counted, by reason.",
            labels=["program", "account", "reason"],
        )
        undecodable = CounterMetricFamily(
            "escrow_program_accounts_undecodable",
            "Accounts of a type that could not be decoded in a survey (not base64, shorter than the IDL, "
            "unknown discriminator), by reason; the type's figures were not updated.",
            labels=["program", "account", "reason"],
        )
        for key, n in self.undecodable.items():
            undecodable.add_metric(list(key), n)
        for labels, cached in self.counts.items(now):
            counts.add_metric(list(labels), cached.value)
        for labels, cached in self.sums.items(now):
            sums.add_metric(list(labels), cached.value)
        for labels, cached in self.problems.items(now):
            problems.add_metric(list(labels), cached.value)
        yield counts
        yield sums
        yield problems
        yield undecodable


#: ``reason`` of an account whose data is not a base64 string (garbage, a number, no data).
NOT_BASE64 = "not_base64"


def _account_data(item: Any) -> bytes | str:
    """One getProgramAccounts item's data, or ``NOT_BASE64``."""
    account = item.get("account") if isinstance(item, dict) else None
    data = account.get("data") if isinstance(account, dict) else None
    if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64" and isinstance(data[0], str)):
        return NOT_BASE64
    try:
        return base64.b64decode(data[0], validate=True)
    except (binascii.Error, ValueError):
        return NOT_BASE64
