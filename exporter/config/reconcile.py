"""Config of exact reconciliation: chain, program events and ledger compared at one slot.

Example (``examples/config.yml`` has the complete one for the reference program)::

    reconciliation:
      program: paid_match              # whose ingested events give the "events" view
      interval_seconds: 30
      flows:                           # how each event amount moves money between watched accounts
        - {event: PlayerJoined, field: amount, credit: [escrow]}
        - {event: MatchSettled, field: fee, debit: [escrow], credit: [fee, treasury]}
      ledger:
        database: business
        sql: "SELECT ... WHERE l.slot <= ?1 ..."   # rows (account, mint, decimals, value)

A flow's ``debit``/``credit`` are account *roles* (``balances.accounts[].role``); the account is the
first watched one of those roles that holds the event's mint (read from the amount mapping of the
same event field under ``programs[].events``). A flow to an account that is not watched is ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from exporter.config.base import Loc, Section

Driver = Literal["postgres", "sqlite"]


class FlowConfig(Section):
    event: str
    field: str
    debit: list[str] = Field(default_factory=list)
    credit: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _moves_something(self) -> FlowConfig:
        if not self.debit and not self.credit:
            raise ValueError("a flow needs debit or credit (account roles)")
        return self


class LedgerViewConfig(Section):
    database: str
    #: The "as of slot" balance query: rows ``account, mint, value`` (and optionally ``decimals``),
    #: ``value`` in whole units of the mint. Mode ``slot`` binds the reconciled slot as parameter 1
    #: (``?1`` in SQLite, ``$1`` in PostgreSQL); mode ``time`` binds nothing. Either one SQL text
    #: or one per driver.
    sql: str | dict[Driver, str]
    #: Optional: the number of ledger entries whose transaction is still not on chain ``unconfirmed_after_slots``
    #: slots after they were written; binds that moment (Unix seconds) as parameter 1. One row, column ``value``.
    unconfirmed_sql: str | dict[Driver, str] | None = None
    unconfirmed_after_slots: int = Field(default=150, ge=1)
    #: Only accounts of these roles are expected in the ledger; others are reconciled chain vs events only.
    roles: list[str] = Field(default_factory=lambda: ["escrow"])
    timeout_seconds: float = Field(default=10.0, gt=0)

    def sql_for(self, driver: str) -> str:
        return self.sql if isinstance(self.sql, str) else self.sql[driver]  # type: ignore[index]

    def unconfirmed_sql_for(self, driver: str) -> str | None:
        u = self.unconfirmed_sql
        return u if u is None or isinstance(u, str) else u.get(driver)  # type: ignore[call-overload]


class ReconciliationConfig(Section):
    #: The program (``programs[].name``) whose events give the events view; default: the only one.
    program: str | None = None
    interval_seconds: float = Field(default=30.0, gt=0)
    #: ``slot``: the ledger is read as of the reconciled slot (exact). ``time``: fallback for ledgers
    #: that cannot record slots: the ledger's latest balance against the chain read a moment before.
    mode: Literal["slot", "time"] = "slot"
    #: Watched accounts to reconcile (``balances.accounts[].name``); default: all of them.
    accounts: list[str] | None = None
    #: How long a cycle waits for ingestion to pass the slot it read before it reports ``ingestion_behind``.
    ingestion_wait_seconds: float = Field(default=20.0, gt=0)
    #: Seconds between reading the chain at slot S and reading the ledger as of S: longer than the
    #: back end's worst write delay, so a late write is not a mismatch.
    ledger_settle_seconds: float = Field(default=10.0, ge=0)
    #: Allowed absolute drift per mint label (``SOL`` or the mint address), in raw base units. Default 0.
    tolerance: dict[str, int] = Field(default_factory=dict)
    flows: list[FlowConfig] = Field(min_length=1)
    ledger: LedgerViewConfig | None = None

    @field_validator("tolerance")
    @classmethod
    def _non_negative(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [k for k, n in v.items() if n < 0]
        if bad:
            raise ValueError(f"tolerance must be >= 0 raw units (mint {bad[0]})")
        return v

    @property
    def timeout(self) -> float:
        """The longest a cycle may take: the waits, two RPC reads and the ledger queries."""
        ledger = self.ledger.timeout_seconds * 2 if self.ledger else 0.0
        return self.ingestion_wait_seconds + self.ledger_settle_seconds + ledger + 30.0


def reference_problems(
    r: ReconciliationConfig,
    programs: dict[str, dict[str, set[str]]],
    accounts: dict[str, str],
    databases: set[str],
) -> list[tuple[Loc, str]]:
    """What ``r`` names that the rest of the config does not have, each at its key path (so the
    loader can name the line).

    ``programs``: program name -> event -> amount fields mapped; ``accounts``: watched account
    name -> role; ``databases``: the ``sql.databases`` names.
    """
    problems: list[tuple[Loc, str]] = []
    if r.program is None and len(programs) != 1:
        problems.append((("reconciliation",), "program: required when programs has not exactly one entry"))
    name = r.program or next(iter(programs), "")
    events = programs.get(name)
    if events is None and (r.program is not None or len(programs) == 1):
        problems.append((("reconciliation", "program"), f"no program named {name!r} under programs"))
    for i, f in enumerate(r.flows):
        if events is not None and f.field not in events.get(f.event, set()):
            problems.append(
                (
                    ("reconciliation", "flows", i, "field"),
                    f"{f.event}.{f.field} is not an amount of programs[{name}].events"
                    " (the flow takes its mint from that amount mapping)",
                )
            )
    for i, a in enumerate(r.accounts or []):
        if a not in accounts:
            problems.append(
                (("reconciliation", "accounts", i), f"no account named {a!r} under balances.accounts")
            )
    if r.ledger is not None and r.ledger.database not in databases:
        problems.append(
            (
                ("reconciliation", "ledger", "database"),
                f"no database named {r.ledger.database!r} under sql.databases",
            )
        )
    return problems
