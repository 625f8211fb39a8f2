"""The whole monitoring stack on loopback, for end-to-end tests.

simulator (tests/support/devchain_proc.py) -> exporter with the example config (tests/support/exporter_proc.py)
-> a real Prometheus with the repository's rules -> a real Alertmanager with the repository's
routes, inhibitions and templates -> the webhook receivers (tests/support/receivers.py).

Production ``for:`` durations are minutes; here they are *time-compressed* by one factor
(``for_scale``) instead of all being set to the same value, so the order in which alerts become
firing stays the production order. That order matters: inhibitions rely on the cause (e.g. the
1m ``EscrowRpcOutage``) firing before its symptoms (the 5m ``EscrowRpcEndpointDown``), and the
10m ``EscrowBalanceMismatch`` (the time-based fallback, quiet where exact reconciliation runs)
relies on outlasting the moment between a transfer and its ledger write.

    with E2EStack.start(tmp_path) as stack:
        stack.chain.fault("a", down=True)
        stack.rx.wait_for(lambda: stack.rx.find("pagerduty", "EscrowRpcOutage"))
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bundle import amconfig
from exporter.config.programs import ProgramConfig
from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import ExporterProcess
from tests.support.prom_stack import RULES_DIR, PromStack
from tests.support.receivers import Receivers
from tests.support.util import ROOT

EXAMPLES = ROOT / "examples"
#: PagerDuty Events v2 routing keys, one per service (file name in alertmanager.yml -> key).
PD_HIGH_URGENCY = "pd-high-urgency-key-0000000000000"
PD_LOW_URGENCY = "pd-low-urgency-key-00000000000000"
PAGERDUTY_KEYS = {"pagerduty_high_urgency_key": PD_HIGH_URGENCY, "pagerduty_low_urgency_key": PD_LOW_URGENCY}
EXPORTER_JOB = "escrow-exporter"

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float:
    """A Prometheus duration (``1m``, ``1h30m``, ``0s``) in seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def example_config(
    tmp: Path,
    chain_url: str,
    *,
    endpoints: dict[str, str] | None = None,
    interval_seconds: float | None = None,
) -> Path:
    """``examples/config.yml`` pointed at this run's simulator, ledger and state file (both in
    ``tmp``). ``endpoints`` (name -> URL) replaces the single demo endpoint; ``interval_seconds``
    shortens every polling interval (RPC health, balances, SQL queries, programs) for tests that
    watch metrics change. Returns the path of the written config."""
    for src in EXAMPLES.glob("*.yml"):
        shutil.copy(src, tmp / src.name)
    text = (tmp / "config.yml").read_text()
    text = text.replace("http://${DEVCHAIN_LISTEN:-127.0.0.1:8899}", chain_url)
    text = text.replace("../var/ledger.sqlite", str(tmp / "ledger.sqlite"))
    text = text.replace("../var/state.sqlite", str(tmp / "state.sqlite"))
    text = re.sub(r"(idl: *)(\S*idls/)", lambda m: m.group(1) + str(ROOT / "idls") + "/", text)
    if endpoints is not None or interval_seconds is not None:
        cfg = yaml.safe_load(text)
        if endpoints is not None:
            cfg["solana"]["endpoints"] = [{"name": n, "url": u} for n, u in endpoints.items()]
        if interval_seconds is not None:
            _shorten_intervals(cfg, interval_seconds)
        text = yaml.safe_dump(cfg, sort_keys=False, width=10_000)
    path = tmp / "config.yml"
    path.write_text(text)
    return path


def _shorten_intervals(cfg: dict[str, Any], seconds: float) -> None:
    solana = cfg["solana"]
    solana["health_interval_seconds"] = seconds
    # A dead node must be noticed within a health round, not after the 10s default timeout.
    for ep in solana["endpoints"]:
        ep["timeout_seconds"] = max(2.0, seconds)
    if "balances" in cfg:
        cfg["balances"]["interval_seconds"] = seconds
    for q in cfg.get("sql", {}).get("queries", []):
        q["interval_seconds"] = seconds
    for p in cfg.get("programs", []):
        p["interval_seconds"] = seconds
        p.setdefault("accounts", {})["interval_seconds"] = seconds
    if "reconciliation" in cfg:
        # Not below 5 s: each cycle waits ledger_settle_seconds (10 s, kept: the demo ledger's
        # writer can trail the chain by seconds on a loaded machine) before reading the books.
        cfg["reconciliation"]["interval_seconds"] = max(5.0, seconds)


#: Compressed ``for:`` floors (seconds). The mismatch alert's 10m must outlast the moment the
#: books trail the chain; the simulator's ledger writer trails by up to ~20 s while a
#: 150-withdrawal spike is written on a loaded 2-core machine, which 10m/30 = 20 s would page on.
#: The RPC error and latency alerts also require the last minute over their threshold (real
#: time, not compressed): a compressed 10m (20 s) would fire on an ended outage's last minute
#: once the outage's compressed keep_firing_for stopped muting them.
FOR_FLOOR_SECONDS = {"EscrowBalanceMismatch": 45, "EscrowRpcErrorRatio": 90, "EscrowRpcLatencyHigh": 90}


def compress_for(rules_yaml: str, scale: float) -> str:
    """Every alert's ``for:`` divided by ``scale`` (at least 1s when it was non-zero, and at least
    its ``FOR_FLOOR_SECONDS``)."""
    doc = yaml.safe_load(rules_yaml)
    for group in doc["groups"]:
        for rule in group["rules"]:
            for key in ("for", "keep_firing_for"):
                if "alert" in rule and key in rule:
                    seconds = duration_seconds(rule[key])
                    floor = FOR_FLOOR_SECONDS.get(rule["alert"], 1) if key == "for" else 1
                    rule[key] = f"{max(floor, round(seconds / scale))}s" if seconds else "0s"
    return yaml.safe_dump(doc, sort_keys=False, width=10_000)


class ScaledPromStack(PromStack):
    """PromStack whose rules keep their relative ``for:`` order (see the module docstring).

    Alertmanager runs with 1s timings, except that the tiers nobody is paged for (medium, low)
    keep their production ``group_interval``: a group is re-examined only that often, so an
    alert muted while its cause fired is not sent in the second between the cause resolving
    and the alert itself resolving (its cause's recovery is seen first, e.g. RPC health before
    the next collector cycle). In production that window is one scrape interval against a
    10-minute group_interval; compressed to 1s it would be a coin flip. Their first
    notification still comes after the 1s group_wait.
    """

    def __init__(
        self,
        *args: Any,
        for_scale: float = 30.0,
        production_group_interval: tuple[str, ...] = ("slack-medium", "slack-low-digest"),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.for_scale = for_scale
        self.production_group_interval = production_group_interval

    def alertmanager_config(self) -> dict[str, Any]:
        cfg = super().alertmanager_config()
        production = {r["receiver"]: r for r in amconfig.load()["route"]["routes"]}
        for route in cfg["route"]["routes"]:
            if route["receiver"] in self.production_group_interval:
                route["group_interval"] = production[route["receiver"]]["group_interval"]
        return cfg

    def _rule_files(self) -> list[str]:
        rules_dir = self.workdir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for src in sorted(RULES_DIR.glob("*.yml")):
            dst = rules_dir / src.name
            dst.write_text(compress_for(src.read_text(), self.for_scale))
            files.append(str(dst))
        return files


@dataclass
class E2EStack:
    chain: Devchain
    exporter: ExporterProcess
    prom: ScaledPromStack
    rx: Receivers
    #: The RPC node names the exporter uses (``/node/<name>`` on the simulator).
    nodes: tuple[str, ...]

    @property
    def exporter_instance(self) -> str:
        """The ``instance`` label Prometheus gives the exporter (a PagerDuty event's source)."""
        return f"127.0.0.1:{self.exporter.port}"

    def logs(self) -> str:
        """Everything worth reading when an assertion fails."""
        # The exporter runs at debug level; aiosqlite's per-operation lines would hide the rest.
        exporter_lines = [ln for ln in self.exporter.log().splitlines() if "logger=aiosqlite" not in ln]
        return (
            self.prom.logs()
            + "\n--- exporter (tail) ---\n"
            + "\n".join(exporter_lines[-30:])
            + "\n--- devchain (tail) ---\n"
            + "\n".join(self.chain.log_path.read_text(errors="replace").splitlines()[-15:])
        )

    @classmethod
    @contextmanager
    def start(
        cls,
        tmp: Path,
        *,
        seed: int = 7,
        tps: float = 3,
        nodes: tuple[str, ...] = ("a", "b"),
        interval_seconds: float = 1.0,
        for_scale: float = 30.0,
    ) -> Iterator[E2EStack]:
        """Start everything, exporter ready before Prometheus scrapes it; stop it all on exit."""
        with ExitStack() as stack:
            chain = Devchain(tmp, seed=seed, tps=tps, extra=("--ledger-db", str(tmp / "ledger.sqlite")))
            stack.callback(chain.stop)
            config = example_config(
                tmp,
                chain.url,
                endpoints={n: chain.node(n) for n in nodes},
                interval_seconds=interval_seconds,
            )
            exporter = ExporterProcess(config)
            stack.callback(exporter.stop)
            exporter.wait_up("/-/ready", timeout=60)
            rx = stack.enter_context(Receivers(routing_keys={PD_HIGH_URGENCY, PD_LOW_URGENCY}))
            prom = ScaledPromStack(
                tmp / "prom",
                rx,
                {EXPORTER_JOB: [f"127.0.0.1:{exporter.port}"]},
                for_scale=for_scale,
                pagerduty_keys=PAGERDUTY_KEYS,
            )
            stack.enter_context(prom)
            yield cls(chain, exporter, prom, rx, nodes)


def example_program() -> ProgramConfig:
    """The example config's first program, its IDL path resolved (the config check passed)."""
    cfg = yaml.safe_load((ROOT / "examples" / "config.yml").read_text())
    p = cfg["programs"][0]
    p["idl"] = str(ROOT / "idls" / "paid_match.json")
    return ProgramConfig.model_validate(p)
