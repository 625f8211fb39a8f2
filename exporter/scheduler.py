"""Runs each collector on its own interval and keeps the exporter's self metrics.

A collector's failure is contained here: it is logged with its reason, counted in
``escrow_exporter_collector_errors_total`` and shown as ``escrow_exporter_collector_up 0``;
other collectors and the scrape carry on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import Metric
from prometheus_client.registry import Collector as PromCollector

from exporter.collectors.base import Collector, CollectorError
from exporter.snapshot import Snapshots

log = logging.getLogger("exporter.scheduler")


class _Bridge(PromCollector):
    """Adapts our collectors to prometheus_client's registry: one scrape calls every ``collect``."""

    def __init__(self, collectors: list[Collector]) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for c in self._collectors:
            try:
                yield from c.collect()
            except Exception:  # a bug in one collector must not break the scrape
                log.exception("collector failed to render its metrics", extra={"collector": c.name})


class Scheduler:
    """``bridge=False`` (the exporter): collectors are served from ``self.snapshots`` by
    ``/metrics``; ``bridge=True`` also registers them in ``registry``, rendered at each
    ``collect`` (for tools and tests that read a registry)."""

    def __init__(self, collectors: list[Collector], registry: CollectorRegistry, bridge: bool = True) -> None:
        self.collectors = collectors
        self.bridged = bridge
        self.snapshots = Snapshots(collectors)
        # Who must be re-rendered when a collector's cycle ends: itself and those watching it.
        self._changes: dict[str, list[Collector]] = {c.name: [c] for c in collectors}
        for c in collectors:
            for watched in c.watches:
                self._changes[watched.name].append(c)
        self._first_cycle = {c.name: asyncio.Event() for c in collectors}
        self.up = Gauge(
            "escrow_exporter_collector_up",
            "1 if the collector's last cycle succeeded, 0 if it failed.",
            ["collector"],
            registry=registry,
        )
        self.duration = Gauge(
            "escrow_exporter_collector_duration_seconds",
            "Duration of the collector's last cycle.",
            ["collector"],
            registry=registry,
        )
        self.last_success = Gauge(
            "escrow_exporter_collector_last_success_timestamp_seconds",
            "Unix time at which the collector's last successful cycle ended.",
            ["collector"],
            registry=registry,
        )
        self.errors = Counter(
            "escrow_exporter_collector_errors",
            "Failed collector cycles by reason.",
            ["collector", "reason"],
            registry=registry,
        )
        for c in collectors:
            self.up.labels(c.name).set(0)
        if bridge:
            registry.register(_Bridge(collectors))

    @property
    def ready(self) -> bool:
        """True once every collector finished (succeeded or failed) its first cycle."""
        return all(e.is_set() for e in self._first_cycle.values())

    async def wait_ready(self) -> None:
        await asyncio.gather(*(e.wait() for e in self._first_cycle.values()))

    async def run_once(self, c: Collector) -> bool:
        started = time.perf_counter()
        reason: str | None = None
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the cycle finishes, and shutdown then waits for a task that never ends.
            async with asyncio.timeout(c.timeout):
                await c.run_cycle()
        except CollectorError as e:
            reason = e.reason
            log.warning(
                "collector cycle failed", extra={"collector": c.name, "reason": e.reason, "error": e.message}
            )
        except TimeoutError:
            reason = "timeout"
            log.warning(
                "collector cycle timed out", extra={"collector": c.name, "timeout_seconds": c.timeout}
            )
        except Exception as e:  # a bug: count it, keep the exporter alive, keep the trace at debug
            reason = "internal"
            log.error(
                "collector cycle crashed",
                extra={"collector": c.name, "error": f"{type(e).__name__}: {e}"},
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
        self.duration.labels(c.name).set(time.perf_counter() - started)
        if reason is None:
            self.up.labels(c.name).set(1)
            self.last_success.labels(c.name).set(time.time())
        else:
            self.up.labels(c.name).set(0)
            self.errors.labels(c.name, reason).inc()
        for changed in self._changes[c.name]:
            self.snapshots.invalidate(changed)
        self._first_cycle[c.name].set()
        return reason is None

    async def _loop(self, c: Collector) -> None:
        while True:
            started = time.monotonic()
            await self.run_once(c)
            # A cancel (shutdown) that landed as a query finished is swallowed by Python 3.11's
            # asyncio.wait_for; the task still counts it as cancelling: honour it now, not after
            # sleeping a whole interval (seen: a 30 s query interval held shutdown for 30 s).
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            # Rendered now, in a worker thread, so that the next scrape finds the bytes ready.
            for changed in self._changes[c.name]:
                await self.snapshots.refresh(changed)
            await asyncio.sleep(max(0.0, c.interval - (time.monotonic() - started)))

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._loop(c), name=f"collector:{c.name}") for c in self.collectors]
