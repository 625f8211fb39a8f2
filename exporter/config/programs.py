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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from exporter.config.base import Loc, Problems, Section
from exporter.solana import NATIVE_MINT, parse_pubkey

if TYPE_CHECKING:
    from exporter.anchor.idl import Idl

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
        idl = _usable_idl(self, problems)
        if idl is not None:
            if self.program_id is None and idl.program_id is None:
                problems.add(("program_id",), "required: the IDL does not name the program's address")
            for ename, mapping in self.events.items():
                _check_event(idl, ename, mapping, self.mints, problems)
            for i, t in enumerate(self.accounts.types):
                _check_account_type(idl, t, ("accounts", "types", i), self.mints, problems)
        problems.raise_if_any()
        return self

    def resolved_program_id(self) -> str:
        """The configured program id, else the IDL's."""
        if self.program_id is not None:
            return self.program_id
        from exporter.anchor.idl import load_idl

        pid = load_idl(self.idl).program_id
        assert pid is not None  # checked by _against_idl
        return pid


def _usable_idl(program: ProgramConfig, problems: Problems) -> Idl | None:
    """The program's IDL if the exporter can use it as the collectors will; else a problem."""
    # Imported here: the config package must stay importable without the decoder.
    from exporter.anchor.decoder import EventDecoder
    from exporter.anchor.idl import IDL_SECTIONS, IdlError, load_idl

    try:
        idl = load_idl(program.idl)
        if not idl.sections:
            raise IdlError(
                idl.source, f"not an Anchor IDL: it has none of {', '.join(repr(k) for k in IDL_SECTIONS)}"
            )
        # Compile every event and account layout now, as the collectors do at their first
        # cycle: a reference to an undefined type must fail here, not in every cycle.
        EventDecoder(idl, program.program_id)
    except IdlError as e:
        problems.add(("idl",), str(e))
        return None
    except RecursionError:
        problems.add(("idl",), f"{program.idl}: types nest too deeply")
        return None
    return idl


# --- the IDL's field types, as the checks below need them --------------------------------------

#: Primitive IDL types by kind (both spellings of pubkey: 0.30+ and legacy).
_SCALARS = {
    **{f"{sign}{bits}": "int" for sign in "ui" for bits in (8, 16, 32, 64, 128, 256)},
    "f32": "float",
    "f64": "float",
    "bool": "bool",
    "pubkey": "pubkey",
    "publicKey": "pubkey",
}
_SMALL_INTS = {"u8": range(256), "i8": range(-128, 128)}


@dataclass(frozen=True)
class FieldType:
    """What a field holds, for the mapping checks: ``kind`` is one of int, float, bool, pubkey,
    enum, option (of ``inner``) or other; ``text`` names it in messages."""

    kind: str
    text: str
    variants: tuple[str, ...] = ()
    inner: FieldType | None = None

    def states(self) -> list[str] | None:
        """The label values a ``count_by`` field of this type takes (None: unbounded)."""
        if self.kind == "enum":
            return list(self.variants)
        if self.kind == "bool":
            return ["true", "false"]
        if self.text in _SMALL_INTS:
            # Zero-copy accounts cannot hold enums: their "status" is a u8, at most 256 series.
            return [str(n) for n in _SMALL_INTS[self.text]]
        if self.kind == "option" and self.inner is not None:
            inner = self.inner.states()
            return None if inner is None else [*inner, "none"]  # label_value(None) is "none"
        return None


def field_type(idl: Idl, ty: Any, depth: int = 0) -> FieldType:
    """Classify an IDL type expression, following type aliases."""
    from exporter.anchor.idl import defined_name, enum_variants, resolve_alias

    ty = resolve_alias(idl, ty)
    if isinstance(ty, str):
        return FieldType(_SCALARS.get(ty, "other"), ty)
    if isinstance(ty, dict) and len(ty) == 1 and depth < 16:
        ((key, arg),) = ty.items()
        if key in ("option", "coption"):
            inner = field_type(idl, arg, depth + 1)
            return FieldType("option", f"Option<{inner.text}>", inner=inner)
        if key == "vec":
            return FieldType("other", f"Vec<{field_type(idl, arg, depth + 1).text}>")
        if key == "array":
            return FieldType("other", "an array")
        name = defined_name(ty)
        if name is not None:
            variants = enum_variants(idl, ty)
            if variants is not None:
                return FieldType("enum", f"enum {name}", tuple(variants))
            return FieldType("other", f"struct {name}")
    return FieldType("other", "a composite type")


def struct_fields(typedef: dict[str, Any]) -> dict[str, Any]:
    """Named fields of a struct type definition: name -> IDL type."""
    ty = typedef.get("type") if isinstance(typedef.get("type"), dict) else typedef
    fields = ty.get("fields") if isinstance(ty, dict) else None
    out: dict[str, Any] = {}
    for f in fields or []:
        if isinstance(f, dict) and isinstance(f.get("name"), str):
            out[f["name"]] = f.get("type")
    return out


def _names(values: Any) -> str:
    return ", ".join(sorted(values)) or "none"


def _check_event(
    idl: Idl, ename: str, mapping: EventMapping, mints: dict[str, MintConfig], problems: Problems
) -> None:
    where: Loc = ("events", ename)
    item = idl.events.get(ename)
    if item is None:
        problems.add(where, f"no such event in the IDL (has: {_names(idl.events)})")
        return
    fields = {n: field_type(idl, t) for n, t in struct_fields(item.typedef).items()}
    what = f"event {ename}"
    for i, a in enumerate(mapping.amounts):
        # Event amounts are counters of raw units: only integers can be added exactly.
        _check_amount(a, fields, what, where + ("amounts", i), mints, {"int"}, problems)
    for j, f in enumerate(mapping.labels):
        if f not in fields:
            problems.add(where + ("labels", j), f"no field {f!r} in {what} (has: {_names(fields)})")


def _check_account_type(
    idl: Idl, t: AccountTypeConfig, where: Loc, mints: dict[str, MintConfig], problems: Problems
) -> None:
    acc = idl.accounts.get(t.account)
    if acc is None:
        problems.add(
            where + ("account",), f"no account {t.account!r} in the IDL (has: {_names(idl.accounts)})"
        )
        return
    fields = {n: field_type(idl, ty) for n, ty in struct_fields(acc.typedef).items()}
    what = f"account {t.account}"
    if t.count_by is not None:
        _check_count_by(t, _field(fields, t.count_by, what, where + ("count_by",), problems), where, problems)
    for k, f in enumerate(t.flags):
        ft = _field(fields, f, what, where + ("flags", k), problems)
        if ft is not None and not (ft.kind == "bool" or (ft.inner is not None and ft.inner.kind == "bool")):
            problems.add(where + ("flags", k), f"{f} is {ft.text}: flags must be bool fields")
    for j, a in enumerate(t.sums):
        _check_amount(a, fields, what, where + ("sums", j), mints, {"int", "float"}, problems)


def _check_count_by(t: AccountTypeConfig, ft: FieldType | None, where: Loc, problems: Problems) -> None:
    if ft is None:
        return
    states = ft.states()
    if states is None:
        # Every distinct value would become a series: a u64 or a pubkey is unbounded.
        problems.add(
            where + ("count_by",),
            f"{t.count_by} is {ft.text}: count_by needs an enum, bool or u8 field (each value becomes a series)",
        )
        return
    for k, state in enumerate(t.only_states):
        if state not in states:
            # A typo would silently sum nothing.
            problems.add(
                where + ("only_states", k),
                f"{state!r} is not a value of {t.count_by} ({ft.text}: {_listing(states)})",
            )


def _listing(states: list[str]) -> str:
    return ", ".join(states) if len(states) <= 20 else f"{states[0]}..{states[-1]}"


def _field(
    fields: dict[str, FieldType], name: str, what: str, loc: Loc, problems: Problems
) -> FieldType | None:
    ft = fields.get(name)
    if ft is None:
        problems.add(loc, f"no field {name!r} in {what} (has: {_names(fields)})")
    return ft


def _check_amount(
    a: AmountConfig,
    fields: dict[str, FieldType],
    what: str,
    where: Loc,
    mints: dict[str, MintConfig],
    kinds: set[str],
    problems: Problems,
) -> None:
    ft = _field(fields, a.field, what, where + ("field",), problems)
    if ft is not None and ft.kind not in kinds:
        expected = "an integer" if kinds == {"int"} else "an integer or float"
        problems.add(where + ("field",), f"{a.field} is {ft.text}: an amount must be {expected} field")
    if a.mint_field is not None:
        mt = _field(fields, a.mint_field, what, where + ("mint_field",), problems)
        if mt is not None and mt.kind != "pubkey":
            problems.add(
                where + ("mint_field",), f"{a.mint_field} is {mt.text}: mint_field must be a pubkey field"
            )
    if a.mint not in (None, SOL_LABEL) and a.decimals is None and a.mint not in mints:
        problems.add(where, f"decimals of mint {a.mint} unknown: set decimals or add it under mints")


def mint_decimals(mint: str, mints: dict[str, MintConfig]) -> tuple[str, int] | None:
    """(label, decimals) of a mint address: ``SOL`` for the native mint; None when unknown."""
    if mint in (NATIVE_MINT, SOL_LABEL):
        return SOL_LABEL, SOL_DECIMALS
    m = mints.get(mint)
    return (mint, m.decimals) if m is not None else None
