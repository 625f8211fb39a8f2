"""Anchor IDL support: load IDLs (0.30+ and legacy), decode events, accounts and instructions.

The public API is ``load_idl``/``IdlError`` (idl.py), ``EventDecoder`` and its result types
(decoder.py), ``DecodeError`` (borsh.py); the ``decode`` CLI is in cli.py.
"""

from exporter.anchor.borsh import DecodeError
from exporter.anchor.decoder import EMIT_CPI_TAG, DecodedEvent, EventDecoder, TxDecodeResult
from exporter.anchor.idl import Idl, IdlError, load_idl, parse_idl

__all__ = [
    "EMIT_CPI_TAG",
    "DecodeError",
    "DecodedEvent",
    "EventDecoder",
    "Idl",
    "IdlError",
    "TxDecodeResult",
    "load_idl",
    "parse_idl",
]
