"""A program's ``AnchorProgram`` as its collectors share it: the one the config check built,
handed on at start to the ingestion collector, the account-state collector and their layouts.

If the config check could not hand one on (a config built another way, or a copy whose IDL
path changed), it is built here once at start; if the IDL cannot be used then (it changed
since the check), the first collector cycle that needs it tries again and reports
``idl_unusable`` until it can.
"""

from __future__ import annotations

import contextlib

from exporter.anchor import IdlError
from exporter.anchor.program import AnchorProgram
from exporter.collectors.base import CollectorError
from exporter.config.programs import ProgramConfig


def load_program(program: ProgramConfig) -> AnchorProgram:
    """The program as the config check built it, else built now from its IDL; ``CollectorError``
    (``idl_unusable``) if the IDL cannot be used, or names no program id and the config neither."""
    try:
        built = program.built_program() or AnchorProgram.load(program.idl, program.program_id)
        built.decoder.require_program_id()
    except IdlError as e:
        raise CollectorError("idl_unusable", str(e)) from None
    return built


class SharedProgram:
    """One program's ``AnchorProgram``, taken once (at start by default) and shared by every
    collector of the program."""

    def __init__(self, program: ProgramConfig, *, at_start: bool = True) -> None:
        self.program = program
        self._built: AnchorProgram | None = None
        if at_start:
            with contextlib.suppress(CollectorError):
                self._built = load_program(program)

    def get(self) -> AnchorProgram:
        if self._built is None:
            self._built = load_program(self.program)
        return self._built
