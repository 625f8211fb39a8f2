"""The example config (what `make run` serves) against the simulator: every collector up,
every metric documented in docs/metrics.md, output valid for promtool."""

from __future__ import annotations

import re
import subprocess
import urllib.request
import zlib
from collections.abc import Iterator

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import ExporterProcess, wait_until
from tests.support.stack import example_config
from tests.support.util import ROOT

DOC = ROOT / "docs" / "metrics.md"


def documented_metrics() -> set[str]:
    return set(re.findall(r"^\| `([a-z_:]+)`", DOC.read_text(), flags=re.M))


def served_families(text: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", text, flags=re.M))


def family_doc_name(name: str, kind: str) -> str:
    return name + "_total" if kind == "counter" and not name.endswith("_total") else name


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Devchain, ExporterProcess]]:
    tmp = tmp_path_factory.mktemp("full")
    chain = Devchain(tmp, seed=7, tps=10, extra=("--ledger-db", str(tmp / "ledger.sqlite")))
    config = example_config(tmp, chain.url)
    proc = ExporterProcess(config)
    try:
        proc.wait_up("/-/ready", timeout=60)
        yield chain, proc
    finally:
        proc.stop()
        chain.stop()


def test_every_collector_up(running: tuple[Devchain, ExporterProcess]) -> None:
    _, proc = running
    wait_until(
        lambda: (
            all(v == 1 for v in _collector_up(proc.metrics()).values())
            and len(_collector_up(proc.metrics())) >= 1
        ),
        timeout=30,
        what="all collectors up",
    )


def _collector_up(text: str) -> dict[str, float]:
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^escrow_exporter_collector_up\{collector="([^"]+)"\} (\S+)$', text, flags=re.M)
    }


def test_every_served_metric_is_documented(running: tuple[Devchain, ExporterProcess]) -> None:
    _, proc = running
    text = proc.metrics()
    kinds = dict(re.findall(r"^# TYPE (\S+) (\S+)", text, flags=re.M))
    served = {family_doc_name(n, k) for n, k in kinds.items()}
    missing = sorted(served - documented_metrics())
    assert not missing, f"served but not in docs/metrics.md: {missing}"


def test_promtool_accepts_full_output(running: tuple[Devchain, ExporterProcess]) -> None:
    _, proc = running
    r = subprocess.run(["promtool", "check", "metrics"], input=proc.metrics(), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_openmetrics_and_gzip_serve_the_same_families_once(running: tuple[Devchain, ExporterProcess]) -> None:
    """Served from snapshots: each family once (HELP/TYPE once), one # EOF, gzip as one member."""
    _, proc = running
    request = urllib.request.Request(
        proc.url + "/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        one_member = zlib.decompressobj(wbits=31)
        om = one_member.decompress(r.read()).decode()
        assert one_member.eof and not one_member.unused_data
    names = [f.name for f in parse_openmetrics(om)]  # strict: a family split in two raises here
    assert len(names) == len(set(names)) and om.endswith("# EOF\n") and om.count("# EOF") == 1
    text_names = {re.sub(r"_total$", "", n) for n in served_families(proc.metrics())}
    assert set(names) == text_names
