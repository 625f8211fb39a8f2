"""Load an Anchor IDL file, new spec (Anchor 0.30+) or legacy (Anchor <= 0.29), into one model.

What differs between the two specs, and how it is normalised here:

* discriminators: the new spec lists them (``discriminator: [..]``, any length since 0.31);
  legacy ones are computed: ``sha256("event:<Name>")[:8]``, ``sha256("account:<Name>")[:8]``
  and ``sha256("global:<snake_case_name>")[:8]`` for instructions;
* program id: ``address`` (new) or ``metadata.address`` (legacy), or given by the caller;
* event layouts: under ``types`` by the event's name (new) or inline ``fields`` (legacy);
  legacy account layouts are inline too and are also registered as types, because legacy
  IDLs may reference them with ``{"defined": "Name"}``.

Type expressions themselves (``pubkey``/``publicKey``, ``{"defined": "X"}`` or
``{"defined": {"name": "X", "generics": [...]}}``...) are interpreted by
:mod:`exporter.anchor.borsh`, which understands both spellings.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class IdlError(Exception):
    """The IDL cannot be used; ``str(error)`` names the file and what is wrong in it."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


@dataclass(frozen=True)
class IdlItem:
    """An event or account: its name, discriminator and layout (a type-definition object)."""

    name: str
    discriminator: bytes
    typedef: dict[str, Any]


@dataclass(frozen=True)
class IdlInstruction:
    name: str
    discriminator: bytes


@dataclass
class Idl:
    source: str
    spec: str  # "new" (0.30+) or "legacy" (<= 0.29)
    name: str
    program_id: str | None
    events: dict[str, IdlItem] = field(default_factory=dict)
    accounts: dict[str, IdlItem] = field(default_factory=dict)
    instructions: dict[str, IdlInstruction] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    types: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Which of the IDL's sections (instructions, accounts, events, types) the file has at all:
    #: none of them means the file is some other JSON (a package.json, a tsconfig...).
    sections: frozenset[str] = frozenset()


#: The sections every Anchor IDL has at least one of.
IDL_SECTIONS = ("instructions", "accounts", "events", "types")


def sighash(namespace: str, name: str) -> bytes:
    """Anchor's legacy discriminator: the first 8 bytes of sha256("<namespace>:<name>")."""
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


_SNAKE_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_SNAKE_2 = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """``createVestingEscrowV2`` -> ``create_vesting_escrow_v2`` (what Anchor hashes)."""
    return _SNAKE_2.sub(r"\1_\2", _SNAKE_1.sub(r"\1_\2", name)).lower()


def load_idl(path: str | Path) -> Idl:
    """Read and validate an IDL file. Raises ``IdlError`` naming the file and the problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise IdlError(source, f"cannot read the IDL: {reason}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise IdlError(source, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    return parse_idl(obj, source)


def parse_idl(obj: Any, source: str = "<idl>") -> Idl:
    """Build the model from an already parsed IDL JSON object."""
    if not isinstance(obj, dict):
        raise IdlError(source, "the IDL must be a JSON object")
    legacy = _is_legacy(obj)
    raw_metadata = obj.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    name = obj.get("name") if legacy else metadata.get("name")
    program_id = obj.get("address") or metadata.get("address")
    if program_id is not None and not isinstance(program_id, str):
        raise IdlError(source, "'address' must be a base58 string")
    idl = Idl(
        source=source,
        spec="legacy" if legacy else "new",
        name=str(name or Path(source).stem),
        program_id=program_id,
        sections=frozenset(k for k in IDL_SECTIONS if k in obj),
    )
    for i, t in enumerate(_list(obj, "types", source)):
        tname = _name(t, f"types[{i}]", source)
        _require_dict(t.get("type"), f"types.{tname}.type", source)
        idl.types[tname] = t
    _load_accounts(idl, obj, legacy)
    _load_events(idl, obj, legacy)
    _load_instructions(idl, obj, legacy)
    for i, e in enumerate(_list(obj, "errors", source)):
        code, ename = (e.get("code"), e.get("name")) if isinstance(e, dict) else (None, None)
        if not isinstance(code, int) or not isinstance(ename, str):
            raise IdlError(source, f"errors[{i}] needs an integer 'code' and a string 'name'")
        idl.errors[code] = ename
    if program_id is not None and not _is_pubkey(program_id):
        # Checked last, so that a layout problem (which stops decoding) is reported first.
        raise IdlError(source, f"address {program_id[:64]!r} is not a valid base58 public key (32 bytes)")
    return idl


def _is_pubkey(value: str) -> bool:
    from solders.pubkey import Pubkey  # what the decoder compares program ids with

    try:
        Pubkey.from_string(value)
    except Exception:  # solders raises its own ParseHashError / ValueError variants
        return False
    return True


def defined_name(ty: Any) -> str | None:
    """The type name of a ``{"defined": "X"}`` / ``{"defined": {"name": "X"}}`` reference."""
    ref = ty.get("defined") if isinstance(ty, dict) and len(ty) == 1 else None
    if isinstance(ref, dict):
        ref = ref.get("name")
    return ref if isinstance(ref, str) else None


def resolve_alias(idl: Idl, ty: Any) -> Any:
    """``ty`` with references to type aliases (``kind: "type"``) followed to what they name."""
    for _ in range(64):  # an alias cycle is the compiler's to report; stop rather than loop
        name = defined_name(ty)
        typedef = idl.types.get(name) if name is not None else None
        body = typedef.get("type") if isinstance(typedef, dict) else None
        if not (isinstance(body, dict) and body.get("kind") == "type"):
            return ty
        ty = body.get("alias")
    return ty


def enum_variants(idl: Idl, ty: Any) -> list[str] | None:
    """Variant names when ``ty`` is (an alias of) an enum, else None."""
    name = defined_name(resolve_alias(idl, ty))
    typedef = idl.types.get(name) if name is not None else None
    body = typedef.get("type") if isinstance(typedef, dict) else None
    if not isinstance(body, dict) or body.get("kind") != "enum" or not isinstance(body.get("variants"), list):
        return None
    return [v["name"] for v in body["variants"] if isinstance(v, dict) and isinstance(v.get("name"), str)]


def _is_legacy(obj: dict[str, Any]) -> bool:
    if "address" in obj or (isinstance(obj.get("metadata"), dict) and "spec" in obj["metadata"]):
        return False
    return True


def _load_accounts(idl: Idl, obj: dict[str, Any], legacy: bool) -> None:
    for i, a in enumerate(_list(obj, "accounts", idl.source)):
        aname = _name(a, f"accounts[{i}]", idl.source)
        if isinstance(a.get("type"), dict):  # legacy: layout inline
            idl.types.setdefault(aname, {k: v for k, v in a.items() if k != "discriminator"})
        typedef = idl.types.get(aname)
        if typedef is None:
            raise IdlError(idl.source, f"account {aname!r} has no layout under 'types'")
        disc = _discriminator(a, f"accounts.{aname}", idl.source, legacy, "account", aname)
        idl.accounts[aname] = IdlItem(aname, disc, typedef)


def _load_events(idl: Idl, obj: dict[str, Any], legacy: bool) -> None:
    for i, e in enumerate(_list(obj, "events", idl.source)):
        ename = _name(e, f"events[{i}]", idl.source)
        if isinstance(e.get("fields"), list):  # legacy: fields inline
            typedef: dict[str, Any] | None = {
                "name": ename,
                "type": {"kind": "struct", "fields": e["fields"]},
            }
        else:
            typedef = idl.types.get(ename)
        if typedef is None:
            raise IdlError(
                idl.source, f"event {ename!r} has neither inline 'fields' nor a layout under 'types'"
            )
        disc = _discriminator(e, f"events.{ename}", idl.source, legacy, "event", ename)
        idl.events[ename] = IdlItem(ename, disc, typedef)


def _load_instructions(idl: Idl, obj: dict[str, Any], legacy: bool) -> None:
    for i, ix in enumerate(_list(obj, "instructions", idl.source)):
        iname = _name(ix, f"instructions[{i}]", idl.source)
        disc = _discriminator(ix, f"instructions.{iname}", idl.source, legacy, "global", snake_case(iname))
        idl.instructions[iname] = IdlInstruction(iname, disc)


def _discriminator(item: dict[str, Any], where: str, source: str, legacy: bool, ns: str, name: str) -> bytes:
    disc = item.get("discriminator")
    if disc is None:
        if not legacy:
            raise IdlError(source, f"{where}: missing 'discriminator' (required by the 0.30+ IDL spec)")
        return sighash(ns, name)
    if not isinstance(disc, list) or not disc or not all(isinstance(b, int) and 0 <= b <= 255 for b in disc):
        raise IdlError(source, f"{where}.discriminator must be a non-empty list of bytes (0..255)")
    return bytes(disc)


def _list(obj: dict[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise IdlError(source, f"'{key}' must be a list of objects")
    return value


def _name(item: dict[str, Any], where: str, source: str) -> str:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise IdlError(source, f"{where} has no 'name'")
    return name


def _require_dict(value: Any, where: str, source: str) -> None:
    if not isinstance(value, dict):
        raise IdlError(source, f"{where} must be an object")
