"""Collectors' families rendered once per change; ``/metrics`` serves the bytes.

After each cycle of a collector (and when one of its ``SeriesCache`` series reaches its age
limit) its state is *captured* on the event loop (``Collector.capture``: cheap, a copy) and
*rendered* in a worker thread into an immutable ``Snapshot``: per family, the exposition bytes
in text and OpenMetrics form and their deflate segments. A scrape joins the cached bytes of every
snapshot, so it never re-renders an unchanged collector and never renders a large one on the
event loop (``/-/healthy``, RPC calls and commits do not wait behind it).

Several collectors may serve series of one family (one ingest collector per program, all in
``escrow_events``): their bodies are merged under the family's first header, so each family
appears once with all its samples, as both formats require.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics import exposition as openmetrics

from exporter.collectors.base import Collector, tracking_expiry

log = logging.getLogger("exporter.snapshot")

TEXT, OPENMETRICS = 0, 1
EOF = b"# EOF\n"


def deflate(raw: bytes) -> bytes:
    """``raw`` as a raw-deflate segment ending on a byte boundary: segments concatenate into one
    stream (as pigz does), so a cached piece is compressed once, not once per scrape."""
    if not raw:
        return b""
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    return c.compress(raw) + c.flush(zlib.Z_SYNC_FLUSH)


_FINAL_BLOCK = zlib.compressobj(1, zlib.DEFLATED, -15).flush()  # an empty last block
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


@dataclass(frozen=True, slots=True)
class Piece:
    raw: bytes
    deflated: bytes


@dataclass(frozen=True, slots=True)
class RenderedFamily:
    name: str
    #: ``(head, body)`` per format (TEXT, OPENMETRICS): head is the HELP/TYPE lines.
    parts: tuple[tuple[Piece, Piece], tuple[Piece, Piece]]


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: a new one is a change
class Snapshot:
    families: tuple[RenderedFamily, ...]
    #: The slot's version when the state was captured.
    version: int
    #: Collector-clock time at which a series in it reaches its age limit (inf: never).
    expires: float


class _Families:
    """What ``generate_latest`` needs of a registry."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _split(rendered: bytes) -> tuple[Piece, Piece]:
    end = 0
    while rendered.startswith(b"#", end):
        end = rendered.index(b"\n", end) + 1
    head, body = rendered[:end], rendered[end:]
    return Piece(head, deflate(head)), Piece(body, deflate(body))


#: Types whose sample lines are the same bytes in both formats (only HELP/TYPE differ) as long
#: as no sample has a timestamp or exemplar: the body is rendered and compressed once.
_SAME_BODY_TYPES = frozenset({"counter", "gauge", "histogram", "summary"})


def _same_body(family: Metric) -> bool:
    return family.type in _SAME_BODY_TYPES and all(
        s.timestamp is None and s.exemplar is None and getattr(s, "native_histogram", None) is None
        for s in family.samples
    )


def render_family(family: Metric) -> RenderedFamily:
    """One family in both formats, with prometheus_client's own encoders (exact same bytes)."""
    text = _split(generate_latest(_Families([family])))  # type: ignore[arg-type]
    if _same_body(family):
        head_only = copy.copy(family)
        head_only.samples = []
        om_head, _ = _split(openmetrics.generate_latest(_Families([head_only])).removesuffix(EOF))
        return RenderedFamily(family.name, (text, (om_head, text[1])))
    om = openmetrics.generate_latest(_Families([family]))
    return RenderedFamily(family.name, (text, _split(om.removesuffix(EOF))))


def render(build: Callable[[], Iterable[Metric]]) -> tuple[RenderedFamily, ...]:
    """Build the captured families and render them; run in a worker thread."""
    return tuple(render_family(f) for f in build())


class SnapshotSlot:
    """One collector's current snapshot, re-rendered when its state changed or a series expired."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.version = 0
        self.snapshot: Snapshot | None = None
        self._task: asyncio.Task[None] | None = None
        self._task_version = -1
        clock = getattr(collector, "clock", None)
        self._clock: Callable[[], float] = clock if callable(clock) else time.time

    def invalidate(self) -> None:
        self.version += 1

    def fresh(self) -> bool:
        s = self.snapshot
        return s is not None and s.version == self.version and self._clock() < s.expires

    async def current(self) -> Snapshot:
        """The snapshot, re-rendered first if it is out of date (one render shared by all waiters)."""
        if not self.fresh():
            if self._task is None or self._task_version != self.version:
                self._task = asyncio.create_task(
                    self._render(self._task), name=f"render:{self.collector.name}"
                )
                self._task_version = self.version
            # Shielded: a scrape that gives up must not cancel the render other scrapes wait for.
            await asyncio.shield(self._task)
        assert self.snapshot is not None
        return self.snapshot

    async def cancel(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _render(self, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:  # renders finish in order: the newest state is kept
            with contextlib.suppress(Exception):
                await previous
        version = self.version
        try:
            with tracking_expiry() as expiry:
                build = self.collector.capture()
            families = await asyncio.to_thread(render, build)
            self.snapshot = Snapshot(families, version, expiry.at)
        except Exception:  # a bug in one collector must not break the scrape
            log.exception("collector failed to render its metrics", extra={"collector": self.collector.name})
            self.snapshot = Snapshot((), version, math.inf)
        finally:
            if self._task is asyncio.current_task():
                self._task = None


@dataclass(frozen=True, slots=True)
class Joined:
    """Every snapshot's families merged and joined, per format: cached until a snapshot changes."""

    key: tuple[Snapshot, ...]
    raw: tuple[bytes, bytes]
    deflated: tuple[bytes, bytes]
    crc: tuple[int, int]


def join(snapshots: Sequence[Snapshot]) -> Joined:
    order: dict[str, list[RenderedFamily]] = {}
    for s in snapshots:
        for f in s.families:
            order.setdefault(f.name, []).append(f)
    raw: list[bytes] = []
    deflated: list[bytes] = []
    crc: list[int] = []
    for fmt in (TEXT, OPENMETRICS):
        pieces: list[Piece] = []
        for same in order.values():
            pieces.append(same[0].parts[fmt][0])  # HELP/TYPE once
            pieces.extend(f.parts[fmt][1] for f in same)
        body = b"".join(p.raw for p in pieces)
        raw.append(body)
        deflated.append(b"".join(p.deflated for p in pieces))
        crc.append(zlib.crc32(body))
    return Joined(tuple(snapshots), (raw[0], raw[1]), (deflated[0], deflated[1]), (crc[0], crc[1]))


class Snapshots:
    """The snapshot slots of every collector, and the exposition built from them."""

    def __init__(self, collectors: Sequence[Collector]) -> None:
        self.slots = {c.name: SnapshotSlot(c) for c in collectors}
        self._joined: Joined | None = None
        self._joining = asyncio.Lock()

    def invalidate(self, collector: Collector) -> None:
        self.slots[collector.name].invalidate()

    async def close(self) -> None:
        """Cancel renders in flight (at shutdown), so that no task outlives the event loop."""
        for slot in self.slots.values():
            await slot.cancel()

    async def refresh(self, collector: Collector) -> None:
        await self.slots[collector.name].current()

    async def joined(self) -> Joined:
        await asyncio.gather(*(s.current() for s in self.slots.values()))
        async with self._joining:  # concurrent scrapes share one join
            # The newest snapshots, which another scrape may have rendered while this one waited.
            snapshots = tuple(s.snapshot for s in self.slots.values() if s.snapshot is not None)
            j = self._joined
            if (
                j is None
                or len(j.key) != len(snapshots)
                or any(a is not b for a, b in zip(j.key, snapshots, strict=True))
            ):
                # A join copies every cached body once per change: large, so not on the event loop.
                j = self._joined = await asyncio.to_thread(join, snapshots)
        return j


def body(joined: Joined, fmt: int, live: bytes) -> bytes:
    """The exposition: every snapshot's families, then ``live`` (rendered per scrape), then EOF."""
    tail = live + EOF if fmt == OPENMETRICS else live
    return joined.raw[fmt] + tail


def gzip_body(joined: Joined, fmt: int, live: bytes) -> bytes:
    """``body`` gzipped, reusing the snapshots' cached deflate segments: only ``live`` is
    compressed per scrape, and the CRC continues from the cached one."""
    tail = live + EOF if fmt == OPENMETRICS else live
    crc = zlib.crc32(tail, joined.crc[fmt])
    size = (len(joined.raw[fmt]) + len(tail)) & 0xFFFFFFFF
    return b"".join(
        (_GZIP_HEADER, joined.deflated[fmt], deflate(tail), _FINAL_BLOCK, struct.pack("<II", crc, size))
    )
