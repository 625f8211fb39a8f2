"""Read a ``getTransaction`` result (encoding ``json``): log frames and our instructions.

Nothing here trusts the shape of its input: a missing key, a wrong type or a garbled line is
skipped (or reported by the caller as a decode error), never raised.

Log attribution.  The runtime writes ``Program X invoke [N]`` when X starts at stack depth N
and ``Program X success`` / ``Program X failed: ...`` when it ends; a ``Program data: ...`` line
(``sol_log_data``, what Anchor's ``emit!`` uses) belongs to the program on top of that stack.
So a program that CPIs into a look-alike and has it log our bytes does not fake our events,
and our program invoked by an outer program still counts.  The ``[N]`` depth re-synchronises
the stack should a closing line be missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import based58

DATA_PREFIX = "Program data: "
TRUNCATED = "Log truncated"
_DATA_LEN = len(DATA_PREFIX)
_DATA_OR_LOG = (DATA_PREFIX, "Program log: ")


class LogScan(NamedTuple):
    #: base64 payloads of ``Program data:`` lines logged while our program was on top.
    payloads: list[str]
    truncated: bool
    #: compute units of each outermost invocation of our program (not nested in itself), in order.
    compute_units: list[int]
    #: the program of the first ``Program X failed`` line (the one that raised the error).
    failed_program: str | None


def scan_logs(logs: Any, program_id: str) -> LogScan:
    # The hot path of log-form ingestion: the common lines (data, log) are decided by one
    # ``startswith``; a frame line (invoke, success) is parsed once and memoised, since the same
    # few (each program at each depth) repeat in every transaction.
    if not isinstance(logs, list):
        return LogScan([], False, [], None)
    payloads: list[str] = []
    compute_units: list[int] = []
    truncated = False
    failed_program: str | None = None
    our_consumed = _CONSUMED.get(program_id) or _consumed_prefix(program_id)
    stack: list[str] = []
    ours = False  # our program is on top of the stack: stack[-1] == program_id
    frames = _FRAMES
    for line in logs:
        if not isinstance(line, str):
            continue
        if line.startswith(_DATA_OR_LOG):  # one call decides the two commonest kinds of line
            if ours and line[8] == "d":  # "Program data: ", not "Program log: "
                payloads.append(line[_DATA_LEN:])
            continue
        frame = frames.get(line)
        if frame is None:
            if not line.startswith("Program "):
                if line.startswith(TRUNCATED):
                    truncated = True
                continue
            if line.startswith(our_consumed):  # ours only: another program's units do not matter
                # the outermost invocation of our program only: not one nested in itself
                if ours and stack.count(program_id) == 1:
                    units = line[len(our_consumed) :].partition(" ")[0]
                    if units.isdecimal():
                        compute_units.append(int(units))
                continue
            frame = _frame(line)
            if frame[0] == _INVOKE or frame[0] == _SUCCESS:  # the failed ones carry messages
                if len(frames) >= _MAX_FRAMES:
                    frames.clear()
                frames[line] = frame
        kind, program, depth = frame
        if kind == _INVOKE:
            if depth:
                del stack[depth - 1 :]
            stack.append(program)
        elif kind == _SUCCESS and ours and program == program_id:  # the usual case: ours ends
            stack.pop()
        elif kind == _SUCCESS or kind == _FAILED:
            if kind == _FAILED and failed_program is None:
                failed_program = program
            _pop_to(stack, program)
        else:
            continue
        ours = bool(stack) and stack[-1] == program_id
    # a NamedTuple built without its Python-level __new__: this runs once per transaction
    return tuple.__new__(LogScan, (payloads, truncated, compute_units, failed_program))


_CONSUMED: dict[str, str] = {}  # program id -> its "consumed" line prefix


def _consumed_prefix(program_id: str) -> str:
    if len(_CONSUMED) >= _MAX_FRAMES:
        _CONSUMED.clear()
    prefix = _CONSUMED[program_id] = f"Program {program_id} consumed "
    return prefix


_OTHER, _INVOKE, _SUCCESS, _FAILED = range(4)
#: frame line -> (kind, program, depth); see scan_logs. Bounded: cleared when full.
_FRAMES: dict[str, tuple[int, str, int | None]] = {}
_MAX_FRAMES = 4096


def _frame(line: str) -> tuple[int, str, int | None]:
    """Parse ``Program X invoke [N]`` / ``Program X success`` / ``Program X failed: ...``."""
    parts = line.split(" ", 4)
    if len(parts) < 3:
        return _OTHER, "", None
    program, verb = parts[1], parts[2]
    if verb == "invoke":
        return _INVOKE, program, _depth(parts[3]) if len(parts) == 4 else None
    if verb == "success":
        return _SUCCESS, program, None
    if verb == "failed:":
        return _FAILED, program, None
    return _OTHER, "", None


def _depth(text: str) -> int | None:
    # isdecimal, not isdigit: isdigit() admits "²", which int() refuses
    if text.startswith("[") and text.endswith("]") and text[1:-1].isdecimal():
        n = int(text[1:-1])
        return n if n >= 1 else None
    return None


def _pop_to(stack: list[str], program: str) -> None:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] == program:
            del stack[i:]
            return


# --- instructions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawInstruction:
    top_level: bool
    data: str  # base58, as in the json encoding


def account_keys(tx: Any) -> list[str]:
    """Static keys, then (v0) loaded writable, then loaded readonly: what programIdIndex indexes."""
    message = _dict(_dict(tx).get("transaction")).get("message")
    keys: list[str] = []
    for k in _list(_dict(message).get("accountKeys")):
        if isinstance(k, dict):  # jsonParsed shape
            k = k.get("pubkey")
        keys.append(k if isinstance(k, str) else "")
    loaded = _dict(_dict(_dict(tx).get("meta")).get("loadedAddresses"))
    for group in ("writable", "readonly"):
        keys.extend(k if isinstance(k, str) else "" for k in _list(loaded.get(group)))
    return keys


def program_instructions(tx: Any, program_id: str) -> list[RawInstruction]:
    """Our program's instructions in execution order: each top-level one, then its inner ones."""
    keys = account_keys(tx)
    message = _dict(_dict(_dict(tx).get("transaction")).get("message"))
    inner_by_index: dict[int, list[Any]] = {}
    for group in _list(_dict(_dict(tx).get("meta")).get("innerInstructions")):
        index = _dict(group).get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            inner_by_index.setdefault(index, []).extend(_list(_dict(group).get("instructions")))
    out: list[RawInstruction] = []
    top = _list(message.get("instructions"))
    for i, ix in enumerate(top):
        if _program_of(ix, keys) == program_id:
            out.append(RawInstruction(True, _data_of(ix)))
        out.extend(
            RawInstruction(False, _data_of(x))
            for x in inner_by_index.pop(i, [])
            if _program_of(x, keys) == program_id
        )
    for i in sorted(inner_by_index):  # inner groups without a matching top-level entry
        out.extend(
            RawInstruction(False, _data_of(x))
            for x in inner_by_index[i]
            if _program_of(x, keys) == program_id
        )
    return out


def _program_of(ix: Any, keys: list[str]) -> str | None:
    ix = _dict(ix)
    pid = ix.get("programId")  # jsonParsed shape
    if isinstance(pid, str):
        return pid
    idx = ix.get("programIdIndex")
    if isinstance(idx, int) and not isinstance(idx, bool) and 0 <= idx < len(keys):
        return keys[idx]
    return None


def _data_of(ix: Any) -> str:
    data = _dict(ix).get("data")
    return data if isinstance(data, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- base58 -----------------------------------------------------------------------------------

_MAX_B58_CHARS = 20_000  # far above any instruction's data; bounds the work on garbage


def b58decode(text: str) -> bytes:
    """Decode base58 (Bitcoin alphabet) with ``based58``. ``ValueError`` on a bad character or length."""
    if len(text) > _MAX_B58_CHARS or not text.isascii():
        raise ValueError("not base58")
    return based58.b58decode(text.encode("ascii"))
