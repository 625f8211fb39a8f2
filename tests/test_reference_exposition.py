"""The reference config (examples/config.yml) against a seeded simulator that has produced a fixed
history (``Chain.step(HISTORY)``: matches created, joined, settled, failed transactions, a
withdrawal) and then holds still (no traffic generator), served in this process: the balances
served equal the simulator's ground truth (``GET /_state``), and the exposition's shape equals the
golden file.

The golden file, tests/golden/reference_exposition.txt, keeps every family's ``# HELP`` and
``# TYPE`` lines and, per sample name, the sorted label names; values and label values are left
out (timestamps, durations and RPC latency buckets differ between runs). It catches a renamed or
removed metric, a changed HELP text or type, and a label added or dropped. After an intended
change, regenerate it and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/test_reference_exposition.py
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from devchain.chain import Chain
from devchain.ledger import attach
from devchain.server import DevchainServer
from tests.support.devchain_proc import DevchainClient
from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.support.stack import example_config
from tests.support.util import free_port

GOLDEN = Path(__file__).resolve().parent / "golden" / "reference_exposition.txt"
SEED = 7
#: Transactions produced before the exporter starts; then the chain holds still.
HISTORY = 60
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+(?: \S+)?$")
LABEL_NAME = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"')


class StillDevchain(DevchainClient):
    """The simulator in a thread of this process, after ``HISTORY`` seeded transactions, with no
    traffic generator: the same history, balances and ledger on every run."""

    def __init__(self, tmp: Path) -> None:
        chain = Chain(seed=SEED)
        self.ledger = attach(chain, tmp / "ledger.sqlite")
        chain.step(HISTORY)
        self.ledger.flush()
        self.port = free_port()
        self.runner = web.AppRunner(DevchainServer(chain, tps=0, ledger=self.ledger).app(), access_log=None)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()
        self.ledger.close()


@pytest.fixture(scope="module")
def still_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StillDevchain, ExporterProcess]]:
    tmp = tmp_path_factory.mktemp("reference")
    chain = StillDevchain(tmp)
    proc: ExporterProcess | None = None
    try:
        proc = ExporterProcess(example_config(tmp, chain.url))
        proc.wait_up("/-/ready", timeout=60)
        wait_until(lambda: _all_collectors_up(proc.metrics()), timeout=60, what="every collector up")
        wait_until(
            lambda: _ingested(proc.metrics()) == HISTORY, timeout=60, what="the whole history ingested"
        )
        yield chain, proc
    finally:
        if proc is not None:
            proc.stop()
        chain.stop()


def _all_collectors_up(text: str) -> bool:
    ups = re.findall(r'^escrow_exporter_collector_up\{collector="[^"]+"\} (\S+)$', text, flags=re.M)
    return bool(ups) and all(float(v) == 1 for v in ups)


def _ingested(text: str) -> float:
    return sum(
        sample(text, "escrow_transactions_total", program="paid_match", status=status) or 0
        for status in ("success", "failed")
    )


def test_balances_match_chain(still_chain: tuple[StillDevchain, ExporterProcess]) -> None:
    chain, proc = still_chain
    truth = chain.state()["balances"]
    text = proc.metrics()
    served = {}
    for account, want in truth.items():
        served[account] = sample(text, "escrow_account_balance", account=account, mint=want["mint"])
    expected = {account: want["raw"] / 10 ** want["decimals"] for account, want in truth.items()}
    assert served == pytest.approx(expected, rel=1e-12, abs=0)
    # the history moved every balance off its genesis value, so a stale read would not pass
    assert all(want["raw"] != want["genesis_raw"] for name, want in truth.items() if name != "fee_usdc"), (
        truth
    )


def test_transaction_fees_are_whole_sol(still_chain: tuple[StillDevchain, ExporterProcess]) -> None:
    """Fees are served in SOL like every other amount: the simulator's exact lamport total / 10^9,
    and no family is served in lamports (raw units only where a name says ``_raw``)."""
    chain, proc = still_chain
    lamports = chain.state()["fees_lamports"]
    text = proc.metrics()
    assert lamports > 0
    assert sample(text, "escrow_transaction_fees_sol_total", program="paid_match") == lamports / 10**9
    assert not re.findall(r"^# TYPE (\S*lamports\S*)", text, flags=re.M)


def exposition_shape(text: str) -> str:
    """HELP and TYPE lines as served, then each sample name with its sorted label names."""
    out: list[str] = []
    labels: dict[str, set[str]] = {}
    order: list[str] = []
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            out += [f"{name} {{{','.join(sorted(labels[name]))}}}" for name in order]
            labels, order = {}, []
            out.append(line)
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        name = m.group(1)
        if name not in labels:
            labels[name] = set()
            order.append(name)
        labels[name] |= set(LABEL_NAME.findall(m.group(2) or ""))
    out += [f"{name} {{{','.join(sorted(labels[name]))}}}" for name in order]
    return "\n".join(out) + "\n"


def test_exposition_matches_golden(still_chain: tuple[StillDevchain, ExporterProcess]) -> None:
    _, proc = still_chain
    shape = exposition_shape(proc.metrics())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(shape)
    want = GOLDEN.read_text()
    diff = "".join(
        difflib.unified_diff(want.splitlines(True), shape.splitlines(True), "golden", "served", n=1)
    )
    assert shape == want, (
        f"the served metrics changed shape (if intended: UPDATE_GOLDEN=1, review the diff):\n{diff}"
    )


def test_golden_shape_catches_a_renamed_metric_a_new_label_and_a_changed_help() -> None:
    """The normalisation keeps exactly what the golden file is meant to guard."""
    served = (
        '# HELP escrow_x Help.\n# TYPE escrow_x gauge\nescrow_x{a="1",b="2"} 3.0\nescrow_x{a="2",b="3"} 4.5\n'
    )
    assert exposition_shape(served) == "# HELP escrow_x Help.\n# TYPE escrow_x gauge\nescrow_x {a,b}\n"
    base = exposition_shape(served)
    assert exposition_shape(served.replace("3.0", "9.0").replace('a="2"', 'a="7"')) == base
    assert exposition_shape(served.replace("escrow_x", "escrow_y")) != base
    assert exposition_shape(served.replace("Help.", "Other help.")) != base
    assert exposition_shape(served.replace('b="3"', 'b="3",c="x"')) != base
