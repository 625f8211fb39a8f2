"""Decoders for IDL types, compiled once per type from the IDL (this is the ingestion hot path).

A type compiles to a ``Decoder``: ``decoder(buf, offset) -> (value, new_offset)``.

Speed comes from two things:

* every run of fixed-size fields (integers, floats, bools, pubkeys, fixed arrays, fixed
  nested structs, unit-only enums) is read with ONE precompiled ``struct.Struct.unpack_from``;
* the Python that turns the unpacked tuple into the rendered value is generated source code
  (``exec``), e.g. ``{'vault': _str(_pubkey(t0[0])), 'amount': t0[1]}`` - no per-field interpretation
  loop at decode time.  IDL text reaches the generated code only as string literals made by
  ``_literal`` (``repr`` of a ``str``, checked to read back verbatim); everything else in it
  is generated here (``_cN`` constants, integers), so the IDL cannot inject code.

Values are rendered as the ``decode`` CLI's JSON contract wants them: ints (exact, u128/i128
included), floats, bools, str, pubkeys in base58, ``bytes`` in standard base64, lists for vec and
arrays (u8 elements as ints), ``None`` for an empty option, dicts for named structs (field names
unchanged), lists for tuple structs, and ``{Variant: None | dict | list}`` for enums.

Two layouts exist.  ``borsh``: Borsh, no padding (events, instruction args, ordinary accounts).
``mem``: the in-memory layout of zero-copy accounts (``serialization: bytemuck``), ``repr(C)``
alignment and padding, or none with ``packed``.

Decoding failures raise ``DecodeError`` with a low-cardinality ``reason``; see ``decode_value``.
IDL problems found while compiling raise ``IdlError`` naming the type and field.
"""

from __future__ import annotations

import ast
import binascii
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from exporter.anchor.idl import Idl, IdlError, IdlItem

Decoder = Callable[[bytes, int], tuple[Any, int]]
#: A whole event's or account's decoder: ``decoder(buf, offset) -> value`` (no end offset to return).
ItemDecoder = Callable[[bytes, int], Any]

_U32 = struct.Struct("<I")

#: Decode failure reasons (labels of escrow_event_decode_errors_total).
SHORT_DATA = "short_data"
INVALID_VALUE = "invalid_value"
INVALID_UTF8 = "invalid_utf8"
INVALID_DATA = "invalid_data"
TOO_DEEP = "too_deep"


class DecodeError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_value(decoder: Decoder, data: bytes, offset: int = 0) -> Any:
    """Run ``decoder`` on ``data``; every failure becomes ``DecodeError(reason)``."""
    try:
        return decoder(data, offset)[0]
    except Exception as e:  # nothing in bytes may escape as another exception
        raise as_decode_error(e) from None


def as_decode_error(e: Exception) -> DecodeError:
    """The ``DecodeError`` a decoder's exception stands for (its reason label)."""
    if isinstance(e, DecodeError):
        return e
    if isinstance(e, (struct.error, IndexError)):
        return DecodeError(SHORT_DATA)
    if isinstance(e, KeyError):  # enum variant / bool byte not in the lookup table
        return DecodeError(INVALID_VALUE)
    if isinstance(e, UnicodeDecodeError):
        return DecodeError(INVALID_UTF8)
    if isinstance(e, RecursionError):
        return DecodeError(TOO_DEEP)
    return DecodeError(INVALID_DATA)


# --- value renderers used by the generated code ----------------------------------------------


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def _u256(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _i256(raw: bytes) -> int:
    return int.from_bytes(raw, "little", signed=True)


_BOOL = {0: False, 1: True}  # Borsh rejects any other byte; a KeyError becomes invalid_value


@dataclass(frozen=True)
class Fixed:
    """A fixed-size type as a fragment of a ``struct`` format.

    ``render(t, i)`` returns a Python expression building the value from the ``nitems``
    unpacked items ``t[i] .. t[i + nitems - 1]``; ``identity`` means that expression is just
    ``t[i]`` (lets arrays of such items become a slice).
    """

    fmt: str
    nitems: int
    size: int
    align: int
    render: Callable[[str, int], str]
    identity: bool = False


def _item(t: str, i: int) -> str:
    return f"{t}[{i}]"


def _call(fn: str) -> Callable[[str, int], str]:
    return lambda t, i: f"{fn}({t}[{i}])"


# u128 is aligned to 8 in repr(C): that is the SBF target's layout (LLVM "i64:64", no i128
# entry), i.e. how the on-chain program writes the account.  Pod structs have no implicit
# padding anyway, so this only matters for hand-written layouts.
_PRIMITIVES: dict[str, Fixed] = {
    "u8": Fixed("B", 1, 1, 1, _item, True),
    "i8": Fixed("b", 1, 1, 1, _item, True),
    "u16": Fixed("H", 1, 2, 2, _item, True),
    "i16": Fixed("h", 1, 2, 2, _item, True),
    "u32": Fixed("I", 1, 4, 4, _item, True),
    "i32": Fixed("i", 1, 4, 4, _item, True),
    "u64": Fixed("Q", 1, 8, 8, _item, True),
    "i64": Fixed("q", 1, 8, 8, _item, True),
    "f32": Fixed("f", 1, 4, 4, _item, True),
    "f64": Fixed("d", 1, 8, 8, _item, True),
    "u128": Fixed("QQ", 2, 16, 8, lambda t, i: f"({t}[{i + 1}] << 64 | {t}[{i}])"),
    "i128": Fixed("Qq", 2, 16, 8, lambda t, i: f"({t}[{i + 1}] << 64 | {t}[{i}])"),
    "u256": Fixed("32s", 1, 32, 8, _call("_u256")),
    "i256": Fixed("32s", 1, 32, 8, _call("_i256")),
    "bool": Fixed("B", 1, 1, 1, lambda t, i: f"_BOOL[{t}[{i}]]"),
    # str(Pubkey) inlined in the generated code: no Python frame per pubkey.  solders, not based58:
    # the same base58 text, but based58.b58encode takes 3-5x as long per 32-byte key, and
    # pubkeys are the costliest field of most events.
    "pubkey": Fixed("32s", 1, 32, 1, lambda t, i: f"_str(_pubkey({t}[{i}]))"),
    "publicKey": Fixed("32s", 1, 32, 1, lambda t, i: f"_str(_pubkey({t}[{i}]))"),
}


# --- dynamic decoders -------------------------------------------------------------------------


def _span(b: bytes, o: int) -> tuple[int, int]:
    """Start and end of a u32-length-prefixed run (string, bytes, Vec<u8>) at ``o``."""
    start = o + 4
    end = start + _U32.unpack_from(b, o)[0]
    if end > len(b):
        raise DecodeError(SHORT_DATA)
    return start, end


def _dec_string(b: bytes, o: int) -> tuple[Any, int]:
    start, end = _span(b, o)
    return str(b[start:end], "utf-8"), end


def _dec_bytes(b: bytes, o: int) -> tuple[Any, int]:
    start, end = _span(b, o)
    return _b64(b[start:end]), end


def _dec_option(inner: Decoder) -> Decoder:
    def dec(b: bytes, o: int) -> tuple[Any, int]:
        tag = b[o]
        if tag == 0:
            return None, o + 1
        if tag == 1:
            return inner(b, o + 1)
        raise DecodeError(INVALID_VALUE)

    return dec


def _dec_coption(inner: Decoder) -> Decoder:
    # Anchor's COption layout: u32 tag, then the value only when the tag is 1.
    def dec(b: bytes, o: int) -> tuple[Any, int]:
        tag = _U32.unpack_from(b, o)[0]
        if tag == 0:
            return None, o + 4
        if tag == 1:
            return inner(b, o + 4)
        raise DecodeError(INVALID_VALUE)

    return dec


def _dec_vec_u8(b: bytes, o: int) -> tuple[Any, int]:
    start, end = _span(b, o)
    return list(b[start:end]), end


def _dec_vec_fixed(elem: Fixed, convert: Callable[[tuple[Any, ...]], Any]) -> Decoder:
    s = struct.Struct("<" + elem.fmt)
    size = max(elem.size, 1)

    def dec(b: bytes, o: int) -> tuple[Any, int]:
        n = _U32.unpack_from(b, o)[0]
        o += 4
        end = o + n * size
        if end > len(b):  # also stops a forged huge length before any work is done
            raise DecodeError(SHORT_DATA)
        if elem.size == 0:
            return [convert(()) for _ in range(n)], o
        return [convert(t) for t in s.iter_unpack(b[o:end])], end

    return dec


def _dec_vec(elem: Decoder) -> Decoder:
    def dec(b: bytes, o: int) -> tuple[Any, int]:
        n = _U32.unpack_from(b, o)[0]
        o += 4
        if n > len(b) - o:  # every element takes at least one byte
            raise DecodeError(SHORT_DATA)
        out = []
        for _ in range(n):
            v, o = elem(b, o)
            out.append(v)
        return out, o

    return dec


def _dec_array(elem: Decoder, n: int) -> Decoder:
    def dec(b: bytes, o: int) -> tuple[Any, int]:
        out = []
        for _ in range(n):
            v, o = elem(b, o)
            out.append(v)
        return out, o

    return dec


def _dec_enum(variants: list[tuple[str, Decoder | None]]) -> Decoder:
    count = len(variants)

    def dec(b: bytes, o: int) -> tuple[Any, int]:
        tag = b[o]
        if tag >= count:
            raise DecodeError(INVALID_VALUE)
        name, inner = variants[tag]
        if inner is None:
            return {name: None}, o + 1
        v, o = inner(b, o + 1)
        return {name: v}, o

    return dec


# --- the compiler -----------------------------------------------------------------------------


class TypeCompiler:
    """Compiles the IDL's type expressions into decoders, caching one decoder per type."""

    def __init__(self, idl: Idl) -> None:
        self.idl = idl
        self._ns: dict[str, Any] = {
            "_pubkey": Pubkey.from_bytes,
            "_str": str,
            "_b64": _b64,
            "_u256": _u256,
            "_i256": _i256,
            "_BOOL": _BOOL,
        }
        self._fixed: dict[tuple[str, str], Fixed | None] = {}
        self._dynamic: dict[tuple[str, str], Decoder] = {}
        self._in_progress: set[tuple[str, str]] = set()
        self._counter = 0

    # public entry points

    def item_decoder(self, item: IdlItem, kind: str) -> ItemDecoder:
        """Decoder of an event's or account's data (after its discriminator); returns the value only."""
        mode = "mem" if kind == "account" and _is_zero_copy(item.typedef) else "borsh"
        where = f"{kind}s.{item.name}"
        body = item.typedef.get("type")
        if not isinstance(body, dict):
            raise IdlError(self.idl.source, f"{where}: layout 'type' must be an object")
        if item.typedef.get("generics"):
            raise IdlError(
                self.idl.source, f"{where}: {item.name!r} takes generic arguments, so it cannot be a {kind}"
            )
        fixed = self._fixed_typedef(item.typedef, body, mode, where)
        if fixed is not None:
            return self._fixed_decoder(fixed, value_only=True)
        if body.get("kind") not in ("type", "enum"):  # a struct: generated code, value only
            fields, named = self._fields(body.get("fields"), where)
            return self._struct_decoder(fields, named, mode, where, value_only=True)
        dec = self._dynamic_typedef(body, mode, where)
        return lambda b, o: dec(b, o)[0]

    def decoder(self, ty: Any, mode: str, where: str) -> Decoder:
        fixed = self.fixed(ty, mode, where)
        if fixed is not None:
            return self._fixed_decoder(fixed)
        return self._dynamic_decoder(ty, mode, where)

    # fixed-size types

    def fixed(self, ty: Any, mode: str, where: str) -> Fixed | None:
        """The fixed-size layout of ``ty``, or None when its size depends on the data."""
        if isinstance(ty, str):
            if ty in _PRIMITIVES:
                return _PRIMITIVES[ty]
            if ty in ("string", "bytes"):
                return None
            raise IdlError(self.idl.source, f"{where}: unknown type {ty!r}")
        if not isinstance(ty, dict) or len(ty) != 1:
            raise IdlError(self.idl.source, f"{where}: invalid type expression {json.dumps(ty)[:120]}")
        if "array" in ty:
            elem_ty, n = self._array_args(ty, where)
            elem = self.fixed(elem_ty, mode, f"{where}[]")
            return None if elem is None else self._fixed_array(elem, n)
        if any(k in ty for k in ("option", "coption", "vec")):
            return None
        if "generic" in ty:
            raise IdlError(self.idl.source, f"{where}: generic {ty['generic']!r} used without a value")
        key = (_key(ty), mode)
        if key in self._fixed:
            return self._fixed[key]
        if key in self._in_progress:
            raise IdlError(self.idl.source, f"{where}: type contains itself without a vec or option")
        self._in_progress.add(key)
        try:
            typedef, body, twhere = self._defined(ty, where)
            result = self._fixed_typedef(typedef, body, mode, twhere)
        finally:
            self._in_progress.discard(key)
        self._fixed[key] = result
        return result

    def _fixed_typedef(
        self, typedef: dict[str, Any], body: dict[str, Any], mode: str, where: str
    ) -> Fixed | None:
        kind = body.get("kind")
        if kind == "type":
            return self.fixed(body.get("alias"), mode, f"{where}.alias")
        if kind == "enum":
            variants = self._variants(body, where)
            if any(fields for _, fields in variants):
                if mode == "mem":
                    raise IdlError(self.idl.source, f"{where}: enums with fields cannot be zero-copy")
                return None
            names = self._const({i: name for i, (name, _) in enumerate(variants)})
            return Fixed("B", 1, 1, 1, lambda t, i: f"{{{names}[{t}[{i}]]: None}}")
        if kind != "struct":
            raise IdlError(self.idl.source, f"{where}: unknown kind {kind!r} (expected struct, enum or type)")
        fields, named = self._fields(body.get("fields"), where)
        parts: list[Fixed] = []
        for fname, fty in fields:
            f = self.fixed(fty, mode, f"{where}.{fname}")
            if f is None:
                if mode == "mem":
                    raise IdlError(
                        self.idl.source, f"{where}.{fname}: variable-size type in a zero-copy layout"
                    )
                return None
            parts.append(f)
        raw_repr = typedef.get("repr")
        repr_: dict[str, Any] = raw_repr if isinstance(raw_repr, dict) else {}
        packed = mode == "borsh" or bool(repr_.get("packed"))
        return self._fixed_struct([n for n, _ in fields], parts, named, packed, _int(repr_.get("align"), 1))

    def _fixed_struct(
        self, names: list[str], parts: list[Fixed], named: bool, packed: bool, min_align: int
    ) -> Fixed:
        fmts: list[str] = []
        offset, align, nitems = 0, 1, 0
        starts: list[int] = []
        for p in parts:
            if not packed:  # repr(C): each field at a multiple of its alignment
                pad = -offset % p.align
                if pad:
                    fmts.append(f"{pad}x")
                offset += pad
                align = max(align, p.align)
            fmts.append(p.fmt)
            starts.append(nitems)
            nitems += p.nitems
            offset += p.size
        align = max(align, min_align)
        tail = -offset % align
        if tail:
            fmts.append(f"{tail}x")
            offset += tail
        renders = [p.render for p in parts]

        def render(t: str, i: int) -> str:
            values = [r(t, i + s) for r, s in zip(renders, starts, strict=True)]
            if named:
                return (
                    "{" + ", ".join(f"{_literal(n)}: {v}" for n, v in zip(names, values, strict=True)) + "}"
                )
            return "[" + ", ".join(values) + "]"

        return Fixed(" ".join(fmts), nitems, offset, align, render)

    def _fixed_array(self, elem: Fixed, n: int) -> Fixed:
        if elem.fmt == "B" and elem.identity:  # [u8; N]: one bytes item -> list of ints
            return Fixed(f"{n}s", 1, n, 1, lambda t, i: f"list({t}[{i}])")
        if elem.identity:
            return Fixed(
                f"{n}{elem.fmt}", n, n * elem.size, elem.align, lambda t, i: f"list({t}[{i}:{i + n}])"
            )

        def render(t: str, i: int) -> str:
            return "[" + ", ".join(elem.render(t, i + k * elem.nitems) for k in range(n)) + "]"

        return Fixed(" ".join([elem.fmt] * n), elem.nitems * n, elem.size * n, elem.align, render)

    def _fixed_decoder(self, f: Fixed, value_only: bool = False) -> Any:
        s = self._const(struct.Struct("<" + f.fmt))
        end = "" if value_only else f", o + {f.size}"
        src = f"def dec(b, o):\n    t = {s}.unpack_from(b, o)\n    return {f.render('t', 0)}{end}\n"
        return self._exec(src)

    # variable-size types

    def _dynamic_decoder(self, ty: Any, mode: str, where: str) -> Decoder:
        if ty == "string":
            return _dec_string
        if ty == "bytes":
            return _dec_bytes
        if "option" in ty:
            return _dec_option(self.decoder(ty["option"], mode, f"{where}<option>"))
        if "coption" in ty:
            return _dec_coption(self.decoder(ty["coption"], mode, f"{where}<coption>"))
        if "vec" in ty:
            return self._vec(ty["vec"], mode, f"{where}<vec>")
        if "array" in ty:
            elem_ty, n = self._array_args(ty, where)
            return _dec_array(self.decoder(elem_ty, mode, f"{where}[]"), n)
        key = (_key(ty), mode)
        if key in self._dynamic:
            return self._dynamic[key]
        # A recursive type (through vec/option) meets itself while compiling: hand out a
        # forwarder that calls the real decoder once it exists.
        cell: list[Decoder] = []
        self._dynamic[key] = lambda b, o: cell[0](b, o)
        typedef, body, twhere = self._defined(ty, where)
        dec = self._dynamic_typedef(body, mode, twhere)
        cell.append(dec)
        self._dynamic[key] = dec
        return dec

    def _vec(self, elem_ty: Any, mode: str, where: str) -> Decoder:
        elem = self.fixed(elem_ty, mode, where)
        if elem is None:
            return _dec_vec(self.decoder(elem_ty, mode, where))
        if elem.fmt == "B" and elem.identity:
            return _dec_vec_u8
        convert = self._exec(f"def dec(t):\n    return {elem.render('t', 0)}\n")
        return _dec_vec_fixed(elem, convert)

    def _dynamic_typedef(self, body: dict[str, Any], mode: str, where: str) -> Decoder:
        kind = body.get("kind")
        if kind == "type":
            return self.decoder(body.get("alias"), mode, f"{where}.alias")
        if kind == "enum":
            variants: list[tuple[str, Decoder | None]] = []
            for vname, vfields in self._variants(body, where):
                if vfields is None:
                    variants.append((vname, None))
                else:
                    fields, named = self._fields(vfields, f"{where}.{vname}")
                    variants.append((vname, self._struct_decoder(fields, named, mode, f"{where}.{vname}")))
            return _dec_enum(variants)
        fields, named = self._fields(body.get("fields"), where)
        return self._struct_decoder(fields, named, mode, where)

    def _struct_decoder(
        self, fields: list[tuple[str, Any]], named: bool, mode: str, where: str, value_only: bool = False
    ) -> Any:
        """Generated code: one unpack per run of fixed fields, a call per variable-size field."""
        lines = ["def dec(b, o):"]
        values: list[str] = []
        run: list[tuple[str, Fixed]] = []

        def flush() -> None:
            if not run:
                return
            f = self._fixed_struct([n for n, _ in run], [p for _, p in run], False, True, 1)
            s = self._const(struct.Struct("<" + f.fmt))
            t = f"t{len(lines)}"
            lines.append(f"    {t} = {s}.unpack_from(b, o)")
            lines.append(f"    o += {f.size}")
            start = 0
            for _, p in run:
                values.append(p.render(t, start))
                start += p.nitems
            run.clear()

        for fname, fty in fields:
            fwhere = f"{where}.{fname}"
            fixed = self.fixed(fty, mode, fwhere)
            if fixed is not None:
                run.append((fname, fixed))
                continue
            flush()
            d = self._const(self.decoder(fty, mode, fwhere))
            v = f"v{len(lines)}"
            lines.append(f"    {v}, o = {d}(b, o)")
            values.append(v)
        flush()
        if named:
            result = (
                "{" + ", ".join(f"{_literal(n)}: {v}" for (n, _), v in zip(fields, values, strict=True)) + "}"
            )
        else:
            result = "[" + ", ".join(values) + "]"
        lines.append(f"    return {result}" if value_only else f"    return {result}, o")
        return self._exec("\n".join(lines) + "\n")

    # IDL shapes

    def _defined(self, ty: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        """Resolve a ``defined`` reference: (typedef, body with generics substituted, where)."""
        args: Any
        if "defined" in ty:
            ref = ty["defined"]
            if isinstance(ref, str):
                name, args = ref, []
            elif isinstance(ref, dict) and isinstance(ref.get("name"), str):
                name, args = ref["name"], ref.get("generics") or []
            else:
                raise IdlError(
                    self.idl.source, f"{where}: invalid 'defined' reference {json.dumps(ref)[:120]}"
                )
        elif "definedWithTypeArgs" in ty and isinstance(ty["definedWithTypeArgs"], dict):  # legacy generics
            ref = ty["definedWithTypeArgs"]
            name, args = str(ref.get("name")), ref.get("args") or []
        else:
            raise IdlError(self.idl.source, f"{where}: unknown type expression {json.dumps(ty)[:120]}")
        typedef = self.idl.types.get(name)
        if typedef is None:
            raise IdlError(self.idl.source, f"{where}: type {name!r} is not defined under 'types'")
        params = typedef.get("generics") or []
        if not isinstance(args, list) or len(args) != len(params):
            raise IdlError(self.idl.source, f"{where}: {name!r} takes {len(params)} generic argument(s)")
        env: dict[str, Any] = {}
        for p, a in zip(params, args, strict=True):
            pname = p.get("name") if isinstance(p, dict) else p
            if not isinstance(a, dict):
                raise IdlError(self.idl.source, f"{where}: invalid generic argument for {name!r}")
            if "type" in a:
                env[str(pname)] = a["type"]
            else:
                env[str(pname)] = _int(a.get("value"), None)
                if env[str(pname)] is None:
                    raise IdlError(
                        self.idl.source, f"{where}: const generic {pname!r} needs an integer value"
                    )
        body = typedef.get("type")
        if not isinstance(body, dict):
            raise IdlError(self.idl.source, f"types.{name}.type must be an object")
        if env:
            body = _substitute(body, env)
        return typedef, body, f"types.{name}"

    def _fields(self, raw: Any, where: str) -> tuple[list[tuple[str, Any]], bool]:
        """``[(name, type)]`` and whether the fields are named (else a tuple)."""
        if raw is None:
            return [], True
        if not isinstance(raw, list):
            raise IdlError(self.idl.source, f"{where}.fields must be a list")
        if all(isinstance(f, dict) and "name" in f and "type" in f for f in raw) and raw:
            return [(str(f["name"]), f["type"]) for f in raw], True
        return [(str(i), f) for i, f in enumerate(raw)], False

    def _variants(self, body: dict[str, Any], where: str) -> list[tuple[str, list[Any] | None]]:
        raw = body.get("variants")
        if not isinstance(raw, list) or not all(
            isinstance(v, dict) and isinstance(v.get("name"), str) for v in raw
        ):
            raise IdlError(self.idl.source, f"{where}.variants must be a list of objects with a 'name'")
        if len(raw) > 256:
            raise IdlError(self.idl.source, f"{where}: more than 256 variants")
        return [(v["name"], v.get("fields") or None) for v in raw]

    def _array_args(self, ty: dict[str, Any], where: str) -> tuple[Any, int]:
        arg = ty["array"]
        n = _int(arg[1], None) if isinstance(arg, list) and len(arg) == 2 else None
        if n is None or n < 0:
            raise IdlError(self.idl.source, f"{where}: array must be [type, length] with a length >= 0")
        return arg[0], n

    # code generation helpers

    def _const(self, value: Any) -> str:
        self._counter += 1
        name = f"_c{self._counter}"
        self._ns[name] = value
        return name

    def _exec(self, src: str) -> Any:
        local: dict[str, Any] = {}
        exec(compile(src, "<anchor-idl>", "exec"), self._ns, local)  # noqa: S102 - see module doc
        return local["dec"]


def _literal(name: str) -> str:
    """An IDL name as a Python string literal: the only way IDL text enters generated code."""
    literal = repr(str(name))
    if ast.literal_eval(literal) != name:  # cannot happen for a str; a guard, not a filter
        raise ValueError(f"cannot quote {name!r}")
    return literal


def _is_zero_copy(typedef: dict[str, Any]) -> bool:
    return typedef.get("serialization") in ("bytemuck", "bytemuckunsafe")


def _key(ty: Any) -> str:
    return json.dumps(ty, sort_keys=True, separators=(",", ":"))


def _int(value: Any, default: Any) -> Any:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


def _substitute(node: Any, env: dict[str, Any]) -> Any:
    """Replace ``{"generic": "T"}`` by its argument everywhere in a type body."""
    if isinstance(node, dict):
        if set(node) == {"generic"} and node["generic"] in env:
            return env[node["generic"]]
        return {k: _substitute(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, env) for v in node]
    return node
