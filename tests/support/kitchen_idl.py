"""A kitchen-sink Anchor IDL (0.30+): every type the decoder knows, in events and accounts,
zero-copy layouts and a short custom discriminator; shared by the decoder and log-parser tests."""

from __future__ import annotations

from solders.pubkey import Pubkey

PK = str(Pubkey.from_bytes(bytes(range(32))))


def idl_field(name: str, ty: object) -> dict[str, object]:
    return {"name": name, "type": ty}


KITCHEN_TYPES = [
    {
        "name": "Ints",
        "type": {
            "kind": "struct",
            "fields": [
                idl_field(t, t)
                for t in [
                    "u8",
                    "i8",
                    "u16",
                    "i16",
                    "u32",
                    "i32",
                    "u64",
                    "i64",
                    "u128",
                    "i128",
                    "u256",
                    "i256",
                ]
            ],
        },
    },
    {
        "name": "Scalars",
        "type": {
            "kind": "struct",
            "fields": [
                idl_field("f32", "f32"),
                idl_field("f64", "f64"),
                idl_field("flag", "bool"),
                idl_field("key", "pubkey"),
                idl_field("text", "string"),
                idl_field("blob", "bytes"),
            ],
        },
    },
    {
        "name": "Containers",
        "type": {
            "kind": "struct",
            "fields": [
                idl_field("opt_u64", {"option": "u64"}),
                idl_field("opt_str", {"option": "string"}),
                idl_field("copt_key", {"coption": "pubkey"}),
                idl_field("vec_u8", {"vec": "u8"}),
                idl_field("vec_u64", {"vec": "u64"}),
                idl_field("vec_key", {"vec": "pubkey"}),
                idl_field("vec_str", {"vec": "string"}),
                idl_field("vec_pair", {"vec": {"defined": {"name": "Pair"}}}),
                idl_field("arr_u8", {"array": ["u8", 4]}),
                idl_field("arr_i128", {"array": ["i128", 2]}),
                idl_field("arr_str", {"array": ["string", 2]}),
                idl_field("arr_arr", {"array": [{"array": ["u16", 2]}, 3]}),
                idl_field("nested_opt", {"option": {"vec": {"option": "bool"}}}),
            ],
        },
    },
    {"name": "Pair", "type": {"kind": "struct", "fields": ["u32", "pubkey"]}},
    {"name": "Unit", "type": {"kind": "struct"}},
    {
        "name": "Shape",
        "type": {
            "kind": "enum",
            "variants": [
                {"name": "Empty"},
                {"name": "Circle", "fields": [idl_field("radius", "u64")]},
                {"name": "Label", "fields": ["string", "u8"]},
                {
                    "name": "Nested",
                    "fields": [
                        idl_field("inner", {"defined": {"name": "Status"}}),
                        idl_field("pair", {"defined": {"name": "Pair"}}),
                    ],
                },
            ],
        },
    },
    {
        "name": "Status",
        "type": {"kind": "enum", "variants": [{"name": "Open"}, {"name": "Closed"}, {"name": "Paused"}]},
    },
    {
        "name": "Wrapper",
        "generics": [{"kind": "type", "name": "T"}, {"kind": "const", "name": "N", "type": "usize"}],
        "type": {
            "kind": "struct",
            "fields": [
                idl_field("items", {"array": [{"generic": "T"}, {"generic": "N"}]}),
                idl_field("extra", {"option": {"generic": "T"}}),
            ],
        },
    },
    {
        "name": "Outer",
        "generics": [{"kind": "type", "name": "U"}],
        "type": {
            "kind": "struct",
            "fields": [
                idl_field(
                    "w",
                    {
                        "defined": {
                            "name": "Wrapper",
                            "generics": [
                                {"kind": "type", "type": {"generic": "U"}},
                                {"kind": "const", "value": "2"},
                            ],
                        }
                    },
                )
            ],
        },
    },
    {"name": "Amount", "type": {"kind": "type", "alias": "u64"}},
    {
        "name": "Everything",
        "type": {
            "kind": "struct",
            "fields": [
                idl_field("ints", {"defined": {"name": "Ints"}}),
                idl_field("scalars", {"defined": {"name": "Scalars"}}),
                idl_field("containers", {"defined": {"name": "Containers"}}),
                idl_field("pair", {"defined": {"name": "Pair"}}),
                idl_field("unit", {"defined": {"name": "Unit"}}),
                idl_field("shape", {"defined": {"name": "Shape"}}),
                idl_field("shapes", {"vec": {"defined": {"name": "Shape"}}}),
                idl_field("status", {"defined": {"name": "Status"}}),
                idl_field(
                    "wrapped",
                    {
                        "defined": {
                            "name": "Wrapper",
                            "generics": [{"kind": "type", "type": "pubkey"}, {"kind": "const", "value": "3"}],
                        }
                    },
                ),
                idl_field(
                    "outer", {"defined": {"name": "Outer", "generics": [{"kind": "type", "type": "string"}]}}
                ),
                idl_field("amount", {"defined": {"name": "Amount"}}),
            ],
        },
    },
    # zero-copy: implicit repr(C) padding after u8 / u16 / inner struct, and a packed twin
    {
        "name": "Inner",
        "serialization": "bytemuck",
        "repr": {"kind": "c"},
        "type": {"kind": "struct", "fields": [idl_field("a", "u8"), idl_field("b", "u32")]},
    },
    {
        "name": "ZcState",
        "serialization": "bytemuck",
        "repr": {"kind": "c"},
        "type": {
            "kind": "struct",
            "fields": [
                idl_field("flag", "u8"),
                idl_field("amount", "u64"),
                idl_field("small", "u16"),
                idl_field("big", "u128"),
                idl_field("inner", {"defined": {"name": "Inner"}}),
                idl_field("tail", "u8"),
                idl_field("keys", {"array": ["pubkey", 2]}),
                idl_field("status", {"defined": {"name": "Status"}}),
                idl_field("inners", {"array": [{"defined": {"name": "Inner"}}, 2]}),
                idl_field("neg", "i64"),
            ],
        },
    },
    {
        "name": "ZcPacked",
        "serialization": "bytemuckunsafe",
        "repr": {"kind": "c", "packed": True},
        "type": {
            "kind": "struct",
            "fields": [
                idl_field("flag", "bool"),
                idl_field("amount", "u64"),
                idl_field("small", "u16"),
                idl_field("big", "u128"),
                idl_field("key", "pubkey"),
            ],
        },
    },
]


KITCHEN = {
    "address": PK,
    "metadata": {"name": "kitchen", "version": "0.1.0", "spec": "0.1.0"},
    "instructions": [
        {"name": "do_it", "discriminator": [1, 2, 3, 4, 5, 6, 7, 8], "accounts": [], "args": []}
    ],
    "accounts": [
        {"name": "Everything", "discriminator": [9, 9, 9, 9, 9, 9, 9, 9]},
        {"name": "ZcState", "discriminator": [10, 10, 10, 10, 10, 10, 10, 10]},
        {"name": "ZcPacked", "discriminator": [11, 11, 11, 11, 11, 11, 11, 11]},
    ],
    "events": [
        {"name": "Everything", "discriminator": [1, 1, 1, 1, 1, 1, 1, 1]},
        {"name": "Shape", "discriminator": [2, 2, 2, 2, 2, 2, 2, 2]},
        {"name": "Pair", "discriminator": [7]},  # custom short discriminator (Anchor 0.31+)
    ],
    "errors": [{"code": 6000, "name": "Boom", "msg": "boom"}],
    "types": KITCHEN_TYPES,
}
