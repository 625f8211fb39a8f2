"""Reliability drills (quick versions, in ``make test``): the exporter as a real process against
the simulator while faults are injected, checked the way an operator would check it — on
/metrics, in the log and against the simulator's ground truth once its generator is stopped.

Each drill is a function taking its durations (``tests/support/drills.py``), so
``tests/test_drills_long.py`` runs the same drill for minutes under ``make drills``. Already covered elsewhere: SIGKILL loops and failover
during ingestion (test_ingest_exactly_once.py), fuzzing of the log parser and Borsh decoder
(test_anchor_*.py), config fuzzing (test_config_fuzz.py).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from exporter.config.model import EndpointConfig
from exporter.rpc.endpoint import Endpoint
from exporter.rpc.errors import RpcMalformed
from exporter.rpc.metrics import RpcMetrics
from tests.support.drills import (
    CORRUPTIONS,
    RESPONSE_CAP,
    CountingDevchain,
    chain,  # noqa: F401 - the fixture
    drill_429_storm,
    drill_all_endpoints_down,
    drill_bad_responses,
    drill_concurrent_scrapes,
    drill_database_trouble,
    drill_state_corrupted,
    drill_state_disk_full,
)
from tests.support.pg_server import PgServer, pg_server  # noqa: F401 - the session fixture
from tests.support.util import free_port

pytestmark = pytest.mark.slow


# -- 1. every RPC endpoint down, then back ---------------------------------------------------------------


def test_all_endpoints_down_then_back(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    drill_all_endpoints_down(tmp_path, chain, outage=5)


# -- 2. 429 storm --------------------------------------------------------------------------------------


def test_429_storm_backs_off_and_totals_stay_exact(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    drill_429_storm(tmp_path, chain, storm=5)


# -- 3. malformed, truncated and oversized answers ----------------------------------------------------------


def test_malformed_truncated_and_oversized_answers(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    drill_bad_responses(tmp_path, chain, phase=2.0)


async def test_response_cap_refuses_big_bodies_without_buffering_them() -> None:
    """Streaming check of the cap (no Content-Length): the body is cut off at the cap."""
    from prometheus_client import CollectorRegistry

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b'{"jsonrpc":"2.0","id":1,"result":"')
        for _ in range(64):  # 4 MiB in chunks, never announced
            await resp.write(b"x" * 65536)
        await resp.write(b'"}')
        return resp

    app = web.Application()
    app.router.add_post("/", big)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session:
            cfg = EndpointConfig(name="big", url=f"http://127.0.0.1:{port}/", max_response_bytes=RESPONSE_CAP)
            ep = Endpoint(cfg, session, RpcMetrics(CollectorRegistry()))
            with pytest.raises(RpcMalformed) as err:
                await ep.call("getProgramAccounts")
            assert "max_response_bytes" in str(err.value) and str(port) not in str(err.value)
            ok = Endpoint(
                cfg.model_copy(update={"max_response_bytes": 8 * RESPONSE_CAP}),
                session,
                RpcMetrics(CollectorRegistry()),
            )
            assert len(await ok.call("getProgramAccounts")) == 4 * RESPONSE_CAP
    finally:
        await runner.cleanup()


# -- 4. database down, locked or slow ---------------------------------------------------------------------


def test_database_down_locked_or_slow_affects_only_sql(
    tmp_path: Path,
    chain: CountingDevchain,  # noqa: F811
    pg_server: PgServer,  # noqa: F811
) -> None:
    drill_database_trouble(tmp_path, chain, pg_server, hold=1.0)


# -- 5. state file: disk full, file corrupted ----------------------------------------------------------------


def test_state_disk_full(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    drill_state_disk_full(tmp_path, chain, full_for=2)


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_state_file_corrupted(tmp_path: Path, chain: CountingDevchain, how: str) -> None:  # noqa: F811
    drill_state_corrupted(tmp_path, chain, how, broken_for=1)


# -- 6. many concurrent scrapes while ingesting ---------------------------------------------------------------


def test_concurrent_scrapes_while_ingesting(tmp_path: Path, chain: CountingDevchain) -> None:  # noqa: F811
    drill_concurrent_scrapes(tmp_path, chain, scrapers=20, scrapes=50)
