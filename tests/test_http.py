"""HTTP surface of the real exporter process: readiness, formats, TLS, basic auth, promtool."""

from __future__ import annotations

import base64
import gzip
import signal
import socket
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.support.http_client import (
    get,
)

CONFIG = """\
solana:
  endpoints:
    - {{name: silent, url: "http://127.0.0.1:{port}/?api-key=TOPSECRET", timeout_seconds: 2, max_retries: 0}}
balances:
  interval_seconds: 1
  accounts:
    - {{name: escrow_sol, address: "11111111111111111111111111111111"}}
"""


@pytest.fixture
def silent_rpc() -> Iterator[int]:
    """A provider that accepts connections and never answers: every request times out."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


@pytest.fixture
def exporter(tmp_path: Path, silent_rpc: int) -> Iterator[ExporterProcess]:
    cfg = tmp_path / "config.yml"
    cfg.write_text(CONFIG.format(port=silent_rpc))
    proc = ExporterProcess(cfg)
    proc.wait_up()
    yield proc
    proc.stop()


def test_ready_only_after_first_cycle_and_scrape_survives_dead_source(exporter: ExporterProcess) -> None:
    status, _, body = get(exporter.url + "/-/ready")
    assert status == 503, "ready before the balances collector finished its first cycle"
    wait_until(lambda: get(exporter.url + "/-/ready")[0] == 200, timeout=20, what="readiness")
    text = exporter.metrics()
    assert sample(text, "escrow_exporter_collector_up", collector="balances") == 0
    assert (
        sample(text, "escrow_exporter_collector_errors_total", collector="balances", reason="rpc_unavailable")
        or 0
    ) >= 1
    # A dead source is "down", never a zero balance.
    assert sample(text, "escrow_account_balance", account="escrow_sol") is None
    assert sample(text, "escrow_exporter_build_info") == 1
    assert "TOPSECRET" not in text and "TOPSECRET" not in exporter.log()
    assert "silent" in exporter.log()  # the endpoint is named by its name


def test_formats_gzip_openmetrics_and_landing(exporter: ExporterProcess) -> None:
    status, headers, body = get(exporter.url + "/metrics", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert b"# HELP escrow_exporter_build_info" in gzip.decompress(body)
    status, headers, body = get(
        exporter.url + "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")
    status, _, body = get(exporter.url + "/")
    assert status == 200 and b'href="/metrics"' in body and b"0.1.0" in body
    assert get(exporter.url + "/-/healthy")[0] == 200


def test_promtool_check_metrics(exporter: ExporterProcess) -> None:
    wait_until(lambda: get(exporter.url + "/-/ready")[0] == 200, timeout=20, what="readiness")
    text = exporter.metrics()
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _self_signed(tmp_path: Path) -> None:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(tmp_path / "server.key"),
            "-out",
            str(tmp_path / "server.crt"),
        ],
        check=True,
        capture_output=True,
    )


def test_tls_basic_auth_and_security_headers(tmp_path: Path, silent_rpc: int) -> None:
    _self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"hunter2", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '{hashed}'\n"
        "http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n"
        "    X-Content-Type-Options: nosniff\n"
    )
    hsts = {"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff"}
    cfg = tmp_path / "config.yml"
    cfg.write_text(CONFIG.format(port=silent_rpc))
    proc = ExporterProcess(cfg, "--web.config.file", str(web))
    try:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "server.crt"))
        url = f"https://127.0.0.1:{proc.port}/metrics"
        wait_until(lambda: _tls_status(url, ctx) is not None, timeout=20, what="TLS listener")
        status, headers, _ = get(url, ctx=ctx)
        # The configured headers are on every answer, the refusal included.
        assert status == 401 and hsts.items() <= headers.items()
        bad = "Basic " + base64.b64encode(b"prometheus:wrong").decode()
        assert get(url, {"Authorization": bad}, ctx=ctx)[0] == 401
        good = "Basic " + base64.b64encode(b"prometheus:hunter2").decode()
        status, headers, body = get(url, {"Authorization": good}, ctx=ctx)
        assert status == 200 and b"escrow_exporter_build_info" in body
        assert hsts.items() <= headers.items()
        with pytest.raises(
            (urllib.error.URLError, ConnectionError)
        ):  # plain HTTP is not served on a TLS port
            urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/metrics", timeout=5).read()
    finally:
        proc.stop()


def _tls_status(url: str, ctx: ssl.SSLContext) -> int | None:
    try:
        return get(url, ctx=ctx)[0]
    except (urllib.error.URLError, ConnectionError, ssl.SSLError):
        return None


def test_bad_web_config_is_a_clear_error(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        "basic_auth_users:\n  alice: plaintext\ntls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n  extra: 1\n"
    )
    cfg = tmp_path / "config.yml"
    cfg.write_text(CONFIG.format(port=1))
    proc = ExporterProcess(cfg, "--web.config.file", str(web))
    assert proc.proc.wait(20) == 2
    proc.stop()
    out = proc.log()
    assert "tls_server_config.extra" in out and "Traceback" not in out


def test_sighup_is_logged_and_ignored_and_sigterm_stops_cleanly(exporter: ExporterProcess) -> None:
    # Prometheus-world tooling sends SIGHUP to reload: it must not kill the exporter silently.
    exporter.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP received" in exporter.log(), timeout=10, what="the SIGHUP log line")
    assert exporter.proc.poll() is None
    assert get(exporter.url + "/-/healthy")[0] == 200
    exporter.proc.send_signal(signal.SIGTERM)
    assert exporter.proc.wait(15) == 0
    assert "shutting down" in exporter.log()


def test_malformed_requests_are_answered_400_without_an_error_log(exporter: ExporterProcess) -> None:
    for raw in (
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", exporter.port), timeout=5) as s:
            s.sendall(raw)
            assert s.recv(64).split(b"\r\n")[0].endswith(b" 400 Bad Request"), raw
    assert get(exporter.url + "/-/healthy")[0] == 200
    # A scanner's garbage is the client's error: nothing at level=error in our log.
    assert "level=error" not in exporter.log(), exporter.log()
