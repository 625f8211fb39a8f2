"""Config of the Anchor programs to ingest (see issue: Anchor programs). Placeholder."""

from __future__ import annotations

from exporter.config.base import Section


class ProgramConfig(Section):
    name: str
    idl: str
    program_id: str | None = None
