"""Every IDL type the decoder supports, on synthetic IDLs (new and legacy spec).

Round trips use tests/support/anchor_encoder.py (an independent encoder); a few hand-built byte
strings pin the exact rendering and layout rules.
"""

from __future__ import annotations

import copy
import random
import struct

import pytest

from exporter.anchor import DecodeError, EventDecoder, IdlError, parse_idl
from tests.support.anchor_encoder import AnchorEncoder
from tests.support.kitchen_idl import (
    KITCHEN,
    PK,
    idl_field,
)

LEGACY = {
    "version": "0.1.0",
    "name": "legacy_kitchen",
    "instructions": [{"name": "doThingV2", "accounts": [], "args": []}],
    "accounts": [
        {
            "name": "Holder",
            "type": {
                "kind": "struct",
                "fields": [
                    idl_field("owner", "publicKey"),
                    idl_field("mode", {"defined": "Mode"}),
                    idl_field("items", {"vec": {"defined": "Item"}}),
                    idl_field("maybe", {"option": "publicKey"}),
                ],
            },
        }
    ],
    "types": [
        {"name": "Item", "type": {"kind": "struct", "fields": [idl_field("qty", "u64"), idl_field("label", "string")]}},
        {
            "name": "Mode",
            "type": {
                "kind": "enum",
                "variants": [
                    {"name": "Off"},
                    {"name": "On", "fields": [idl_field("level", "u8")]},
                    {"name": "Tuple", "fields": ["u16", "publicKey"]},
                ],
            },
        },
    ],
    "events": [
        {
            "name": "Moved",
            "fields": [
                {"name": "from", "type": "publicKey", "index": False},
                {"name": "mode", "type": {"defined": "Mode"}, "index": False},
                {"name": "holder", "type": {"defined": "Holder"}, "index": False},
            ],
        }
    ],
    "metadata": {"address": PK},
}


@pytest.mark.parametrize("idl_json", [KITCHEN, LEGACY], ids=["new", "legacy"])
def test_round_trip_every_event_and_account(idl_json: dict[str, object]) -> None:
    dec = EventDecoder(parse_idl(copy.deepcopy(idl_json)))
    enc = AnchorEncoder(copy.deepcopy(idl_json))
    rng = random.Random(1)
    for _ in range(60):
        for name in enc.events:
            raw, expected = enc.random_event(name, rng)
            assert dec.decode_event(raw) == (name, expected)
        for name in enc.accounts:
            raw, expected = enc.random_account(name, rng)
            trailing = rng.randbytes(rng.randint(0, 16))  # accounts are allocated larger than needed
            assert dec.decode_account(raw + trailing) == (name, expected)


def test_zero_copy_layouts_follow_repr_c_and_packed() -> None:
    dec = EventDecoder(parse_idl(copy.deepcopy(KITCHEN)))
    # ZcState repr(C): u8 @0, u64 @8, u16 @16, u128 @24 (align 8 on SBF), Inner{u8,u32} @40 (size 8),
    # u8 @48, [pubkey;2] @49, Status u8 @113, [Inner;2] @116, i64 @136 -> 144 bytes
    raw = bytearray(b"\xee" * 144)
    raw[0] = 1
    raw[8:16] = (2**64 - 1).to_bytes(8, "little")
    raw[16:18] = (513).to_bytes(2, "little")
    raw[24:40] = (2**127 + 5).to_bytes(16, "little")
    raw[40] = 7
    raw[44:48] = (70000).to_bytes(4, "little")
    raw[48] = 9
    raw[49:81] = bytes(range(32))
    raw[81:113] = bytes(range(32))
    raw[113] = 2
    raw[116], raw[120:124] = 3, (4).to_bytes(4, "little")
    raw[124], raw[128:132] = 5, (6).to_bytes(4, "little")
    raw[136:144] = (-2).to_bytes(8, "little", signed=True)
    name, data = dec.decode_account(bytes([10] * 8) + bytes(raw))
    assert name == "ZcState"
    assert data == {
        "flag": 1,
        "amount": 2**64 - 1,
        "small": 513,
        "big": 2**127 + 5,
        "inner": {"a": 7, "b": 70000},
        "tail": 9,
        "keys": [PK, PK],
        "status": {"Paused": None},
        "inners": [{"a": 3, "b": 4}, {"a": 5, "b": 6}],
        "neg": -2,
    }
    packed = (
        b"\x01"
        + (5).to_bytes(8, "little")
        + (6).to_bytes(2, "little")
        + (7).to_bytes(16, "little")
        + bytes(range(32))
    )
    assert dec.decode_account(bytes([11] * 8) + packed) == (
        "ZcPacked",
        {"flag": True, "amount": 5, "small": 6, "big": 7, "key": PK},
    )


def test_rendering_rules() -> None:
    """bytes -> base64, u8 vec/array -> ints, enum -> one-key object, tuple struct -> list."""
    dec = EventDecoder(parse_idl(copy.deepcopy(KITCHEN)))
    assert dec.decode_event(bytes([7]) + struct.pack("<I", 42) + bytes(range(32))) == ("Pair", [42, PK])
    assert dec.decode_event(bytes([2] * 8) + b"\x02" + struct.pack("<I", 2) + b"hi" + b"\x05") == (
        "Shape",
        {"Label": ["hi", 5]},
    )
    assert dec.decode_event(bytes([2] * 8) + b"\x01" + struct.pack("<Q", 2**64 - 1)) == (
        "Shape",
        {"Circle": {"radius": 2**64 - 1}},
    )
    assert dec.decode_event(bytes([2] * 8) + b"\x00") == ("Shape", {"Empty": None})


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes([2] * 8) + b"\x09", "invalid_value"),  # no variant 9
        (bytes([2] * 8), "short_data"),
        (bytes([2] * 8) + b"\x01\x00", "short_data"),
        (bytes([2] * 8) + b"\x02" + struct.pack("<I", 2) + b"\xff\xfe\x01", "invalid_utf8"),
        (bytes([2] * 8) + b"\x02" + struct.pack("<I", 2**32 - 1) + b"ab", "short_data"),
        (bytes([3] * 8) + b"\x00", "unknown_discriminator"),
        (b"\x01\x01", "unknown_discriminator"),
    ],
)
def test_bad_bytes_give_a_reason(payload: bytes, reason: str) -> None:
    dec = EventDecoder(parse_idl(copy.deepcopy(KITCHEN)))
    with pytest.raises(DecodeError) as e:
        dec.decode_event(payload)
    assert e.value.reason == reason


def test_recursive_type_through_vec() -> None:
    idl = {
        "address": PK,
        "metadata": {"spec": "0.1.0"},
        "events": [{"name": "Tree", "discriminator": [1] * 8}],
        "types": [
            {
                "name": "Tree",
                "type": {
                    "kind": "struct",
                    "fields": [idl_field("v", "u8"), idl_field("kids", {"vec": {"defined": {"name": "Tree"}}})],
                },
            }
        ],
    }
    dec = EventDecoder(parse_idl(idl))
    leaf = b"\x02" + struct.pack("<I", 0)
    raw = bytes([1] * 8) + b"\x01" + struct.pack("<I", 2) + leaf + leaf
    assert dec.decode_event(raw) == ("Tree", {"v": 1, "kids": [{"v": 2, "kids": []}, {"v": 2, "kids": []}]})


HOSTILE_NAMES = ["x'}, o\n__import__('os')._exit(3)#", '"""', "\\", "a\x00b", "ünï\u2028", "{t}", "_c1"]


def test_hostile_field_names_are_data_not_code() -> None:
    """The decoder is generated Python; IDL names reach it only as string literals, verbatim."""
    fields = [idl_field(n, "u8") for n in HOSTILE_NAMES] + [idl_field("tail", "string")]  # a fixed run + a call
    idl = {
        "address": PK,
        "metadata": {"spec": "0.1.0"},
        "events": [{"name": "E", "discriminator": [1] * 8}, {"name": "F", "discriminator": [2] * 8}],
        "types": [
            {"name": "E", "type": {"kind": "struct", "fields": fields}},
            {"name": "F", "type": {"kind": "struct", "fields": [idl_field(n, "u8") for n in HOSTILE_NAMES]}},
        ],
    }
    dec = EventDecoder(parse_idl(idl))
    values = bytes(range(1, len(HOSTILE_NAMES) + 1))
    expected = dict(zip(HOSTILE_NAMES, values, strict=True))
    tail = struct.pack("<I", 2) + b"ok"
    assert dec.decode_event(bytes([1] * 8) + values + tail) == ("E", {**expected, "tail": "ok"})
    assert dec.decode_event(bytes([2] * 8) + values) == ("F", expected)


def test_legacy_discriminators_and_program_id() -> None:
    idl = parse_idl(copy.deepcopy(LEGACY), "legacy.json")
    assert idl.spec == "legacy" and idl.program_id == PK
    import hashlib

    assert idl.events["Moved"].discriminator == hashlib.sha256(b"event:Moved").digest()[:8]
    assert idl.accounts["Holder"].discriminator == hashlib.sha256(b"account:Holder").digest()[:8]
    assert idl.instructions["doThingV2"].discriminator == hashlib.sha256(b"global:do_thing_v2").digest()[:8]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda i: (
                i["types"].append({"name": "Bad", "type": {"kind": "struct", "fields": [idl_field("x", "u512")]}})
                or i["events"].append({"name": "Bad", "discriminator": [5] * 8})
            ),
            "unknown type 'u512'",
        ),
        (lambda i: i["events"].append({"name": "Ghost", "discriminator": [5] * 8}), "event 'Ghost'"),
        (lambda i: i["events"].append({"name": "Status"}), "missing 'discriminator'"),
        (
            lambda i: (
                i["types"].append(
                    {
                        "name": "Loop",
                        "type": {"kind": "struct", "fields": [idl_field("me", {"defined": {"name": "Loop"}})]},
                    }
                )
                or i["events"].append({"name": "Loop", "discriminator": [6] * 8})
            ),
            "contains itself",
        ),
        (lambda i: i["types"][3]["type"].update(kind="union"), "unknown kind 'union'"),
        (
            lambda i: i["events"].append({"name": "Wrapper", "discriminator": [6] * 8}),
            "takes generic arguments",
        ),
    ],
)
def test_invalid_idls_are_explained(mutate: object, message: str) -> None:
    idl = copy.deepcopy(KITCHEN)
    mutate(idl)  # type: ignore[operator]
    with pytest.raises(IdlError) as e:
        EventDecoder(parse_idl(idl, "kitchen.json"))
    assert str(e.value).startswith("kitchen.json: ")
    assert message in str(e.value)


def test_non_object_idl() -> None:
    with pytest.raises(IdlError, match="must be a JSON object"):
        parse_idl([1, 2], "x.json")
