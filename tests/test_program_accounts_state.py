"""Program-account state against the simulator: matches by status, outstanding pots, paused flag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from devchain.program import MINT_DECIMALS
from exporter.collectors.base import CollectorError
from exporter.collectors.program_accounts import ProgramAccountsCollector
from exporter.config import load_config
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from tests.support.ingest import (
    PROGRAM,
    ThreadDevchain,
    mint_label,
    parse_metrics,
    program_yaml,
    scrape,
    write_config,
)


@pytest.fixture
def chain() -> Any:
    dc = ThreadDevchain(seed=7, tps=0)
    dc.loop.call_soon_threadsafe(dc.chain.step, 300)
    dc.stop_generator()
    yield dc
    dc.close()


def account_gauges(text: str) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    counts, pots = {}, {}
    for name, labels, value in parse_metrics(text):
        if labels.get("program") != PROGRAM:
            continue
        if name == "escrow_program_accounts":
            counts[(labels["account"], labels["state"])] = value
        elif name == "escrow_program_account_field_amount" and labels["field"] == "pot":
            pots[labels["mint"]] = value
    return counts, pots


async def test_matches_pots_and_pause_match_the_simulator(tmp_path: Path, chain: ThreadDevchain) -> None:
    cfg = load_config(
        write_config(tmp_path / "c.yml", [("a", chain.node("a"))], tmp_path / "s.sqlite", program_yaml())
    )
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(cfg.solana, session, RpcMetrics(CollectorRegistry()))
        collector = ProgramAccountsCollector(cfg.programs[0], pool)

        async def survey() -> tuple[dict[tuple[str, str], float], dict[str, float], dict[str, Any]]:
            await collector.run_cycle()
            return (*account_gauges(scrape([collector])), chain.state())

        counts, pots, truth = await survey()
        assert truth["matches"]["Open"] + truth["matches"]["InProgress"] > 0, "nothing outstanding to compare"
        for status, n in truth["matches"].items():  # Paused included, 0 or not
            assert counts[("Match", status)] == n, status
        expected_pots = {mint_label(m): raw / 10 ** MINT_DECIMALS[m] for m, raw in truth["open_pots"].items()}
        assert {m: v for m, v in pots.items() if v} == pytest.approx(
            {m: v for m, v in expected_pots.items() if v}
        )
        assert counts[("PlatformConfig", "paused")] == 0 and truth["paused"] is False

        chain.action("pause")
        counts, _, truth = await survey()
        assert truth["paused"] is True and counts[("PlatformConfig", "paused")] == 1

        chain.action("resume")
        counts, _, truth = await survey()
        assert truth["paused"] is False and counts[("PlatformConfig", "paused")] == 0

        # An RPC failure is reported, and the last values stay (staleness rule) instead of zeros.
        chain.fault("a", down=True)
        with pytest.raises(CollectorError) as e:
            await collector.run_cycle()
        assert e.value.reason == "rpc_unavailable"
        assert account_gauges(scrape([collector]))[0] == counts


def test_platform_config_is_read_through_a_data_slice(tmp_path: Path) -> None:
    from devchain.program import IDL_PATH
    from exporter.anchor.program import AnchorProgram
    from exporter.collectors.program_accounts import _AccountType

    cfg = load_config(
        write_config(tmp_path / "c.yml", [("a", "http://127.0.0.1:1")], tmp_path / "s.sqlite", program_yaml())
    )
    built = AnchorProgram.load(IDL_PATH)
    config_type, match_type = (_AccountType(built, t) for t in reversed(cfg.programs[0].accounts.types))
    # discriminator 8 + authority 32 + treasury 32 + fee_bps 2 + paused 1: match_count is not needed.
    assert config_type.layout.data_slice() == {"offset": 0, "length": 75}
    assert match_type.layout.data_slice() is None  # status follows a Vec: variable offset


def _undecodable(text: str) -> dict[tuple[str, str], float]:
    return {
        (labels["account"], labels["reason"]): value
        for name, labels, value in parse_metrics(text)
        if name == "escrow_program_accounts_undecodable_total" and labels.get("program") == PROGRAM
    }


@pytest.mark.parametrize(
    ("fault", "reason", "why"),
    [
        ("short", "invalid_account_data", "short_data"),  # an IDL longer than the accounts
        ("garbage", "malformed_response", "not_base64"),
        ("not_string", "malformed_response", "not_base64"),
    ],
)
async def test_undecodable_accounts_are_never_zero_nor_not_paused(
    tmp_path: Path, chain: ThreadDevchain, fault: str, reason: str, why: str
) -> None:
    """Undecodable account data was published as 0 accounts and "not paused" with the collector up."""
    cfg = load_config(
        write_config(tmp_path / "c.yml", [("a", chain.node("a"))], tmp_path / "s.sqlite", program_yaml())
    )
    truth = chain.state()
    chain.action("pause")
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(cfg.solana, session, RpcMetrics(CollectorRegistry()))
        fresh = ProgramAccountsCollector(cfg.programs[0], pool)
        surveyed = ProgramAccountsCollector(cfg.programs[0], pool)
        await surveyed.run_cycle()
        before = account_gauges(scrape([surveyed]))[0]
        assert before[("PlatformConfig", "paused")] == 1
        chain.fault("a", bad_account_data=fault)
        try:
            for c in (fresh, surveyed):
                with pytest.raises(CollectorError) as e:
                    await c.run_cycle()
                assert e.value.reason == reason, e.value.message
                assert "PlatformConfig" in e.value.message and "Match" in e.value.message
        finally:
            chain.fault("a", bad_account_data=False)
        # Never surveyed: the figures are absent, not 0 accounts and not "not paused".
        text = scrape([fresh])
        assert account_gauges(text)[0] == {}
        n_matches = sum(truth["matches"].values())
        assert _undecodable(text) == {("PlatformConfig", why): 1, ("Match", why): n_matches}
        # Surveyed before: the last good values stay (then age out), never zeros.
        assert account_gauges(scrape([surveyed]))[0] == before
        await surveyed.run_cycle()  # the node is honest again: back up, still paused
        assert account_gauges(scrape([surveyed]))[0] == before
