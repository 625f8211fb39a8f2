"""Each program's decoder (IDL, event and account layouts, program id) is compiled once at start
and shared by its ingestion and account-state collectors; an IDL unusable at start makes the
collectors report ``idl_unusable`` (not crash the exporter) until it can be read."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporter.anchor import EventDecoder
from exporter.collectors import ingest as ingest_module
from exporter.collectors.base import CollectorError
from exporter.collectors.ingest import IngestCollector, ProgramDecoder, build_program_collectors
from exporter.collectors.program_accounts import ProgramAccountsCollector
from exporter.config import load_config
from exporter.config.model import Config
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from tests.support.stack import example_config


async def _build(config: Config) -> tuple[IngestCollector, ProgramAccountsCollector]:
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(config.solana, session, RpcMetrics(CollectorRegistry()))
        collectors = build_program_collectors(config, pool)
    (ingest,) = [c for c in collectors if isinstance(c, IngestCollector)]
    (accounts,) = [c for c in collectors if isinstance(c, ProgramAccountsCollector)]
    return ingest, accounts


async def test_a_program_is_compiled_once_for_both_of_its_collectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(example_config(tmp_path, "http://127.0.0.1:1"))
    compiled: list[str] = []

    def counting(idl: Any, program_id: str | None) -> EventDecoder:
        compiled.append(idl.source)
        return EventDecoder(idl, program_id)

    monkeypatch.setattr(ingest_module, "EventDecoder", counting)
    ingest, accounts = await _build(config)
    assert compiled == [str(config.programs[0].idl)]  # at start, before any cycle
    accounts._setup_types()  # what the account collector's first cycle does
    assert ingest.decoder is accounts.decoder
    assert (
        accounts.program_id
        == ingest.decoder.get().program_id
        == "8mwrTgghVYYbzsBwrr8PtzTPud3Pe2T2A7npNQCDDBZR"
    )
    assert len(compiled) == 1


async def test_an_idl_unusable_at_start_is_reported_by_the_cycle_then_recovers(tmp_path: Path) -> None:
    config = load_config(example_config(tmp_path, "http://127.0.0.1:1"))
    idl = tmp_path / "paid_match.json"
    shutil.copy(config.programs[0].idl, idl)
    program = config.programs[0].model_copy(update={"idl": str(idl)})
    good = idl.read_text()
    idl.write_text("{not json")  # replaced between the config check and the start
    decoder = ProgramDecoder(program)
    with pytest.raises(CollectorError) as e:
        decoder.get()
    assert e.value.reason == "idl_unusable" and str(idl) in e.value.message
    idl.write_text(good)
    assert decoder.get().program_id == "8mwrTgghVYYbzsBwrr8PtzTPud3Pe2T2A7npNQCDDBZR"
