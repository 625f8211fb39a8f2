"""Wires config, RPC pool, collectors and the HTTP server into one aiohttp application.

Long-lived resources (the HTTP client session, the RPC pool, collector state) are created in
``cleanup_ctx`` and background tasks are cancelled cleanly on shutdown, as in aiohttp's examples.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, disable_created_metrics

from exporter import __version__
from exporter.auth import AuthMetrics, BasicAuth
from exporter.collectors.balances import BalancesCollector
from exporter.collectors.base import Collector
from exporter.collectors.ingest import build_program_collectors
from exporter.collectors.reconcile import build_reconcile_collectors
from exporter.collectors.sql import build_sql_collectors
from exporter.config.model import Config
from exporter.config.programs import SOL_DECIMALS, SOL_LABEL
from exporter.http import add_routes
from exporter.ingest.state_size import StateFileSize
from exporter.keys import AUTH, CONFIG, POOL, REGISTRY, SCHEDULER
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from exporter.scheduler import Scheduler
from exporter.webconfig import response_headers_middleware
from exporter.webserver import Connections

log = logging.getLogger("exporter")


def build_collectors(config: Config, pool: RpcPool | None, registry: CollectorRegistry) -> list[Collector]:
    """Every enabled collector, in a stable order (the chain ones only with a pool)."""
    collectors: list[Collector] = []
    if pool is not None and config.balances.accounts:
        collectors.append(BalancesCollector(config.balances, pool))
    if pool is not None:
        collectors.extend(build_program_collectors(config, pool))
    collectors.extend(build_sql_collectors(config))
    if pool is not None:  # reconciliation needs a program, which needs the chain
        collectors.extend(build_reconcile_collectors(config, pool, collectors))
    return collectors


def mint_symbols(config: Config) -> dict[str, tuple[str, int]]:
    """mint label -> (symbol, decimals): SOL, then every configured mint (its address when it
    has no symbol, so that a join never drops a series)."""
    out = {SOL_LABEL: (SOL_LABEL, SOL_DECIMALS)}
    for program in config.programs:
        for address, mint in program.mints.items():
            out[address] = (mint.symbol or address, mint.decimals)
    return out


def _ignore_sighup() -> None:
    # Prometheus-world operators send SIGHUP to reload; the default action would kill us silently.
    log.warning("SIGHUP received: the configuration is not reloaded; restart the exporter to apply changes")


def _watch_sighup() -> bool:
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, _ignore_sighup)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests), or Windows
        return False
    return True


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config, registry = app[CONFIG], app[REGISTRY]
    async with aiohttp.ClientSession(raise_for_status=False) as session:
        # A SQL-only shard has no solana: section: no pool, no RPC health checks, no rpc series.
        pool = RpcPool(config.solana, session, RpcMetrics(registry)) if config.solana else None
        collectors = build_collectors(config, pool, registry)
        for c in collectors:
            await c.setup()
        scheduler = Scheduler(collectors, registry, bridge=False)
        if pool is not None:
            app[POOL] = pool
        app[SCHEDULER] = scheduler
        health = [asyncio.create_task(pool.run_health_checks(), name="rpc-health")] if pool else []
        tasks = [*health, *scheduler.start()]
        log.info(
            "exporter started", extra={"version": __version__, "collectors": [c.name for c in collectors]}
        )
        watching_sighup = _watch_sighup()
        try:
            yield
        finally:
            log.info("shutting down", extra={"collectors": len(collectors)})
            if watching_sighup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await scheduler.snapshots.close()
            for c in collectors:
                try:
                    await c.close()
                except Exception:
                    log.exception("collector close failed", extra={"collector": c.name})


async def _close_auth(app: web.Application) -> None:
    app[AUTH].close()


def create_app(
    config: Config,
    auth: BasicAuth | None = None,
    response_headers: dict[str, str] | None = None,
    connections: Connections | None = None,
) -> web.Application:
    # `_created` series double the series count and no dashboard or rule of ours uses them.
    disable_created_metrics()
    registry = CollectorRegistry(auto_describe=True)
    Gauge(
        "escrow_exporter_build_info", "Build information; always 1.", ["version"], registry=registry
    ).labels(__version__).set(1)
    mint_info = Gauge(
        "escrow_mint_info",
        "A mint's symbol and decimals (the config's programs[].mints; SOL built in); always 1. "
        "Join symbols onto amounts: * on (mint) group_left (symbol) escrow_mint_info.",
        ["mint", "symbol", "decimals"],
        registry=registry,
    )
    for mint, (symbol, decimals) in mint_symbols(config).items():
        mint_info.labels(mint, symbol, str(decimals)).set(1)
    # The standard process_* series (memory, CPU, open fds, start time), as every exporter has:
    # restarts and leaks show up without node-level access.
    ProcessCollector(registry=registry)
    if config.programs:  # ingestion keeps a state file: its size is forecast (capacity rules)
        registry.register(StateFileSize(config.state.path))
    middlewares = []
    if connections is not None:  # first: it times the handler, for the idle timeout after it
        middlewares.append(connections.middleware())
        registry.register(connections)
    if response_headers:  # before basic auth, so the headers are on its 401 too
        middlewares.append(response_headers_middleware(response_headers))
    app = web.Application(middlewares=middlewares)
    app[CONFIG] = config
    app[REGISTRY] = registry
    if auth is not None:
        app[AUTH] = auth
        registry.register(AuthMetrics(auth))
        app.on_cleanup.append(_close_auth)
    add_routes(app)
    app.cleanup_ctx.append(_lifecycle)
    return app
