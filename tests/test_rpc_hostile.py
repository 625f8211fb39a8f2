"""Hostile or broken RPC nodes (issue 11), driven in-process against the simulator's faults:
totals stay equal to the ground truth and a bad node is failed over, never trusted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.collectors.base import CollectorError
from exporter.collectors.ingest import IngestCollector, build_program_collectors
from exporter.config import load_config
from exporter.config.model import EndpointConfig
from exporter.ingest.signatures import SignatureFeed
from exporter.ingest.state import Cursor
from exporter.rpc.endpoint import Endpoint
from exporter.rpc.errors import RpcError, RpcMalformed
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from exporter.rpc.redact import Redactor
from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.support.ingest import (
    ThreadDevchain,
    diff_totals,
    expected_totals,
    ingest,
    observed_totals,
    parse_metrics,
    program_yaml,
    write_config,
)
from tests.support.util import cli, free_port


@pytest.fixture(scope="module")
def chain() -> Iterator[ThreadDevchain]:
    """A simulator with a fixed history (generator stopped after ~250 transactions)."""
    dc = ThreadDevchain(seed=11, tps=0)
    dc.loop.call_soon_threadsafe(dc.chain.step, 250)
    dc.truth = dc.stop_generator()  # type: ignore[attr-defined]
    yield dc
    dc.close()


@pytest.fixture(autouse=True)
def no_faults(chain: ThreadDevchain) -> Iterator[None]:
    chain.clear_faults()
    yield
    chain.clear_faults()


def truth(chain: ThreadDevchain) -> dict[str, Any]:
    return chain.truth  # type: ignore[attr-defined,no-any-return]


# -- 1. a signature listed twice is counted once ------------------------------------------------------


@pytest.mark.parametrize("page_size", [7, 1000])
async def test_repeated_signatures_are_counted_once(
    tmp_path: Path, chain: ThreadDevchain, page_size: int
) -> None:
    """The only node repeats signatures within a page and across pages (pages of 7 cross many)."""
    chain.fault("a", duplicate_signatures=True)
    cfg = write_config(
        tmp_path / "c.yml",
        [("a", chain.node("a"))],
        tmp_path / "s.sqlite",
        program_yaml(page_size=page_size, batch_size=16, accounts=False),
    )
    _, text = await ingest(cfg, cycles=2)
    problems = diff_totals(expected_totals(truth(chain)), observed_totals(text))
    assert not problems, "\n".join(problems)


# -- 5. one endpoint far ahead of the others ------------------------------------------------------------

LIE = 100_000  # slots a lying endpoint adds (a devnet endpoint configured by mistake)


async def health_rounds(cfg: Path, rounds: int = 2) -> tuple[RpcPool, str]:
    """A pool after ``rounds`` health rounds, and its metrics page."""
    registry = CollectorRegistry()
    session = aiohttp.ClientSession()
    pool = RpcPool(load_config(cfg).solana, session, RpcMetrics(registry))
    for _ in range(rounds):
        await pool.check_health()
    await session.close()
    return pool, generate_latest(registry).decode()


def endpoints_config(tmp_path: Path, chain: ThreadDevchain, names: list[str]) -> Path:
    return write_config(
        tmp_path / "c.yml",
        [(n, chain.node(n)) for n in names],
        tmp_path / "s.sqlite",
        program_yaml(accounts=False),
        solana_extra="  max_slot_lag: 20\n",
    )


async def test_an_endpoint_far_ahead_of_the_majority_is_not_trusted(
    tmp_path: Path, chain: ThreadDevchain
) -> None:
    """Three endpoints, the first one (preferred) lying: the majority's slot is the truth."""
    chain.fault("liar", slot_offset=LIE)
    cfg = endpoints_config(tmp_path, chain, ["liar", "a", "b"])
    pool, text = await health_rounds(cfg)
    assert pool.active.name == "a", "the lying endpoint must not stay (or become) active"
    assert sample(text, "escrow_rpc_up", endpoint="liar") == 0
    assert sample(text, "escrow_rpc_up", endpoint="a") == sample(text, "escrow_rpc_up", endpoint="b") == 1
    # The honest endpoints do not lag; the liar shows how far ahead of the majority it claims to be.
    assert (
        sample(text, "escrow_rpc_slot_lag", endpoint="a")
        == sample(text, "escrow_rpc_slot_lag", endpoint="b")
        == 0
    )
    assert (sample(text, "escrow_rpc_slot_ahead", endpoint="liar") or 0) >= LIE
    assert sample(text, "escrow_rpc_slot_ahead", endpoint="a") == 0
    _, metrics = await ingest(cfg)
    assert not diff_totals(expected_totals(truth(chain)), observed_totals(metrics))


async def test_two_endpoints_that_disagree_trust_the_lower_slot(
    tmp_path: Path, chain: ThreadDevchain
) -> None:
    """No majority with two: the lower slot is trusted (a lagging node only delays counting, a
    lying one would freeze it), the higher one is marked down and shows as ahead; and once seen
    ahead, it is not trusted alone when the other endpoint stops answering."""
    chain.fault("liar", slot_offset=LIE)
    cfg = endpoints_config(tmp_path, chain, ["liar", "a"])
    pool, text = await health_rounds(cfg)
    assert pool.active.name == "a"
    assert sample(text, "escrow_rpc_up", endpoint="liar") == 0
    assert (sample(text, "escrow_rpc_slot_ahead", endpoint="liar") or 0) >= LIE
    _, metrics = await ingest(cfg)
    assert not diff_totals(expected_totals(truth(chain)), observed_totals(metrics))

    # The honest endpoint goes down: the liar, alone, is still not trusted; ingestion fails
    # (visible: collector down, lag growing) instead of reading the liar's chain.
    registry = CollectorRegistry()
    config = load_config(cfg)
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(config.solana, session, RpcMetrics(registry))
        (collector,) = [c for c in build_program_collectors(config, pool) if isinstance(c, IngestCollector)]
        try:
            await collector.run_cycle()  # caught up, through the honest endpoint
            chain.fault("a", down=True)
            await pool.check_health()
            text = generate_latest(registry).decode()
            assert sample(text, "escrow_rpc_up", endpoint="liar") == 0
            with pytest.raises(RpcError):
                await pool.call("getSlot", [])
            with pytest.raises(CollectorError):
                await collector.run_cycle()
            ingester = collector.ingester
            assert ingester is not None
            # Ten minutes into this, the lag says ten minutes: the freeze is visible.
            assert ingester.lag_seconds(time.time() + 600) >= 600
        finally:
            await collector.close()


async def test_a_listing_beyond_every_endpoints_slot_is_refused(
    tmp_path: Path, chain: ThreadDevchain
) -> None:
    """The node starts lying between two health rounds: its listing (slots far in the future)
    must not reach the cursor, where it would make every later listing look old (a freeze)."""
    cfg = endpoints_config(tmp_path, chain, ["liar", "a", "b"])
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(load_config(cfg).solana, session, RpcMetrics(CollectorRegistry()))
        await pool.check_health()
        assert pool.active.name == "liar"
        chain.fault("liar", slot_offset=LIE)
        feed = SignatureFeed(pool, str(chain.state()["program_id"]), page_size=1000)
        listed = await feed.newer_than(Cursor(None, None, None))
        assert pool.reference_slot is not None
        assert max(s.slot for s in listed) < pool.reference_slot + LIE // 2, "a lying listing was used"
        assert len(listed) == truth(chain)["transactions"]["success"] + truth(chain)["transactions"]["failed"]
        assert pool.active.name != "liar"


# -- 6. replies that are not JSON-RPC in a way a parser chokes on ---------------------------------------


@pytest.mark.parametrize("fault", ["deep_json", "array_ids"])
async def test_unparseable_replies_fail_over_and_mark_the_endpoint_down(
    tmp_path: Path, chain: ThreadDevchain, fault: str
) -> None:
    chain.fault("bad", **{fault: True})
    cfg = endpoints_config(tmp_path, chain, ["bad", "good"])
    pool, text = await health_rounds(cfg)  # before the fix: the round itself raised
    assert pool.active.name == "good"
    assert sample(text, "escrow_rpc_up", endpoint="bad") == 0
    assert sample(text, "escrow_rpc_up", endpoint="good") == 1
    assert (
        sample(text, "escrow_rpc_requests_total", endpoint="bad", method="getHealth", outcome="malformed")
        or 0
    ) > 0
    _, metrics = await ingest(cfg)
    assert not diff_totals(expected_totals(truth(chain)), observed_totals(metrics))


async def test_every_reply_failure_is_an_rpc_error(chain: ThreadDevchain) -> None:
    """Whatever breaks while asking one endpoint surfaces as RpcError, the type failover handles."""
    base = chain.node("x").replace("http://", "")
    for fault in ("deep_json", "array_ids"):
        chain.fault("x", **{fault: True})
        async with aiohttp.ClientSession() as session:
            ep = Endpoint(
                EndpointConfig(name="x", url=chain.node("x")), session, RpcMetrics(CollectorRegistry())
            )
            with pytest.raises(RpcMalformed):
                await ep.call("getSlot", [])
            with pytest.raises(RpcMalformed):
                await ep.batch([("getSlot", []), ("getHealth", [])])
    chain.clear_faults()
    # Credentials in the URL *and* an Authorization header (a config check-config refuses, built
    # here without validation): aiohttp raises ValueError, which must not escape as such.
    fields = EndpointConfig(name="y", url=chain.node("y")).model_dump()
    unchecked = EndpointConfig.model_construct(
        **{**fields, "url": f"http://u:pw@{base}", "headers": {"Authorization": "Bearer t"}}
    )
    async with aiohttp.ClientSession() as session:
        ep = Endpoint(unchecked, session, RpcMetrics(CollectorRegistry()))
        with pytest.raises(RpcError) as e:
            await ep.call("getSlot", [])
    assert "pw" not in str(e.value)


def test_check_config_refuses_url_credentials_with_an_authorization_header(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yml"
    cfg.write_text(
        "solana:\n  endpoints:\n    - name: p\n      url: http://user:S3CRET@127.0.0.1:1/\n"
        "      headers: {authorization: Bearer T0KEN}\n"
    )
    result = cli("check-config", "--config", str(cfg))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "solana.endpoints[0]" in out and "headers.authorization" in out and "url" in out
    assert "Traceback" not in out and "S3CRET" not in out and "T0KEN" not in out


# -- 7. a node without the transaction, or with a listing that is not a list -----------------------------


@pytest.mark.parametrize("fault", ["null_transactions", "history_unavailable", "bad_listing"])
async def test_missing_transactions_and_bad_listings_fail_over(
    tmp_path: Path, chain: ThreadDevchain, fault: str
) -> None:
    """The preferred node answers every getTransaction with null or -32011, or lists signatures
    in an object: ingestion gets them from the other node, in the same cycle, and the bad node
    stops being the active one."""
    chain.fault("bad", **{fault: True})
    cfg = endpoints_config(tmp_path, chain, ["bad", "good"])

    def keep(pool: RpcPool) -> RpcPool:
        kept.append(pool)
        return pool

    kept: list[RpcPool] = []
    _, text = await ingest(cfg, wrap=keep)
    problems = diff_totals(expected_totals(truth(chain)), observed_totals(text))
    assert not problems, "\n".join(problems)
    assert kept[0].active.name == "good", "the node lacking data must not stay active"


async def test_a_transaction_no_node_has_holds_ingestion_there_visibly(
    tmp_path: Path, chain: ThreadDevchain
) -> None:
    """Listed but unavailable everywhere: never skipped; ingestion waits at it and the lag shows it."""
    for node in ("a", "b"):
        chain.fault(node, null_transactions=True)
    cfg = endpoints_config(tmp_path, chain, ["a", "b"])
    collectors, text = await ingest(cfg)
    seen = observed_totals(text)
    assert seen.get("tx/success", 0) + seen.get("tx/failed", 0) == 0
    ingester = collectors[0].ingester  # type: ignore[attr-defined]
    assert ingester.progress.behind and ingester.progress.pending > 0
    assert ingester.lag_seconds(time.time()) > 0
    chain.clear_faults()
    _, text = await ingest(cfg)
    assert not diff_totals(expected_totals(truth(chain)), observed_totals(text))


# -- 10. redirects and secrets --------------------------------------------------------------------------

#: Secrets as providers carry them: a path segment, a query value, a header value.
PATH_KEY, QUERY_KEY, HEADER_KEY = "PathKey0a1b2c3d", "QueryKey4e5f6a7b", "HeaderKey8c9d0e1f"


class Capture:
    """A loopback HTTP server on another port (another origin) that records what reaches it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                capture.seen.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"jsonrpc":"2.0","id":1,"result":0}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def secret_config(tmp_path: Path, chain: ThreadDevchain) -> Path:
    endpoints = "".join(
        f"    - name: {name}\n"
        f"      url: {chain.node(node)}?api-key={QUERY_KEY}\n"
        f"      headers: {{X-Api-Key: {HEADER_KEY}}}\n"
        "      timeout_seconds: 3\n      max_retries: 1\n"
        for name, node in (("keyed", PATH_KEY), ("backup", "backup"))
    )
    cfg = tmp_path / "c.yml"
    cfg.write_text(
        f"solana:\n  endpoints:\n{endpoints}  health_interval_seconds: 0.3\n  failover_after_errors: 1\n"
        f"  failback_after_seconds: 1\nstate:\n  path: {tmp_path / 's.sqlite'}\n"
        + program_yaml(accounts=False)
    )
    return cfg


def test_redirects_are_refused_and_secrets_never_logged(tmp_path: Path, chain: ThreadDevchain) -> None:
    capture = Capture()
    proc = ExporterProcess(secret_config(tmp_path, chain))
    try:
        proc.wait_up("/-/ready", timeout=30)
        failovers = sample(proc.metrics(), "escrow_rpc_failovers_total") or 0
        chain.fault(PATH_KEY, redirect=capture.url)
        wait_until(
            lambda: (sample(proc.metrics(), "escrow_rpc_failovers_total") or 0) > failovers,
            timeout=15,
            what="failover away from the redirecting endpoint",
        )
        wait_until(
            lambda: sum(
                v
                for n, labels, v in parse_metrics(proc.metrics())
                if n == "escrow_rpc_requests_total" and labels["outcome"] == "redirected"
            ),
            timeout=10,
            what="redirects counted",
        )
        assert "redirect refused" in proc.log()
        assert capture.seen == [], "a JSON-RPC request (key headers, body) reached another origin"

        chain.clear_faults()
        wait_until(
            lambda: sample(proc.metrics(), "escrow_rpc_up", endpoint="keyed") == 1,
            timeout=15,
            what="keyed up",
        )
        chain.fault(PATH_KEY, echo_secrets=True)
        wait_until(
            lambda: "Internal error serving" in proc.log(), timeout=15, what="the echoing error logged"
        )
        wait_until(
            lambda: sample(proc.metrics(), "escrow_rpc_up", endpoint="keyed") == 0,
            timeout=15,
            what="keyed down",
        )
        chain.clear_faults()
        log, text = proc.log(), proc.metrics()
        assert "<redacted>" in log, "the echoed request was not redacted (or not logged at all)"
        for secret in (PATH_KEY, QUERY_KEY, HEADER_KEY, chain.node(PATH_KEY)):
            assert secret not in log, f"{secret} in the log"
            assert secret not in text, f"{secret} in /metrics"
        assert not diff_totals(expected_totals(truth(chain)), observed_totals(text))
    finally:
        proc.stop()
        capture.close()


def test_redactor_removes_keys_wherever_providers_put_them() -> None:
    configs = [
        EndpointConfig(name="a", url="https://mainnet.example-rpc.com/v2/AbCdEf0123456789"),
        EndpointConfig(name="b", url="https://u:pa%24%24word@rpc.example.net/?api-key=k3y-0000-1111&x=1"),
        EndpointConfig(
            name="c", url="https://rpc.example.org/", headers={"Authorization": "Bearer tok.en.123456"}
        ),
    ]
    redact = Redactor(configs)
    echoed = (
        "bad request to https://mainnet.example-rpc.com/v2/AbCdEf0123456789 (key AbCdEf0123456789), "
        "api-key=k3y-0000-1111, password pa$$word, header {'Authorization': 'Bearer tok.en.123456'}, "
        "token tok.en.123456 alone; path v2 and host rpc.example.net stay"
    )
    out = redact(echoed)
    for secret in ("AbCdEf0123456789", "k3y-0000-1111", "pa$$word", "tok.en.123456"):
        assert secret not in out
    assert "path v2 and host rpc.example.net stay" in out


async def test_a_lagging_backup_never_makes_the_preferred_endpoint_look_ahead(
    tmp_path: Path, chain: ThreadDevchain
) -> None:
    """An ordinary day with two providers: the backup trails by more than max_slot_lag while its
    getHealth still says ok. The backup is the lagging one; the preferred endpoint stays active
    and up, and is never reported ahead (that would page EscrowRpcEndpointDown for a good node)."""
    chain.fault("backup", slot_offset=-200)
    cfg = endpoints_config(tmp_path, chain, ["a", "backup"])
    pool, text = await health_rounds(cfg)
    assert pool.active.name == "a"
    assert sample(text, "escrow_rpc_up", endpoint="a") == 1
    assert sample(text, "escrow_rpc_up", endpoint="backup") == 0
    assert sample(text, "escrow_rpc_slot_ahead", endpoint="a") == 0
    assert (sample(text, "escrow_rpc_slot_lag", endpoint="backup") or 0) >= 200
