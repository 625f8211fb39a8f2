"""Each program (IDL, compiled types, event and account layouts, program id) is read and compiled
once, by the config check, and that one object is shared by its ingestion and account-state
collectors; an IDL unusable at start makes the collectors report ``idl_unusable`` (not crash the
exporter) until it can be read."""

from __future__ import annotations

import builtins
import io
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporter.anchor.borsh import TypeCompiler
from exporter.collectors.base import CollectorError
from exporter.collectors.ingest import IngestCollector, build_program_collectors
from exporter.collectors.program import SharedProgram
from exporter.collectors.program_accounts import ProgramAccountsCollector
from exporter.config import load_config
from exporter.config.model import Config
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from tests.support.stack import ROOT, example_config


async def _build(config: Config) -> tuple[IngestCollector, ProgramAccountsCollector]:
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(config.solana, session, RpcMetrics(CollectorRegistry()))
        collectors = build_program_collectors(config, pool)
    (ingest,) = [c for c in collectors if isinstance(c, IngestCollector)]
    (accounts,) = [c for c in collectors if isinstance(c, ProgramAccountsCollector)]
    return ingest, accounts


async def test_a_program_is_read_and_compiled_once_from_config_check_to_first_cycles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From loading the config (which checks the mapping against the IDL) through the first
    cycle of both collectors, the IDL file is opened once and its types compiled once: counted
    at the source (every ``TypeCompiler`` built, every ``open`` of the IDL path), so no copy of
    the compile anywhere in the exporter escapes the count."""
    path = example_config(tmp_path, "http://127.0.0.1:1")
    idl_path = str(ROOT / "idls" / "paid_match.json")
    compilers: list[str] = []
    reads: list[str] = []
    real_init = TypeCompiler.__init__
    real_open = io.open

    def counting_init(self: TypeCompiler, idl: Any) -> None:
        compilers.append(idl.source)
        real_init(self, idl)

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == idl_path:
            reads.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(TypeCompiler, "__init__", counting_init)
    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(builtins, "open", counting_open)
    config = load_config(path)
    assert [str(p.idl) for p in config.programs] == [idl_path]
    ingest, accounts = await _build(config)
    accounts._setup_types()  # what the account collector's first cycle does
    ingest.anchor.get()  # what the ingestion collector's first cycle takes
    assert (compilers, reads) == ([idl_path], [idl_path])
    assert ingest.anchor is accounts.anchor
    layouts = [t.layout for t in accounts._setup_types()]
    assert layouts and all(layout.program is ingest.anchor.get() for layout in layouts)


async def test_an_idl_unusable_at_start_is_reported_by_the_cycle_then_recovers(tmp_path: Path) -> None:
    config = load_config(example_config(tmp_path, "http://127.0.0.1:1"))
    idl = tmp_path / "paid_match.json"
    shutil.copy(config.programs[0].idl, idl)
    program = config.programs[0].model_copy(update={"idl": str(idl)})
    good = idl.read_text()
    idl.write_text("{not json")  # replaced between the config check and the start
    shared = SharedProgram(program)
    with pytest.raises(CollectorError) as e:
        shared.get()
    assert e.value.reason == "idl_unusable" and str(idl) in e.value.message
    idl.write_text(good)
    assert shared.get().program_id == "8mwrTgghVYYbzsBwrr8PtzTPud3Pe2T2A7npNQCDDBZR"


def test_configs_that_say_the_same_are_equal_though_each_built_its_program(tmp_path: Path) -> None:
    path = example_config(tmp_path, "http://127.0.0.1:1")
    a, b = load_config(path).programs[0], load_config(path).programs[0]
    assert a.built_program() is not None and a.built_program() is not b.built_program()
    assert a == b
    assert a != a.model_copy(update={"program_id": "Escrow1111111111111111111111111111111111111"})
