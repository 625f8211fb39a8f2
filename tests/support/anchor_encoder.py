"""An IDL-driven Borsh / zero-copy ENCODER, for tests and benchmarks only.

Written independently of ``exporter.anchor`` (it reads the raw IDL JSON itself) so that a
round trip "random value -> encode here -> decode with the project -> compare" checks the
decoder against a second reading of the IDL rules rather than against itself.

Values are produced directly in the rendered form the decoder must return (pubkeys as base58,
``bytes`` as base64, enums as ``{Variant: ...}``...), and encoded from that form.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from random import Random
from typing import Any

import based58
from solders.pubkey import Pubkey

EMIT_CPI_TAG = bytes.fromhex("e445a52e51cb9a1d")

_INTS = {
    "u8": (1, False),
    "i8": (1, True),
    "u16": (2, False),
    "i16": (2, True),
    "u32": (4, False),
    "i32": (4, True),
    "u64": (8, False),
    "i64": (8, True),
    "u128": (16, False),
    "i128": (16, True),
    "u256": (32, False),
    "i256": (32, True),
}
# Alignment in zero-copy (repr(C)) layouts on the SBF target: integers up to 8 bytes.
_ALIGN = {"u8": 1, "i8": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4, "bool": 1, "f32": 4, "pubkey": 1}


def _sighash(ns: str, name: str) -> bytes:
    return hashlib.sha256(f"{ns}:{name}".encode()).digest()[:8]


class AnchorEncoder:
    def __init__(self, idl: dict[str, Any]) -> None:
        self.idl = idl
        self.legacy = "address" not in idl
        self.types = {t["name"]: t for t in idl.get("types", [])}
        self.events: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self.accounts: dict[str, tuple[bytes, dict[str, Any]]] = {}
        for a in idl.get("accounts", []):
            typedef = a if "type" in a else self.types[a["name"]]
            self.types.setdefault(a["name"], typedef)
            disc = bytes(a["discriminator"]) if "discriminator" in a else _sighash("account", a["name"])
            self.accounts[a["name"]] = (disc, typedef)
        for e in idl.get("events", []):
            if "fields" in e:
                typedef = {"name": e["name"], "type": {"kind": "struct", "fields": e["fields"]}}
            else:
                typedef = self.types[e["name"]]
            disc = bytes(e["discriminator"]) if "discriminator" in e else _sighash("event", e["name"])
            self.events[e["name"]] = (disc, typedef)
        self.program_id = idl.get("address") or idl.get("metadata", {}).get("address")

    # --- whole items ---

    def random_event(self, name: str, rng: Random) -> tuple[bytes, Any]:
        """(discriminator + Borsh bytes, expected decoded data) for a random event value."""
        disc, typedef = self.events[name]
        value = self.random_typedef(typedef, rng, {})
        return disc + self.encode_typedef(typedef, value, "borsh", {}, rng), value

    def random_account(self, name: str, rng: Random) -> tuple[bytes, Any]:
        disc, typedef = self.accounts[name]
        mode = "mem" if typedef.get("serialization") in ("bytemuck", "bytemuckunsafe") else "borsh"
        value = self.random_typedef(typedef, rng, {})
        return disc + self.encode_typedef(typedef, value, mode, {}, rng), value

    def instruction_data(self, name: str) -> bytes:
        for ix in self.idl.get("instructions", []):
            if ix["name"] == name:
                if "discriminator" in ix:
                    return bytes(ix["discriminator"])
                snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
                return _sighash("global", snake)
        raise KeyError(name)

    # --- random values in rendered form ---

    def random_typedef(self, typedef: dict[str, Any], rng: Random, env: dict[str, Any]) -> Any:
        body = typedef["type"]
        if body["kind"] == "type":
            return self.random(body["alias"], rng, env)
        if body["kind"] == "enum":
            v = rng.choice(body["variants"])
            fields = v.get("fields")
            if not fields:
                return {v["name"]: None}
            return {v["name"]: self._random_fields(fields, rng, env)}
        return self._random_fields(body.get("fields") or [], rng, env)

    def _random_fields(self, fields: list[Any], rng: Random, env: dict[str, Any]) -> Any:
        if fields and all(isinstance(f, dict) and "name" in f and "type" in f for f in fields):
            return {f["name"]: self.random(f["type"], rng, env) for f in fields}
        if not fields:
            return {}
        return [self.random(t, rng, env) for t in fields]

    def random(self, ty: Any, rng: Random, env: dict[str, Any]) -> Any:
        if isinstance(ty, str):
            if ty in _INTS:
                size, signed = _INTS[ty]
                bits = size * 8
                edge = rng.random() < 0.3
                if signed:
                    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
                else:
                    lo, hi = 0, (1 << bits) - 1
                return rng.choice([lo, hi, 0]) if edge else rng.randint(lo, hi)
            if ty == "bool":
                return rng.random() < 0.5
            if ty == "f32":
                return struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0]
            if ty == "f64":
                x = rng.uniform(-1e12, 1e12)
                return x if math.isfinite(x) else 0.0
            if ty in ("pubkey", "publicKey"):
                return str(Pubkey.from_bytes(rng.randbytes(32)))
            if ty == "string":
                alphabet = "abcXYZ019 _-é€😀\u4e2d"
                return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            if ty == "bytes":
                return base64.b64encode(rng.randbytes(rng.randint(0, 20))).decode()
            raise ValueError(f"unknown type {ty}")
        ((key, arg),) = ty.items()
        if key == "generic":
            return self.random(env[arg], rng, env)
        if key in ("option", "coption"):
            return None if rng.random() < 0.3 else self.random(arg, rng, env)
        if key == "vec":
            return [self.random(arg, rng, env) for _ in range(rng.randint(0, 4))]
        if key == "array":
            n = self._len(arg[1], env)
            return [self.random(arg[0], rng, env) for _ in range(n)]
        typedef, sub = self._defined(ty, env)
        return self.random_typedef(typedef, rng, sub)

    # --- encoding ---

    def encode_typedef(
        self, typedef: dict[str, Any], value: Any, mode: str, env: dict[str, Any], rng: Random
    ) -> bytes:
        body = typedef["type"]
        if body["kind"] == "type":
            return self.encode(body["alias"], value, mode, env, rng)
        if body["kind"] == "enum":
            ((vname, vvalue),) = value.items()
            index = [v["name"] for v in body["variants"]].index(vname)
            if vvalue is None:
                return bytes([index])
            fields = body["variants"][index]["fields"]
            return bytes([index]) + self._encode_fields(fields, vvalue, "borsh", env, rng, typedef)
        return self._encode_fields(body.get("fields") or [], value, mode, env, rng, typedef)

    def _encode_fields(
        self,
        fields: list[Any],
        value: Any,
        mode: str,
        env: dict[str, Any],
        rng: Random,
        typedef: dict[str, Any],
    ) -> bytes:
        types = [f["type"] for f in fields] if isinstance(value, dict) else list(fields)
        values = [value[f["name"]] for f in fields] if isinstance(value, dict) else list(value)
        if mode == "borsh":
            return b"".join(self.encode(t, v, mode, env, rng) for t, v in zip(types, values, strict=True))
        packed = bool(typedef.get("repr", {}).get("packed"))
        out = bytearray()
        for t, v in zip(types, values, strict=True):
            align = 1 if packed else self.align(t, env)
            while len(out) % align:
                out.append(rng.randrange(256))  # padding may hold anything
            out += self.encode(t, v, mode, env, rng)
        total = self.size_align_typedef(typedef, env)[0]
        while len(out) < total:
            out.append(rng.randrange(256))
        return bytes(out)

    def encode(self, ty: Any, value: Any, mode: str, env: dict[str, Any], rng: Random) -> bytes:
        if isinstance(ty, str):
            if ty in _INTS:
                size, signed = _INTS[ty]
                return value.to_bytes(size, "little", signed=signed)
            if ty == "bool":
                return b"\x01" if value else b"\x00"
            if ty == "f32":
                return struct.pack("<f", value)
            if ty == "f64":
                return struct.pack("<d", value)
            if ty in ("pubkey", "publicKey"):
                return bytes(Pubkey.from_string(value))
            if ty == "string":
                raw = value.encode()
                return len(raw).to_bytes(4, "little") + raw
            if ty == "bytes":
                raw = base64.b64decode(value)
                return len(raw).to_bytes(4, "little") + raw
            raise ValueError(ty)
        ((key, arg),) = ty.items()
        if key == "generic":
            return self.encode(env[arg], value, mode, env, rng)
        if key == "option":
            return b"\x00" if value is None else b"\x01" + self.encode(arg, value, mode, env, rng)
        if key == "coption":
            return b"\0\0\0\0" if value is None else b"\1\0\0\0" + self.encode(arg, value, mode, env, rng)
        if key == "vec":
            return len(value).to_bytes(4, "little") + b"".join(
                self.encode(arg, v, mode, env, rng) for v in value
            )
        if key == "array":
            return b"".join(self.encode(arg[0], v, mode, env, rng) for v in value)
        typedef, sub = self._defined(ty, env)
        return self.encode_typedef(typedef, value, mode, sub, rng)

    # --- zero-copy layout ---

    def align(self, ty: Any, env: dict[str, Any]) -> int:
        return self.size_align(ty, env)[1]

    def size_align(self, ty: Any, env: dict[str, Any]) -> tuple[int, int]:
        if isinstance(ty, str):
            if ty in _INTS:
                return _INTS[ty][0], _ALIGN.get(ty, 8)
            if ty == "publicKey":
                ty = "pubkey"
            return {"bool": 1, "f32": 4, "f64": 8, "pubkey": 32}[ty], _ALIGN.get(ty, 8)
        ((key, arg),) = ty.items()
        if key == "generic":
            return self.size_align(env[arg], env)
        if key == "array":
            size, align = self.size_align(arg[0], env)
            return size * self._len(arg[1], env), align
        typedef, sub = self._defined(ty, env)
        return self.size_align_typedef(typedef, sub)

    def size_align_typedef(self, typedef: dict[str, Any], env: dict[str, Any]) -> tuple[int, int]:
        body = typedef["type"]
        if body["kind"] == "enum":
            return 1, 1
        fields = body.get("fields") or []
        types = [f["type"] if isinstance(f, dict) and "type" in f and "name" in f else f for f in fields]
        packed = bool(typedef.get("repr", {}).get("packed"))
        offset, align = 0, 1
        for t in types:
            size, a = self.size_align(t, env)
            if packed:
                a = 1
            offset += -offset % a
            offset += size
            align = max(align, a)
        align = max(align, int(typedef.get("repr", {}).get("align", 1)))
        return offset + (-offset % align), align

    # --- helpers ---

    def _defined(self, ty: dict[str, Any], env: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        ref = ty["defined"]
        if isinstance(ref, str):
            return self.types[ref], {}
        typedef = self.types[ref["name"]]
        sub: dict[str, Any] = {}
        for param, arg in zip(typedef.get("generics", []), ref.get("generics", []), strict=True):
            if arg["kind"] == "type":
                sub[param["name"]] = _subst(arg["type"], env)
            else:
                sub[param["name"]] = int(arg["value"])
        return typedef, sub

    @staticmethod
    def _len(n: Any, env: dict[str, Any]) -> int:
        return int(env[n["generic"]]) if isinstance(n, dict) else int(n)


def _subst(node: Any, env: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"generic"}:
            return env[node["generic"]]
        return {k: _subst(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_subst(v, env) for v in node]
    return node


# --- transactions -------------------------------------------------------------------------------


def b58encode(raw: bytes) -> str:
    return based58.b58encode(raw).decode("ascii")


def log_data_line(payload: bytes) -> str:
    return "Program data: " + base64.b64encode(payload).decode()


def transaction(
    logs: list[str] | None = None,
    account_keys: list[str] | None = None,
    instructions: list[dict[str, Any]] | None = None,
    inner: list[dict[str, Any]] | None = None,
    loaded: dict[str, list[str]] | None = None,
    err: Any = None,
) -> dict[str, Any]:
    """A getTransaction ``result`` (encoding json, version 0) with the given parts."""
    return {
        "slot": 1234,
        "blockTime": 1_700_000_000,
        "version": 0,
        "transaction": {
            "signatures": ["5" * 88],
            "message": {
                "accountKeys": account_keys or [],
                "instructions": instructions or [],
                "recentBlockhash": "11111111111111111111111111111111",
                "header": {
                    "numRequiredSignatures": 1,
                    "numReadonlySignedAccounts": 0,
                    "numReadonlyUnsignedAccounts": 1,
                },
                "addressTableLookups": [],
            },
        },
        "meta": {
            "err": err,
            "fee": 5000,
            "logMessages": logs if logs is not None else [],
            "innerInstructions": inner or [],
            "loadedAddresses": loaded or {"writable": [], "readonly": []},
            "preBalances": [],
            "postBalances": [],
        },
    }


def emit_log_tx(program_id: str, payloads: list[bytes], outer: str | None = None) -> dict[str, Any]:
    """A transaction whose program logs each payload with ``emit!`` (optionally CPI'd by ``outer``)."""
    depth = 1
    logs: list[str] = []
    if outer:
        logs += [f"Program {outer} invoke [1]"]
        depth = 2
    logs += [f"Program {program_id} invoke [{depth}]", "Program log: Instruction: Something"]
    logs += [log_data_line(p) for p in payloads]
    logs += [f"Program {program_id} consumed 12345 of 200000 compute units", f"Program {program_id} success"]
    if outer:
        logs += [f"Program {outer} consumed 20000 of 200000 compute units", f"Program {outer} success"]
    return transaction(logs=logs)


def emit_cpi_tx(program_id: str, payloads: list[bytes], ix_data: bytes = b"\0" * 8) -> dict[str, Any]:
    """A transaction where the program emits each payload with ``emit_cpi!`` (self-invocation)."""
    event_authority = str(Pubkey.from_bytes(b"\x07" * 32))
    keys = ["Payer1111111111111111111111111111111111111", event_authority, program_id]
    logs = [f"Program {program_id} invoke [1]", "Program log: Instruction: Something"]
    inner = []
    for p in payloads:
        logs += [
            f"Program {program_id} invoke [2]",
            f"Program {program_id} consumed 5000 of 190000 compute units",
            f"Program {program_id} success",
        ]
        inner.append(
            {"programIdIndex": 2, "accounts": [1], "data": b58encode(EMIT_CPI_TAG + p), "stackHeight": 2}
        )
    logs += [f"Program {program_id} consumed 30000 of 200000 compute units", f"Program {program_id} success"]
    return transaction(
        logs=logs,
        account_keys=keys,
        instructions=[
            {"programIdIndex": 2, "accounts": [0, 1], "data": b58encode(ix_data), "stackHeight": None}
        ],
        inner=[{"index": 0, "instructions": inner}] if inner else [],
    )
