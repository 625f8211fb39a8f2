"""Config of the SQL collector (see issue: business tables). Placeholder."""

from __future__ import annotations

from pydantic import Field

from exporter.config.base import Section


class QueryConfig(Section):
    name: str
    sql: str


class SqlConfig(Section):
    queries: list[QueryConfig] = Field(default_factory=list)
