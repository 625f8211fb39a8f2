"""A tiny Borsh encoder driven by Anchor 0.30 IDL type descriptions.

Events and accounts are encoded from the same ``types`` section that ``idls/paid_match.json``
publishes, so what the simulator emits can never drift from what the IDL describes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from solders.pubkey import Pubkey

_INTS = {"u8": "<B", "i8": "<b", "u16": "<H", "i16": "<h", "u32": "<I", "i32": "<i", "u64": "<Q", "i64": "<q"}


class BorshEncoder:
    def __init__(self, types: list[dict[str, Any]]) -> None:
        self._types = {t["name"]: t["type"] for t in types}

    def encode(self, type_name: str, value: Mapping[str, Any]) -> bytes:
        return self._encode({"defined": {"name": type_name}}, value)

    def _encode(self, ty: Any, v: Any) -> bytes:
        if isinstance(ty, str):
            if ty in _INTS:
                return struct.pack(_INTS[ty], v)
            if ty == "bool":
                return b"\x01" if v else b"\x00"
            if ty == "pubkey":
                return bytes(v if isinstance(v, Pubkey) else Pubkey.from_string(v))
            if ty == "string":
                raw = v.encode()
                return struct.pack("<I", len(raw)) + raw
            raise ValueError(f"unsupported Borsh type {ty!r}")
        if "vec" in ty:
            return struct.pack("<I", len(v)) + b"".join(self._encode(ty["vec"], x) for x in v)
        if "option" in ty:
            return b"\x00" if v is None else b"\x01" + self._encode(ty["option"], v)
        if "defined" in ty:
            return self._encode_defined(self._types[ty["defined"]["name"]], v)
        raise ValueError(f"unsupported Borsh type {ty!r}")

    def _encode_defined(self, ty: dict[str, Any], v: Any) -> bytes:
        if ty["kind"] == "struct":
            return b"".join(self._encode(f["type"], v[f["name"]]) for f in ty["fields"])
        # Enums are given as a variant name, or {"Variant": fields} (dict for named, list for tuple).
        name, fields = (v, None) if isinstance(v, str) else next(iter(v.items()))
        for i, variant in enumerate(ty["variants"]):
            if variant["name"] != name:
                continue
            out = bytes([i])
            for j, f in enumerate(variant.get("fields", [])):
                if isinstance(f, dict):
                    out += self._encode(f["type"], fields[f["name"]])  # type: ignore[index]
                else:
                    out += self._encode(f, fields[j])  # type: ignore[index]
            return out
        raise ValueError(f"unknown enum variant {name!r}")
