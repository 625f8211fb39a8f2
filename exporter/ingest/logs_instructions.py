"""Our program's instruction names from a transaction's logs alone (the ``logs`` source).

``getTransaction`` names instructions from their data (``EventDecoder.instruction_names``); a
PubSub notification holds only logs. Anchor's dispatcher logs ``Program log: Instruction: JoinMatch``
first thing in every invocation of an instruction, so each ``Program <id> invoke [N]`` of ours
followed by that line names one instruction, in execution order, as the data would.

Where the logs cannot say what the data would, the caller fetches the transaction instead:

* an invocation of ours nested in ours with no ``Instruction:`` line is an ``emit_cpi!`` event
  carrier (Anchor's event CPI logs nothing), whose event lives only in the inner instruction data;
* any other invocation of ours without the line (a non-Anchor entry point, logs cut short):
  its name is not in the logs.
"""

from __future__ import annotations

from dataclasses import dataclass

_INSTRUCTION = "Program log: Instruction: "


def camel(name: str) -> str:
    """The name Anchor logs for an IDL instruction: ``join_match`` -> ``JoinMatch``."""
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


@dataclass(frozen=True, slots=True)
class LoggedInstructions:
    names: list[str]
    #: an invocation of ours nested in ours without a name: an emit_cpi! event carrier
    emit_cpi: bool
    #: another invocation of ours that the logs do not name
    unnamed: bool


def logged_instructions(logs: object, program_id: str, by_logged_name: dict[str, str]) -> LoggedInstructions:
    """``by_logged_name``: the logged (camel-case) name -> the IDL's instruction name."""
    names: list[str] = []
    emit_cpi = unnamed = False
    invoke = f"Program {program_id} invoke ["
    stack: list[str] = []
    waiting = False  # an invocation of ours has not logged its name yet
    waiting_nested = False
    for line in logs if isinstance(logs, list) else ():
        if not isinstance(line, str):
            continue
        if waiting and line.startswith(_INSTRUCTION) and stack and stack[-1] == program_id:
            logged = line[len(_INSTRUCTION) :].strip()
            names.append(by_logged_name.get(logged, "unknown"))
            waiting = False
            continue
        parts = line.split(" ", 3)
        if len(parts) < 3 or parts[0] != "Program":
            continue
        program, verb = parts[1], parts[2]
        if verb not in ("invoke", "success", "failed:"):
            continue
        if waiting:  # the invocation of ours ended or called out before naming itself
            emit_cpi, unnamed = emit_cpi or waiting_nested, unnamed or not waiting_nested
            waiting = False
        if verb == "invoke":
            depth = parts[3] if len(parts) == 4 else ""
            if depth.startswith("[") and depth.endswith("]") and depth[1:-1].isdecimal():
                del stack[max(0, int(depth[1:-1]) - 1) :]
            if line.startswith(invoke):
                waiting, waiting_nested = True, program_id in stack
            stack.append(program)
        else:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] == program:
                    del stack[i:]
                    break
    if waiting:
        emit_cpi, unnamed = emit_cpi or waiting_nested, unnamed or not waiting_nested
    return LoggedInstructions(names, emit_cpi, unnamed)
