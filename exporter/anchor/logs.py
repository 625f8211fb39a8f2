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

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import mul
from typing import Any

DATA_PREFIX = "Program data: "
TRUNCATED = "Log truncated"


@dataclass
class LogScan:
    #: base64 payloads of ``Program data:`` lines logged while our program was on top.
    payloads: list[str] = field(default_factory=list)
    truncated: bool = False
    #: compute units of each outermost invocation of our program (not nested in itself), in order.
    compute_units: list[int] = field(default_factory=list)
    #: the program of the first ``Program X failed`` line (the one that raised the error).
    failed_program: str | None = None


def scan_logs(logs: Any, program_id: str) -> LogScan:
    scan = LogScan()
    if not isinstance(logs, list):
        return scan
    stack: list[str] = []
    for line in logs:
        if not isinstance(line, str):
            continue
        if line.startswith(DATA_PREFIX):
            if stack and stack[-1] == program_id:
                scan.payloads.append(line[len(DATA_PREFIX) :])
            continue
        if line.startswith(TRUNCATED):
            scan.truncated = True
            continue
        if not line.startswith("Program ") or line.startswith("Program log: "):
            continue
        parts = line.split(" ", 3)
        if len(parts) < 3:
            continue
        program, verb = parts[1], parts[2]
        if verb == "invoke":
            depth = _depth(parts[3] if len(parts) > 3 else "")
            if depth is not None:
                del stack[depth - 1 :]
            stack.append(program)
        elif verb == "success" or verb == "failed:":
            if verb == "failed:" and scan.failed_program is None:
                scan.failed_program = program
            _pop_to(stack, program)
        elif verb == "consumed" and program == program_id and len(parts) > 3:
            if stack and stack[-1] == program_id and program_id not in stack[:-1]:
                units = parts[3].split(" ", 1)[0]
                if units.isdigit():
                    scan.compute_units.append(int(units))
    return scan


def _depth(text: str) -> int | None:
    if text.startswith("[") and text.endswith("]") and text[1:-1].isdigit():
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

_B58 = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# bytes.translate table: base58 character -> its digit value, anything else -> 0xFF
_B58_DIGITS = bytes(_B58.index(c) if c in _B58 else 0xFF for c in range(256))
_CHUNK = 10
_WEIGHTS = [58**k for k in range(_CHUNK - 1, -1, -1)]
_MAX_B58_CHARS = 20_000  # far above any instruction's data; bounds the work on garbage

_native_b58decode: Callable[[bytes], bytes] | None
try:  # Rust-backed (PyPI ``based58``): several times faster on the emit_cpi! hot path
    from based58 import b58decode as _native_b58decode
except ImportError:  # optional: the pure-Python decoder below gives the same bytes
    _native_b58decode = None


def b58decode(text: str) -> bytes:
    """Decode base58 (Bitcoin alphabet). Raises ``ValueError`` on a bad character or length.

    The hot path of emit_cpi! events: uses ``based58`` when installed, else ``b58decode_py``.
    Both give the same bytes and raise ``ValueError`` on the same inputs.
    """
    if len(text) > _MAX_B58_CHARS or not text.isascii():
        raise ValueError("not base58")
    if _native_b58decode is None:
        return _b58decode_ascii(text)
    return _native_b58decode(text.encode("ascii"))


def b58decode_py(text: str) -> bytes:
    """The pure-Python decoder (the fallback when ``based58`` is missing); same contract."""
    if len(text) > _MAX_B58_CHARS or not text.isascii():
        raise ValueError("not base58")
    return _b58decode_ascii(text)


def _b58decode_ascii(text: str) -> bytes:
    # the digit loop runs in C: ``translate`` maps the characters to digit values and
    # ``sum(map(mul, ...))`` evaluates ten digits at a time.
    digits = text.encode("ascii").translate(_B58_DIGITS)
    if b"\xff" in digits:
        raise ValueError("invalid base58 character")
    n = 0
    head = len(digits) % _CHUNK
    if head:
        n = sum(map(mul, digits[:head], _WEIGHTS[_CHUNK - head :]))
    big = 58**_CHUNK
    for start in range(head, len(digits), _CHUNK):
        n = n * big + sum(map(mul, digits[start : start + _CHUNK], _WEIGHTS))
    zeros = len(digits) - len(digits.lstrip(b"\0"))
    return b"\0" * zeros + n.to_bytes((n.bit_length() + 7) // 8, "big")
