"""The reference query pack (schema/queries.yml) against one database, scraped once in-process."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.collectors.sql import build_sql_collectors
from exporter.config.model import Config
from exporter.scheduler import Scheduler
from tests.support.pg_server import PgServer, pg_server  # noqa: F401 - the session fixture
from tests.support.util import ROOT

PACK = ROOT / "schema" / "queries.yml"


Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def pack_config(database: dict[str, Any]) -> Config:
    pack = yaml.safe_load(PACK.read_text())
    pack["databases"] = [database]
    return Config.model_validate(
        {"solana": {"endpoints": [{"name": "x", "url": "http://127.0.0.1:1"}]}, "sql": pack}
    )


async def scrape_pack(database: dict[str, Any]) -> Scrape:
    registry = CollectorRegistry()
    sched = Scheduler(build_sql_collectors(pack_config(database)), registry)
    try:
        results = await asyncio.gather(*(sched.run_once(c) for c in sched.collectors))
        failed = [c.name for c, ok in zip(sched.collectors, results, strict=True) if not ok]
        assert not failed, f"queries failed: {failed}"
        out: Scrape = {}
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out
    finally:
        for c in sched.collectors:
            await c.close()
