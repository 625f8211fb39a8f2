"""The ingestion source key (issue 15): ``source: poll | logs`` per program, ``ws_url`` per
endpoint, and ``commitment: processed`` refused, each mistake reported at its file, line and key."""

from __future__ import annotations

from pathlib import Path

from exporter.config import load_config
from tests.support.util import ROOT, config_problems, write_dedented

IDL = ROOT / "idls" / "paid_match.json"


def _config(tmp_path: Path, endpoint: str = "", program: str = "", solana: str = "") -> Path:
    return write_dedented(
        tmp_path,
        "c.yml",
        f'solana:\n  endpoints: [{{name: a, url: "https://rpc.example.com/k/SECRET"{endpoint}}}]\n{solana}'
        f"programs:\n  - name: p\n    idl: {IDL}\n{program}",
    )


def test_poll_stays_the_default_and_counts_fees(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path))
    program = cfg.programs[0]
    assert (program.source, program.counts_fees) == ("poll", True)


def test_logs_derives_the_websocket_url_and_leaves_fees_out_unless_asked(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, program="    source: logs\n"))
    assert cfg.programs[0].source == "logs" and not cfg.programs[0].counts_fees
    assert cfg.solana is not None
    assert cfg.solana.endpoints[0].websocket_url() == "wss://rpc.example.com/k/SECRET"
    cfg = load_config(
        _config(
            tmp_path, endpoint=', ws_url: "ws://127.0.0.1:8900"', program="    source: logs\n    fees: true\n"
        )
    )
    assert cfg.programs[0].counts_fees
    assert cfg.solana is not None and cfg.solana.endpoints[0].websocket_url() == "ws://127.0.0.1:8900"


def test_an_unknown_source_a_bad_ws_url_and_processed_are_refused_at_their_lines(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        endpoint=', ws_url: "http://127.0.0.1:8900/SECRET"',
        solana="  commitment: processed\n",
        program="    source: logsubscribe\n",
    )
    out = config_problems(load_config, path)
    assert out == [
        f"{path}:2: solana.endpoints[0].ws_url: must be a ws:// or wss:// URL",
        f"{path}:3: solana.commitment: 'processed' is refused: use confirmed or finalized "
        "(processed can report transactions of a fork that never lands, and exactly-once totals cannot "
        "take a count back)",
        f"{path}:7: programs[0].source: Input should be 'poll' or 'logs'",
    ], out
    assert not any("SECRET" in line for line in out)
