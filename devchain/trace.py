"""Execution trace of one transaction: log lines, inner instructions and compute units.

Log lines follow the runtime's exact wording ("Program X invoke [N]", "Program X consumed A of B
compute units", "Program X success" / "failed: custom program error: 0x..."), so decoders that
track the invoke stack see what a real node would return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from devchain.program import COMPUTE_BUDGET_PROGRAM, SYSTEM_PROGRAM

#: Builtin programs do not log "consumed" lines.
_BUILTINS = (SYSTEM_PROGRAM, COMPUTE_BUDGET_PROGRAM)
_BUILTIN_COST = 150


class ProgramError(Exception):
    """An Anchor custom error raised inside our program; ``name`` is the IDL error name."""

    def __init__(self, name: str, code: int, msg: str, source_line: str) -> None:
        super().__init__(name)
        self.name, self.code, self.msg, self.source_line = name, code, msg, source_line


@dataclass
class _Frame:
    program: Pubkey
    remaining_at_start: int
    used_at_start: int


@dataclass
class Trace:
    cu_limit: int
    logs: list[str] = field(default_factory=list)
    used: int = 0
    #: Inner instructions of the current top-level instruction, with their stack height.
    inner: list[tuple[Instruction, int]] = field(default_factory=list)
    _stack: list[_Frame] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return len(self._stack)

    def enter(self, program: Pubkey, ix: Instruction | None = None) -> None:
        """Invoke ``program``; ``ix`` is recorded as an inner instruction when this is a CPI."""
        if self._stack and ix is not None:
            self.inner.append((ix, self.depth + 1))
        self._stack.append(_Frame(program, self.cu_limit - self.used, self.used))
        self.logs.append(f"Program {program} invoke [{self.depth}]")

    def consume(self, units: int) -> None:
        self.used += units

    def log(self, line: str) -> None:
        self.logs.append(line)

    def exit_ok(self) -> None:
        frame = self._stack.pop()
        if frame.program in _BUILTINS:
            self.used += _BUILTIN_COST
        else:
            self.logs.append(
                f"Program {frame.program} consumed {self.used - frame.used_at_start} of "
                f"{frame.remaining_at_start} compute units"
            )
        self.logs.append(f"Program {frame.program} success")

    def unwind_error(self, code: int) -> None:
        """Pop every open frame after a custom error, as the runtime logs it."""
        while self._stack:
            frame = self._stack.pop()
            self.logs.append(
                f"Program {frame.program} consumed {self.used - frame.used_at_start} of "
                f"{frame.remaining_at_start} compute units"
            )
            self.logs.append(f"Program {frame.program} failed: custom program error: {code:#x}")

    def cpi(self, ix: Instruction, log_lines: list[str], units: int) -> None:
        """A complete leaf CPI (token transfer, system transfer, hook)."""
        self.enter(ix.program_id, ix)
        for line in log_lines:
            self.log(line)
        self.consume(units)
        self.exit_ok()
