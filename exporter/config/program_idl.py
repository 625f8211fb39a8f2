"""A program's mapping checked against its IDL, as the collectors will use it.

Every name the mapping uses (event, account, field) must exist, and each field must have a type
that makes sense where it is used: amounts are integers, ``mint_field`` is a pubkey, flags are
bool, ``count_by`` takes a bounded set of values and ``only_states`` are among them. So a typo or a
wrong field is a config error with its key path and line, not a decode error at every cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exporter.config.base import Loc, Problems

if TYPE_CHECKING:
    from exporter.anchor.idl import Idl
    from exporter.anchor.program import AnchorProgram
    from exporter.config.programs import (
        AccountTypeConfig,
        AmountConfig,
        EventMapping,
        MintConfig,
        ProgramConfig,
    )


def check_against_idl(program: ProgramConfig, problems: Problems) -> AnchorProgram | None:
    """The program built from its IDL (read and compiled here, once: the collectors take this
    one), or None with the problems added."""
    built = _usable_program(program, problems)
    if built is None:
        return None
    idl = built.idl
    if program.program_id is None and idl.program_id is None:
        problems.add(("program_id",), "required: the IDL does not name the program's address")
    for ename, mapping in program.events.items():
        _check_event(idl, ename, mapping, program.mints, problems)
    for i, t in enumerate(program.accounts.types):
        _check_account_type(idl, t, ("accounts", "types", i), program.mints, problems)
    return built


def _usable_program(program: ProgramConfig, problems: Problems) -> AnchorProgram | None:
    """The program built as the collectors use it; else a problem."""
    # Imported here: the config package must stay importable without the decoder.
    from exporter.anchor.idl import IDL_SECTIONS, IdlError, load_idl
    from exporter.anchor.program import AnchorProgram

    try:
        idl = load_idl(program.idl)
        if not idl.sections:
            raise IdlError(
                idl.source, f"not an Anchor IDL: it has none of {', '.join(repr(k) for k in IDL_SECTIONS)}"
            )
        # Compile every event and account layout now, once for the whole process: a reference
        # to an undefined type fails here, not in every cycle.
        return AnchorProgram(idl, program.program_id)
    except IdlError as e:
        problems.add(("idl",), str(e))
        return None
    except RecursionError:
        problems.add(("idl",), f"{program.idl}: types nest too deeply")
        return None


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
    from exporter.config.programs import SOL_LABEL

    if a.mint not in (None, SOL_LABEL) and a.decimals is None and a.mint not in mints:
        problems.add(where, f"decimals of mint {a.mint} unknown: set decimals or add it under mints")
