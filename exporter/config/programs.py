"""Config of the Anchor programs to ingest: events to count and sum, account types to survey.

Every name in the mapping (event, account, field, mint) is checked against the program's IDL
here, so a typo is reported at start-up with its key path and line, not at the first cycle.

Example (see ``examples/config.yml`` for a complete one)::

    programs:
      - name: paid_match
        idl: ../idls/paid_match.json          # relative to this config file
        backfill: {mode: signatures, count: 1000}
        mints:
          EPjF...: {decimals: 6}              # SOL (native mint) is built in: 9 decimals
        events:
          PlayerJoined:
            amounts: [{field: amount, mint_field: mint}]
          MatchCreated:
            labels: [paid]
        accounts:
          types:
            - account: Match
              count_by: status
              sums: [{field: pot, mint_field: mint}]
            - account: PlatformConfig
              flags: [paused]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from exporter.config.base import Problems, Section
from exporter.config.program_idl import check_against_idl
from exporter.solana import NATIVE_MINT, parse_pubkey

if TYPE_CHECKING:
    from exporter.anchor.program import AnchorProgram

#: The native mint is always known: label ``SOL``, 9 decimals.
SOL_LABEL = "SOL"
SOL_DECIMALS = 9
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
#: Label names the exporter already uses on event metrics; a field label must not shadow them.
_RESERVED_LABELS = frozenset({"program", "event", "field", "mint", "le", "instruction", "status", "error"})


class BackfillConfig(Section):
    """What to ingest on the very first start (no cursor in the state file yet).

    ``now``: nothing from the past, count from the first new transaction on;
    ``signatures``: the newest ``count`` transactions of the program;
    ``slots``: transactions of the last ``count`` slots.
    """

    mode: Literal["now", "signatures", "slots"] = "now"
    count: int = Field(default=0, ge=0, le=10_000_000)


class MintConfig(Section):
    decimals: int = Field(ge=0, le=30)
    #: Shown instead of the 44-character address: ``escrow_mint_info{mint, symbol}`` joins it on.
    symbol: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,16}$")


class AmountConfig(Section):
    """An event (or account) field summed in whole units of its mint.

    Give the mint either fixed (``mint: SOL`` or a mint address, optionally with ``decimals``)
    or as ``mint_field``: the name of a pubkey field of the same event holding the mint.
    Without any mint (``decimals`` only) the sum carries no ``mint`` label.
    """

    field: str
    mint: str | None = None
    mint_field: str | None = None
    decimals: int | None = Field(default=None, ge=0, le=30)

    @field_validator("mint")
    @classmethod
    def _mint(cls, v: str | None) -> str | None:
        if v is None or v == SOL_LABEL:
            return v
        if v == NATIVE_MINT:
            return SOL_LABEL
        parse_pubkey(v)
        return v

    @model_validator(mode="after")
    def _one_source(self) -> AmountConfig:
        if self.mint is not None and self.mint_field is not None:
            raise ValueError("set either mint or mint_field, not both")
        if self.mint_field is not None and self.decimals is not None:
            raise ValueError("decimals comes from the mints map when mint_field is used")
        if self.mint is None and self.mint_field is None and self.decimals is None:
            raise ValueError("set mint, mint_field or decimals")
        return self


class EventMapping(Section):
    amounts: list[AmountConfig] = Field(default_factory=list)
    #: Low-cardinality fields that become labels of escrow_events_total / escrow_event_amount_total.
    labels: list[str] = Field(default_factory=list)
    #: Overrides the program's ``max_label_values`` for this event.
    max_label_values: int | None = Field(default=None, ge=1, le=10_000)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _LABEL_RE.match(name) or name.startswith("__"):
                raise ValueError(f"label field {name!r} is not a valid Prometheus label name")
            if name in _RESERVED_LABELS:
                raise ValueError(f"label field {name!r} clashes with a label the exporter sets")
        if len(set(v)) != len(v):
            raise ValueError("label fields must be unique")
        return v


class AccountTypeConfig(Section):
    """One Anchor account type, surveyed with getProgramAccounts.

    * ``count_by``: an enum field (or a bool or u8: every value becomes a series, so nothing
      unbounded); accounts are counted per variant as ``escrow_program_accounts{state=<Variant>}``
      (every variant is exported, 0 included); without it, the accounts are counted as
      ``state="all"``.
    * ``flags``: bool fields exported as ``escrow_program_accounts{state=<field>}`` 1/0
      (meant for singletons such as ``PlatformConfig.paused``; with several accounts, the number
      of accounts where the flag is true).
    * ``sums``: numeric fields summed in whole units, optionally only over ``only_states``.
    """

    account: str
    count_by: str | None = None
    flags: list[str] = Field(default_factory=list)
    sums: list[AmountConfig] = Field(default_factory=list)
    #: Variants of ``count_by`` whose accounts are included in ``sums`` (all when empty).
    only_states: list[str] = Field(default_factory=list)

    @field_validator("only_states", mode="before")
    @classmethod
    def _numbers_and_bools_as_labels(cls, v: Any) -> Any:
        # `only_states: [0, 1]` for a u8 and `[true]` for a bool, as the label values read.
        if not isinstance(v, list):
            return v
        return [
            ("true" if s else "false") if isinstance(s, bool) else str(s) if isinstance(s, int) else s
            for s in v
        ]

    @model_validator(mode="after")
    def _states_need_count_by(self) -> AccountTypeConfig:
        if self.only_states and self.count_by is None:
            raise ValueError("only_states needs count_by (the enum field the states come from)")
        return self


class ProgramAccountsConfig(Section):
    interval_seconds: float = Field(default=30.0, gt=0)
    #: After this many intervals without a good fetch, the series disappear.
    staleness_intervals: int = Field(default=5, ge=1)
    types: list[AccountTypeConfig] = Field(default_factory=list)


class ProgramConfig(Section):
    name: str = Field(pattern=r"^[a-zA-Z0-9_.-]{1,64}$")
    #: IDL file (Anchor 0.30+ or legacy), relative to the config file's directory.
    idl: str
    #: Defaults to the IDL's ``address`` (or legacy ``metadata.address``).
    program_id: str | None = None
    #: How transactions reach the exporter (docs/scaling.md#which-source): ``poll`` lists the
    #: program's signatures every interval and fetches each transaction; ``logs`` also follows
    #: the endpoints' PubSub ``logsSubscribe`` and counts from the notified logs at once, while the
    #: listing keeps filling whatever the push missed (each transaction counted once either way).
    source: Literal["poll", "logs"] = "poll"
    #: Count transaction fees (escrow_transaction_fees_sol_total). Free with ``poll``; with
    #: ``logs`` a notification carries no fee, so each transaction then costs a getTransaction.
    #: Default: true for poll, false for logs.
    fees: bool | None = None
    #: With ``source: logs``: how long (seconds of block time) the listing leaves a recent
    #: transaction to its notification before it counts it itself (a gap fill, one
    #: getTransaction). A node lists a confirmed slot about when it notifies it, so with no wait
    #: the listing won that race for ~3.5% of transactions at 50 tx/s (bench/sources.py). Longer
    #: saves calls on a node whose notifications lag; shorter fills a missed one sooner.
    push_grace_seconds: float = Field(default=5.0, ge=0, le=3600)
    interval_seconds: float = Field(default=5.0, gt=0)
    backfill: BackfillConfig = Field(default_factory=BackfillConfig)
    #: getSignaturesForAddress page size (the RPC maximum is 1000).
    signatures_page_size: int = Field(default=1000, ge=1, le=1000)
    #: getTransaction requests per JSON-RPC batch (one HTTP request).
    batch_size: int = Field(default=50, ge=1, le=1000)
    #: Transactions ingested per cycle at most, so a long backlog is committed in steps.
    max_transactions_per_cycle: int = Field(default=5000, ge=1)
    #: Distinct values per label field before new values are counted as ``__overflow__``.
    max_label_values: int = Field(default=20, ge=1, le=10_000)
    #: Decimals of mints other than SOL, by mint address.
    mints: dict[str, MintConfig] = Field(default_factory=dict)
    events: dict[str, EventMapping] = Field(default_factory=dict)
    accounts: ProgramAccountsConfig = Field(default_factory=ProgramAccountsConfig)
    #: The program the config check built from the IDL (read and compiled once), handed on to
    #: the collectors so that they do not build it again.
    _built: AnchorProgram | None = PrivateAttr(default=None)

    @field_validator("idl")
    @classmethod
    def _relative_to_config(cls, v: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("base_dir") if info.context else None
        if base and not Path(v).is_absolute():
            return str(Path(base) / v)
        return v

    @field_validator("program_id")
    @classmethod
    def _pubkey(cls, v: str | None) -> str | None:
        if v is not None:
            parse_pubkey(v)
        return v

    @field_validator("backfill", mode="before")
    @classmethod
    def _backfill_short_form(cls, v: Any) -> Any:
        """``backfill: now`` is short for ``{mode: now}``; the other modes need their count."""
        if v == "now":
            return {"mode": "now"}
        if isinstance(v, str):
            raise ValueError(
                f"expected now, {{mode: signatures, count: N}} or {{mode: slots, count: N}}, not {v!r}"
            )
        return v

    @field_validator("mints")
    @classmethod
    def _mint_keys(cls, v: dict[str, MintConfig]) -> dict[str, MintConfig]:
        for key in v:
            parse_pubkey(key)
        return v

    @model_validator(mode="after")
    def _against_idl(self) -> ProgramConfig:
        problems = Problems()
        self._built = check_against_idl(self, problems)
        problems.raise_if_any()
        return self

    def built_program(self) -> AnchorProgram | None:
        """The program the config check built, if it was built from this config's ``idl`` and
        ``program_id`` (a ``model_copy`` that changed either is built again by its user)."""
        built = self._built
        if built is not None and built.built_from == (self.idl, self.program_id):
            return built
        return None

    @property
    def counts_fees(self) -> bool:
        return self.fees if self.fees is not None else self.source == "poll"


def mint_decimals(mint: str, mints: dict[str, MintConfig]) -> tuple[str, int] | None:
    """(label, decimals) of a mint address: ``SOL`` for the native mint; None when unknown."""
    if mint in (NATIVE_MINT, SOL_LABEL):
        return SOL_LABEL, SOL_DECIMALS
    m = mints.get(mint)
    return (mint, m.decimals) if m is not None else None
