"""Client certificates over real TLS: each exporter-toolkit ``client_auth_type`` lets in the
clients Go's ``crypto/tls`` would (certificates made with the openssl CLI), and a TLS handshake
that never completes is cut off at the header timeout."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.support.http_client import get

CONFIG = """\
solana:
  endpoints:
    - {name: nowhere, url: "http://127.0.0.1:1", timeout_seconds: 1, max_retries: 0}
"""


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _key_and_csr(d: Path, name: str) -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={name}",
        "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
    )  # fmt: skip


def _ca(d: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.crt"),
    )  # fmt: skip


def _leaf(d: Path, name: str, ca: str, extensions: str) -> None:
    _key_and_csr(d, name)
    (d / f"{name}.ext").write_text(extensions + "\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl(
        "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{ca}.crt"), "-CAkey", str(d / f"{ca}.key"),
        "-CAcreateserial", "-days", "2", "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.crt"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ca`` signs the server and ``client``; ``other_ca`` signs ``stranger``; ``rogue`` is self-signed."""
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "ca")
    _ca(d, "other_ca")
    _ca(d, "rogue")
    _leaf(d, "server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    _leaf(d, "client", "ca", "extendedKeyUsage=clientAuth")
    _leaf(d, "stranger", "other_ca", "extendedKeyUsage=clientAuth")
    return d


def _status(port: int, pki: Path, cert: str | None) -> int | None:
    """``/-/healthy`` over TLS presenting ``cert`` (None: no certificate); None if refused."""
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert:
        ctx.load_cert_chain(pki / f"{cert}.crt", pki / f"{cert}.key")
    try:
        return get(f"https://127.0.0.1:{port}/-/healthy", ctx=ctx)[0]
    except (urllib.error.URLError, ConnectionError, ssl.SSLError):
        return None


@pytest.fixture
def serve_tls(tmp_path: Path, pki: Path) -> Iterator[object]:
    started: list[ExporterProcess] = []

    def start(mode: str, ca: bool, *flags: str) -> ExporterProcess:
        web = tmp_path / "web.yml"
        web.write_text(
            f"tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/server.key\n"
            f"  client_auth_type: {mode}\n" + (f"  client_ca_file: {pki}/ca.crt\n" if ca else "")
        )
        cfg = tmp_path / "config.yml"
        cfg.write_text(CONFIG)
        proc = ExporterProcess(cfg, "--web.config.file", str(web), *flags)
        started.append(proc)
        wait_until(lambda: "listening" in proc.log() or proc.proc.poll() is not None, what="the TLS listener")
        assert proc.proc.poll() is None, proc.log()
        return proc

    yield start
    for proc in started:
        proc.stop()


# Who is served, as Go's crypto/tls decides for each tls.ClientAuthType: RequestClientCert asks
# and never checks; the Verify modes check against client_ca_file only.
CASES = {
    "NoClientCert": (False, {None: 200, "client": 200, "stranger": 200, "rogue": 200}),
    "RequestClientCert": (True, {None: 200, "client": 200, "stranger": 200, "rogue": 200}),
    "VerifyClientCertIfGiven": (True, {None: 200, "client": 200, "stranger": None, "rogue": None}),
    "RequireAndVerifyClientCert": (True, {None: None, "client": 200, "stranger": None, "rogue": None}),
}


@pytest.mark.parametrize("mode", list(CASES))
def test_client_auth_types_serve_whom_exporter_toolkit_serves(
    serve_tls: object, pki: Path, mode: str
) -> None:
    with_ca, expected = CASES[mode]
    proc = serve_tls(mode, with_ca)  # type: ignore[operator]
    got = {cert: _status(proc.port, pki, cert) for cert in expected}
    assert got == expected


def test_a_tls_handshake_that_never_completes_is_cut_off(serve_tls: object, pki: Path) -> None:
    proc = serve_tls("NoClientCert", False, "--web.header-timeout", "1")  # type: ignore[operator]
    with socket.create_connection(("127.0.0.1", proc.port), timeout=30) as s:
        deadline = time.monotonic() + 30
        closed = False
        while not closed and time.monotonic() < deadline:  # bound only against a server that never closes
            try:
                closed = s.recv(1024) == b""
            except ConnectionResetError:
                closed = True
        assert closed
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    text = get(f"https://127.0.0.1:{proc.port}/metrics", ctx=ctx)[2].decode()
    assert (sample(text, "escrow_exporter_http_connections_closed_total", reason="tls_handshake") or 0) >= 1
