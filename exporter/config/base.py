"""Base model for every config section: unknown keys are errors, values are immutable.

Also the shared helpers that let one validator report several problems, each at its own key.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

Loc = tuple[str | int, ...]

#: Error type of ``Problems``; the loader turns each item into its own problem line.
MULTI_ERROR = "config_problems"


class Section(BaseModel):
    # allow_inf_nan=False: `.inf` as an interval or a rate limit would overflow timers and sleeps.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    #: Fields that hold a secret and may be given as ``<field>_file: PATH`` instead (the loader
    #: reads the file). Declared per section: any other key ending in ``_file`` is just a key.
    secret_file_fields: ClassVar[frozenset[str]] = frozenset()


def repeated(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted (for "must be unique" errors)."""
    counts = Counter(names)
    return sorted(n for n, c in counts.items() if c > 1)


def format_path(loc: Sequence[str | int]) -> str:
    """A key path as users write it: ``solana.endpoints[1].url``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


class Problems:
    """Problems one validator finds below its model, each with the key path it is about.

    ``raise_if_any`` raises one pydantic error carrying them all; ``load_config`` reports each
    at its own key and line (other callers see them joined in the error message).
    """

    def __init__(self) -> None:
        self.items: list[tuple[Loc, str]] = []

    def add(self, loc: Loc, message: str) -> None:
        self.items.append((loc, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            summary = "; ".join(f"{format_path(loc)}: {msg}" for loc, msg in self.items)
            raise PydanticCustomError(MULTI_ERROR, "{summary}", {"summary": summary, "problems": self.items})


def add_repeated_names(problems: Problems, key: str, what: str, names: Sequence[str]) -> None:
    """One problem per repeated name of the list at ``key``, at the repeat's ``name`` key."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            problems.add(
                (key, i, "name"),
                f"{what} name {name!r} is already used by {key}[{first[name]}]",
            )
        else:
            first[name] = i


_CONTROL = re.compile(r"[\r\n\x00]")
#: RFC 9110 field-name token.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def line_break_problem(value: str, what: str) -> str | None:
    """The problem with a secret-bearing ``value`` (a URL, a DSN, a header) that holds a line
    break or NUL byte, else None. The value is never echoed."""
    if not _CONTROL.search(value):
        return None
    return (
        f"the {what} contains a line break or NUL byte (a secret from an environment variable "
        f"often ends with a newline); the {what} is not shown"
    )


def header_problems(headers: dict[str, str]) -> list[tuple[Loc, str]]:
    """(key path below ``headers``, problem) for HTTP headers that cannot be sent as given.

    Values are never echoed: they usually carry a token.
    """
    out: list[tuple[Loc, str]] = []
    for name, value in headers.items():
        if not _TOKEN.match(name):
            out.append(((), f"{name!r} is not a valid HTTP header name"))
        elif problem := line_break_problem(value, "value"):
            out.append(((name,), problem))
    return out
