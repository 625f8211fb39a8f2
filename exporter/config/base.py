"""Base model for every config section: unknown keys are errors, values are immutable."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def repeated(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted (for "must be unique" errors)."""
    counts = Counter(names)
    return sorted(n for n, c in counts.items() if c > 1)
