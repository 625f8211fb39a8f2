"""Decode one Anchor program's events, accounts and instruction names from transactions.

Usage::

    idl = load_idl("idls/paid_match.json")          # IdlError if unusable
    dec = EventDecoder(idl, program_id=None)         # compiles every layout once
    res = dec.decode_transaction(get_transaction_result)
    res.events          # [DecodedEvent(name, source "log" | "cpi", data)]
    res.decode_errors   # ["unknown_discriminator", ...] one reason per payload skipped
    res.logs_truncated  # "Log truncated" seen: log events may be missing
    res.failed, res.error   # meta.err present; its label (IDL error name, else code/kind)
    res.compute_units   # units of each outermost invocation of the program, in order
    dec.instruction_names(tx)     # ["join_match", ...] our instructions, "unknown" if no match
    dec.decode_account(raw_bytes) # (account name, data); raises DecodeError(reason)

``decode_transaction`` never raises, whatever the input.  It reports the events of failed
transactions too (their logs say what ran before the failure); callers that count money must
skip them when ``res.failed``.
"""

from __future__ import annotations

import binascii
from typing import Any, NamedTuple

from exporter.anchor.borsh import (
    INVALID_DATA,
    DecodeError,
    ItemDecoder,
    TypeCompiler,
    as_decode_error,
)
from exporter.anchor.idl import Idl, IdlError, IdlItem
from exporter.anchor.logs import b58decode, program_instructions, scan_logs

_a2b_base64 = binascii.a2b_base64
#: builds a NamedTuple without its Python-level __new__ frame (the per-event, per-transaction path)
_new_tuple = tuple.__new__

#: First 8 bytes of an ``emit_cpi!`` self-invocation: sha256("anchor:event")[:8], little-endian.
EMIT_CPI_TAG = bytes.fromhex("e445a52e51cb9a1d")

UNKNOWN_DISCRIMINATOR = "unknown_discriminator"
INVALID_BASE64 = "invalid_base64"
INVALID_BASE58 = "invalid_base58"
UNKNOWN_INSTRUCTION = "unknown"


class DecodedEvent(NamedTuple):
    # A named tuple, not a frozen dataclass: built once per event on the hot path, and a
    # frozen dataclass's __init__ costs several times a tuple's.
    name: str
    source: str  # "log" (Program data line) or "cpi" (emit_cpi! inner instruction)
    data: Any


class TxDecodeResult(NamedTuple):
    # A value, built once per transaction: a named tuple costs a fraction of a dataclass's
    # __init__. No defaults: a default list would be shared by every result.
    events: list[DecodedEvent]
    decode_errors: list[str]
    logs_truncated: bool
    failed: bool
    error: str | None
    compute_units: list[int]


class _Table:
    """Discriminator -> (name, decoder); discriminators may have any length since Anchor 0.31."""

    def __init__(self, entries: list[tuple[IdlItem, ItemDecoder]]) -> None:
        self.by_disc = {item.discriminator: (item.name, dec) for item, dec in entries}
        self.lengths = sorted({len(d) for d in self.by_disc}, reverse=True)
        #: the one discriminator length when all share it (the usual 8): a single dict lookup
        self.only_length = self.lengths[0] if len(self.lengths) == 1 else 0

    def decode(self, data: bytes) -> tuple[str, Any]:
        n = self.only_length
        if n:
            hit = self.by_disc.get(data[:n])
        else:
            for n in self.lengths:
                hit = self.by_disc.get(data[:n])
                if hit is not None:
                    break
            else:
                hit = None
        if hit is None:
            raise DecodeError(UNKNOWN_DISCRIMINATOR)
        try:
            return hit[0], hit[1](data, n)
        except Exception as e:
            raise as_decode_error(e) from None


class EventDecoder:
    def __init__(self, idl: Idl, program_id: str | None = None, compiler: TypeCompiler | None = None) -> None:
        self.idl = idl
        self.program_id = program_id or idl.program_id or ""
        # A shared compiler (exporter.anchor.program) lets account layouts reuse these types.
        compiler = compiler or TypeCompiler(idl)
        self._events = _Table([(e, compiler.item_decoder(e, "event")) for e in idl.events.values()])
        self._accounts = _Table([(a, compiler.item_decoder(a, "account")) for a in idl.accounts.values()])
        self._instructions = {ix.discriminator: ix.name for ix in idl.instructions.values()}
        self._ix_lengths = sorted({len(d) for d in self._instructions}, reverse=True)

    def require_program_id(self) -> str:
        if not self.program_id:
            raise IdlError(
                self.idl.source, "no program id: the IDL has no 'address'; give one (--program-id)"
            )
        return self.program_id

    # --- bytes ---

    def decode_event(self, data: bytes) -> tuple[str, Any]:
        """Event bytes (discriminator + Borsh) -> (name, data). Raises ``DecodeError``."""
        return self._events.decode(data)

    def decode_account(self, data: bytes) -> tuple[str, Any]:
        """Account data (discriminator + layout) -> (name, data). Raises ``DecodeError``.

        Bytes after the layout are ignored: accounts are usually allocated larger than needed.
        """
        return self._accounts.decode(data)

    def decode_log_payload(self, payload: str) -> tuple[str, Any]:
        """The text after ``Program data: `` -> (name, data). Raises ``DecodeError``."""
        try:
            if " " in payload:  # sol_log_data writes one base64 word per slice
                data = b"".join(_a2b_base64(p, strict_mode=True) for p in payload.split(" ") if p)
            else:  # Anchor's emit! logs a single one
                data = _a2b_base64(payload, strict_mode=True)
        except (binascii.Error, ValueError):
            raise DecodeError(INVALID_BASE64) from None
        return self._events.decode(data)

    # --- transactions ---

    def decode_transaction(self, tx: Any, _strict: bool = False) -> TxDecodeResult:
        """Events of our program in a getTransaction result; never raises.

        One frame, no wrapper: this runs once per transaction. ``_strict`` (tests only, through
        ``_decode_transaction``) lets a parser bug surface instead of the catch-all's result.
        """
        try:
            meta = tx.get("meta") if isinstance(tx, dict) else None
            meta = meta if isinstance(meta, dict) else {}
            payloads, truncated, compute_units, failed_program = scan_logs(
                meta.get("logMessages"), self.program_id
            )
            events: list[DecodedEvent] = []
            errors: list[str] = []
            # decode_log_payload and _Table.decode, inlined: this loop runs once per event
            table = self._events
            by_disc, n = table.by_disc, table.only_length
            for payload in payloads:
                try:
                    if " " in payload:
                        raw = b"".join(_a2b_base64(p, strict_mode=True) for p in payload.split(" ") if p)
                    else:
                        raw = _a2b_base64(payload, strict_mode=True)
                except (binascii.Error, ValueError):
                    errors.append(INVALID_BASE64)
                    continue
                hit = by_disc.get(raw[:n]) if n else None
                try:
                    if hit is None:  # several discriminator lengths, or an unknown one
                        name, data = table.decode(raw)
                    else:
                        name, data = hit[0], hit[1](raw, n)
                except Exception as e:
                    errors.append(as_decode_error(e).reason)
                    continue
                events.append(_new_tuple(DecodedEvent, (name, "log", data)))
            # emit_cpi! events are inner instructions: without any, the instruction walk is skipped
            if meta.get("innerInstructions"):
                self._cpi_events(tx, events, errors)
            err = meta.get("err")
            failed = err is not None
            error = self.error_label(err, failed_program) if failed else None
            return _new_tuple(TxDecodeResult, (events, errors, truncated, failed, error, compute_units))
        except Exception:  # belt and braces: the parsers above already tolerate any shape
            if _strict:
                raise
            return TxDecodeResult([], [INVALID_DATA], False, False, None, [])

    def _decode_transaction(self, tx: Any) -> TxDecodeResult:
        """``decode_transaction`` without its catch-all: what the robustness tests call."""
        return self.decode_transaction(tx, _strict=True)

    def _cpi_events(self, tx: Any, events: list[DecodedEvent], errors: list[str]) -> None:
        for ix in program_instructions(tx, self.program_id):
            if ix.top_level:
                continue
            try:
                raw = b58decode(ix.data)
            except ValueError:
                errors.append(INVALID_BASE58)
                continue
            if not raw.startswith(EMIT_CPI_TAG):
                continue
            try:
                name, data = self._events.decode(raw[len(EMIT_CPI_TAG) :])
            except DecodeError as e:
                errors.append(e.reason)
                continue
            events.append(DecodedEvent(name, "cpi", data))

    def instruction_names(self, tx: Any) -> list[str]:
        """Names of our program's instructions (top-level and inner), in execution order.

        ``emit_cpi!`` self-invocations are event carriers, not instructions, and are left out.
        """
        names: list[str] = []
        for ix in program_instructions(tx, self.program_id):  # tolerates any shape
            try:
                raw = b58decode(ix.data)
            except ValueError:
                names.append(UNKNOWN_INSTRUCTION)
                continue
            if not ix.top_level and raw.startswith(EMIT_CPI_TAG):
                continue
            names.append(self._instruction_name(raw))
        return names

    def _instruction_name(self, raw: bytes) -> str:
        for n in self._ix_lengths:
            name = self._instructions.get(raw[:n])
            if name is not None:
                return name
        return UNKNOWN_INSTRUCTION

    def error_label(self, err: Any, failed_program: str | None = None) -> str:
        """``meta.err`` -> a low-cardinality label: our IDL's error name, else the code or kind.

        A custom code is only named from our IDL when our program is the one that failed
        (per the logs, when known): another program's 6001 is not our ``MatchFull``.
        """
        if isinstance(err, str):
            return err
        if isinstance(err, dict) and len(err) == 1:
            kind, detail = next(iter(err.items()))
            if kind == "InstructionError" and isinstance(detail, list) and len(detail) == 2:
                inner = detail[1]
                if isinstance(inner, str):
                    return inner
                if isinstance(inner, dict) and isinstance(inner.get("Custom"), int):
                    code = inner["Custom"]
                    ours = failed_program is None or failed_program == self.program_id
                    return self.idl.errors.get(code, str(code)) if ours else str(code)
                if isinstance(inner, dict) and len(inner) == 1:
                    return str(next(iter(inner)))
            return str(kind)
        return "unknown"
