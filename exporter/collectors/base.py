"""The tiny interface every collector implements, and the last-good-value cache.

A collector does its I/O in ``run_cycle`` on its own schedule (see ``exporter.scheduler``);
a scrape only calls ``collect``, which reads what the last cycles left behind.  So a slow
RPC provider or database never slows or fails a scrape: the collector reports itself down
through ``escrow_exporter_collector_up`` instead.
"""

from __future__ import annotations

import abc
import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from prometheus_client.core import Metric

from exporter.errors import CollectorError

__all__ = ["CachedValue", "Collector", "CollectorError", "SeriesCache", "note_expiry", "tracking_expiry"]


class Collector(abc.ABC):
    """One source of metrics, polled every ``interval`` seconds."""

    #: Value of the ``collector`` label in the exporter's self metrics.
    name: str
    #: Seconds between the starts of two cycles.
    interval: float
    #: A cycle running longer than this is cancelled and counted as ``timeout``.
    timeout: float

    async def setup(self) -> None:  # noqa: B027 - optional hook
        """Open long-lived resources (pools, state files). Called once before the first cycle."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``setup`` opened. Called once at shutdown."""

    @abc.abstractmethod
    async def run_cycle(self) -> None:
        """Fetch and update the collector's state. Raise ``CollectorError`` on failure."""

    @abc.abstractmethod
    def collect(self) -> Iterable[Metric]:
        """Yield metric families from the current state. Must not block or raise."""

    #: Collectors whose state this one's ``collect`` also shows: its snapshot is re-rendered
    #: when one of their cycles ends, not only after its own.
    watches: Sequence[Collector] = ()

    def capture(self) -> Callable[[], Iterable[Metric]]:
        """Freeze what ``collect`` would show, on the event loop, and return a function that
        builds the families from that copy in a worker thread (``exporter.snapshot``).

        The default runs ``collect`` here. A collector with many series overrides it to copy
        its raw values only (cheap) so that building the families happens off the loop. What
        ``collect`` shows may change only when a cycle ends, when a ``SeriesCache`` series gets
        too old (tracked automatically) or at a time told with ``note_expiry``.
        """
        families = list(self.collect())
        return lambda: families


@dataclass(slots=True)
class Expiry:
    at: float = math.inf


_expiry: ContextVar[Expiry | None] = ContextVar("snapshot_expiry", default=None)


@contextlib.contextmanager
def tracking_expiry() -> Iterator[Expiry]:
    """Collect the earliest time at which what is captured inside stops being true."""
    expiry = Expiry()
    token = _expiry.set(expiry)
    try:
        yield expiry
    finally:
        _expiry.reset(token)


def note_expiry(at: float) -> None:
    """The families being captured change at ``at`` (collector clock) even without a cycle."""
    expiry = _expiry.get()
    if expiry is not None and at < expiry.at:
        expiry.at = at


@dataclass(slots=True)
class CachedValue:
    value: float
    updated: float


class SeriesCache:
    """Last good value per label set, forgotten after ``max_age`` seconds.

    This is how a failing source is reported as *down* rather than as zero: a failed fetch
    leaves the previous value (and its timestamp) in place, and only once it is older than
    ``max_age`` does the series disappear.
    """

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._values: dict[tuple[str, ...], CachedValue] = {}

    def set(self, labels: tuple[str, ...], value: float, now: float | None = None) -> None:
        self._values[labels] = CachedValue(value, time.time() if now is None else now)

    def replace(self, values: dict[tuple[str, ...], CachedValue]) -> None:
        """Hold exactly ``values`` (built elsewhere, e.g. in a worker thread), forgetting the rest."""
        self._values = values

    def discard(self, labels: tuple[str, ...]) -> None:
        self._values.pop(labels, None)

    def items(self, now: float | None = None) -> Iterator[tuple[tuple[str, ...], CachedValue]]:
        yield from self.snapshot(now)

    def snapshot(self, now: float | None = None) -> list[tuple[tuple[str, ...], CachedValue]]:
        """A copy of the series that are not too old; the oldest one's expiry is noted for the
        snapshot being captured (it must disappear from the exposition on time)."""
        now = time.time() if now is None else now
        expired = []
        oldest = math.inf
        for k, v in self._values.items():
            if now - v.updated > self.max_age:
                expired.append(k)
            elif v.updated < oldest:
                oldest = v.updated
        for k in expired:
            del self._values[k]
        note_expiry(oldest + self.max_age)
        return list(self._values.items())

    def __len__(self) -> int:
        return len(self._values)
