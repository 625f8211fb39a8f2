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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
        #: ``_values`` was handed out by ``snapshot``: copied before the next change.
        self._shared = False
        #: No series is older than this (a lower bound): below ``max_age`` nothing to expire.
        self._oldest = math.inf

    def _own(self) -> None:
        if self._shared:
            self._values = dict(self._values)
            self._shared = False

    def set(self, labels: tuple[str, ...], value: float, now: float | None = None) -> None:
        self._own()
        updated = time.time() if now is None else now
        self._values[labels] = CachedValue(value, updated)
        self._oldest = min(self._oldest, updated)

    def replace(self, values: dict[tuple[str, ...], CachedValue], updated: float) -> None:
        """Hold exactly ``values`` (all read at ``updated``, built elsewhere, e.g. in a worker
        thread), forgetting the rest. The dict is the cache's from now on."""
        self._values = values
        self._shared = False
        self._oldest = updated

    def discard(self, labels: tuple[str, ...]) -> None:
        self._own()
        self._values.pop(labels, None)

    def _expire(self, now: float) -> None:
        if now - self._oldest <= self.max_age:
            return  # the common case, with no walk over every series
        self._own()
        expired = [k for k, v in self._values.items() if now - v.updated > self.max_age]
        for k in expired:
            del self._values[k]
        self._oldest = min((v.updated for v in self._values.values()), default=math.inf)

    def items(self, now: float | None = None) -> Iterator[tuple[tuple[str, ...], CachedValue]]:
        self._expire(time.time() if now is None else now)
        note_expiry(self._oldest + self.max_age)
        yield from list(self._values.items())

    def snapshot(self, now: float | None = None) -> Mapping[tuple[str, ...], CachedValue]:
        """The series that are not too old, without a copy: the mapping is left unchanged (the
        cache copies it before its next change), so a worker thread may read it. The oldest
        series' expiry is noted for the snapshot being captured: it must leave on time."""
        self._expire(time.time() if now is None else now)
        note_expiry(self._oldest + self.max_age)
        self._shared = True
        return self._values

    def __len__(self) -> int:
        return len(self._values)
