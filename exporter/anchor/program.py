"""One Anchor program, built once: its IDL read and parsed once, its types compiled once.

The config check builds it (exporter.config.program_idl) and hands it on with the program's
config; the ingestion collector, the account-state collector and each account layout then share
this one object, so an IDL is never read or compiled twice in a process.
"""

from __future__ import annotations

from pathlib import Path

from exporter.anchor.borsh import TypeCompiler
from exporter.anchor.decoder import EventDecoder
from exporter.anchor.idl import Idl, load_idl


class AnchorProgram:
    """``idl`` (parsed), ``compiler`` (every type compiled once, cached by the compiler),
    ``decoder`` (events, accounts, instruction names, built from ``compiler``) and
    ``program_id`` (the configured one, else the IDL's; "" when neither names it)."""

    def __init__(self, idl: Idl, program_id: str | None = None) -> None:
        self.idl = idl
        #: What it was built from, so a holder can tell whether it still matches its config.
        self.built_from = (idl.source, program_id)
        self.compiler = TypeCompiler(idl)
        self.decoder = EventDecoder(idl, program_id, compiler=self.compiler)
        self.program_id = self.decoder.program_id

    # A program config carries the one its check built: two configs that say the same thing stay
    # equal (pydantic compares private attributes), so equality is what it was built from.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnchorProgram) and other.built_from == self.built_from

    def __hash__(self) -> int:
        return hash(self.built_from)

    @classmethod
    def load(cls, path: str | Path, program_id: str | None = None) -> AnchorProgram:
        """Read, parse and compile the IDL at ``path``. Raises ``IdlError`` naming the file."""
        return cls(load_idl(path), program_id)
