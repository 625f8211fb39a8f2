"""Read only the fields we need from an Anchor account, with a dataSlice when possible.

An account type's configured fields (the enum to count by, flags, summed amounts, their mint
fields) usually sit near the start of the layout. When every field up to the last one we
need has a fixed size, getProgramAccounts can return just that prefix (``dataSlice``), which
for large accounts cuts the response many times; the prefix is then decoded field by field
with the project's decoder. Otherwise the whole account is fetched, and still only decoded up
to the last needed field.
"""

from __future__ import annotations

from typing import Any

import based58

from exporter.anchor import DecodeError
from exporter.anchor.borsh import Decoder, decode_value
from exporter.anchor.program import AnchorProgram
from exporter.config.program_idl import struct_fields


def b58encode(raw: bytes) -> str:
    return based58.b58encode(raw).decode("ascii")


class AccountLayout:
    """One account type's layout, from the program's compiled types (no compile of its own)."""

    def __init__(self, program: AnchorProgram, account: str, needed: set[str]) -> None:
        self.program = program
        item = program.idl.accounts[account]
        self.name = account
        self.discriminator = item.discriminator
        typedef = item.typedef
        # Zero-copy (repr(C)) layouts have alignment padding; they are decoded whole instead.
        self.zero_copy = "serialization" in typedef and typedef.get("serialization") not in (None, "borsh")
        compiler = program.compiler
        self._whole = program.decoder  # for zero-copy types
        fields = list(struct_fields(typedef).items())
        self.fields: list[tuple[str, Decoder]] = []
        #: Bytes to request with dataSlice (discriminator included), or None for the whole account.
        self.slice_length: int | None = None
        if self.zero_copy or not needed:
            return
        offset: int | None = len(self.discriminator)
        for fname, ftype in fields:
            where = f"accounts.{account}.{fname}"
            fixed = compiler.fixed(ftype, "borsh", where) if offset is not None else None
            offset = offset + fixed.size if (fixed is not None and offset is not None) else None
            self.fields.append((fname, compiler.decoder(ftype, "borsh", where)))
            needed = needed - {fname}
            if not needed:
                break
        self.slice_length = offset

    def data_slice(self) -> dict[str, int] | None:
        return {"offset": 0, "length": self.slice_length} if self.slice_length is not None else None

    def decode(self, data: bytes) -> dict[str, Any]:
        """The needed fields (at least) of one account's data. Raises ``DecodeError``."""
        if not data.startswith(self.discriminator):
            raise DecodeError("unknown_discriminator")
        if not self.fields:
            _, value = self._whole.decode_account(data)
            return value if isinstance(value, dict) else {}
        out: dict[str, Any] = {}
        offset = len(self.discriminator)
        for fname, dec in self.fields:
            try:
                value, offset = dec(data, offset)
            except Exception:
                decode_value(dec, data, offset)  # re-run to turn the failure into a DecodeError reason
                raise DecodeError("invalid_data") from None
            out[fname] = value
        return out
