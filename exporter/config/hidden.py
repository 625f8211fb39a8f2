"""Problems that schema errors hide, so that ``check-config`` reports every problem at once.

A model's cross-checks (e.g. a program's mapping against its IDL) run only once the model's own
keys are valid: an unknown key beside a misspelt event field would report the key, and the
field only on the next run. So after a failed validation we drop each reported key (a missing
key: the item that lacks it) from a copy of the data and validate again, keeping the problems
that appear elsewhere. Problems at or under a dropped key, or above it, are consequences of the
drop and are not kept, nor are those naming a dropped item (a query's database, an amount's
mint: "not defined" only because it was dropped). List items are dropped too; the positions are
mapped back so that every problem names the index the user wrote.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from exporter.config.base import Loc

Found = list[tuple[Loc, str]]
#: Rounds of drop-and-revalidate; each can uncover checks one level further up.
_ROUNDS = 6


def hidden_problems(data: Any, found: Found, validate: Callable[[Any], Found]) -> Found:
    """The problems ``validate`` reports once the keys of ``found`` are dropped from ``data``."""
    work = copy.deepcopy(data)
    dropped_items: dict[Loc, list[int]] = {}  # list path (as written) -> original indices dropped
    dropped: list[Loc] = []
    dropped_names: set[str] = set()  # names and keys of dropped items, which others may refer to
    extra: Found = []
    seen = {loc for loc, _ in found}
    pending = [loc for loc, _ in found]
    for _ in range(_ROUNDS):
        progress = False
        for loc in sorted(pending, key=lambda x: [str(p) for p in x], reverse=True):
            gone = _drop(work, loc, dropped_items, dropped_names)
            if gone is not None:
                dropped.append(gone)
                progress = True
        if not progress:
            break
        pending = []
        for loc, message in validate(work):
            original = _original(loc, dropped_items)
            if (
                original in seen
                or any(_related(original, d) for d in dropped)
                or _names(message, dropped_names)
            ):
                pending.append(original)  # a consequence of a drop: drop further, do not report
                continue
            seen.add(original)
            extra.append((original, message))
            pending.append(original)
        if not pending:
            break
    return extra


def _names(message: str, names: set[str]) -> bool:
    return any(n and re.search(rf"(?<!\w){re.escape(n)}(?!\w)", message) for n in names)


def _related(loc: Loc, dropped: Loc) -> bool:
    n = min(len(loc), len(dropped))
    return loc[:n] == dropped[:n]


def _current(loc: Loc, dropped_items: dict[Loc, list[int]]) -> Loc | None:
    """``loc`` as written -> its position in the pruned data (None when it was dropped)."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        gone = dropped_items.get(loc[:i])
        if isinstance(part, int) and gone:
            if part in gone:
                return None
            part -= sum(1 for g in gone if g < part)
        out.append(part)
    return tuple(out)


def _original(loc: Loc, dropped_items: dict[Loc, list[int]]) -> Loc:
    """A position in the pruned data -> the key path as written."""
    out: list[str | int] = []
    for part in loc:
        gone = dropped_items.get(tuple(out))
        if isinstance(part, int) and gone:
            index, kept = 0, -1
            while True:
                if index not in gone:
                    kept += 1
                    if kept == part:
                        break
                index += 1
            part = index
        out.append(part)
    return tuple(out)


def _drop(work: Any, loc: Loc, dropped_items: dict[Loc, list[int]], names: set[str]) -> Loc | None:
    """Remove the deepest existing prefix of ``loc`` (as written) from ``work``; return it.
    A dropped mapping's key and ``name`` go into ``names``."""
    for n in range(len(loc), 0, -1):
        target = _current(loc[:n], dropped_items)
        if target is None:
            return None  # already gone with an enclosing item
        parent = _walk(work, target[:-1])
        key = target[-1]
        if isinstance(parent, dict) and key in parent:
            if isinstance(parent[key], dict):
                names.add(str(key))
                names.add(str(parent[key].get("name", "")))
            del parent[key]
            return loc[:n]
        if isinstance(parent, list) and isinstance(key, int) and 0 <= key < len(parent):
            if isinstance(parent[key], dict):
                names.add(str(parent[key].get("name", "")))
            del parent[key]
            dropped_items.setdefault(loc[: n - 1], []).append(int(loc[n - 1]))
            return loc[:n]
    return None


def _walk(data: Any, loc: Loc) -> Any:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data
