"""``--web.config.file``: every mistake is an error at load naming file, line and key (exit 2),
and ``http_server_config.headers`` reach every response through the middleware."""

from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from exporter.auth import BasicAuth, Verdict
from exporter.webconfig import load_web_config, response_headers_middleware
from tests.support.util import cli, config_problems, write_dedented

HASH = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()


def write(tmp_path: Path, text: str, name: str = "web.yml") -> Path:
    return write_dedented(tmp_path, name, text)


def problems(path: Path) -> list[str]:
    return config_problems(load_web_config, path)


def test_valid_web_config_loads(tmp_path: Path) -> None:
    (tmp_path / "s.crt").write_text("x")
    (tmp_path / "ca.crt").write_text("x")
    path = write(
        tmp_path,
        f"""\
        tls_server_config:
          cert_file: s.crt
          key_file: s.crt
          client_ca_file: ca.crt
          client_auth_type: RequireAndVerifyClientCert
        basic_auth_users:
          alice: "{HASH.replace("$2b$", "$2y$")}"
        http_server_config:
          headers:
            Strict-Transport-Security: max-age=31536000
            X-Frame-Options: deny
            X-Content-Type-Options: nosniff
        """,
    )
    cfg = load_web_config(str(path))
    assert cfg.response_headers["X-Frame-Options"] == "deny"


def test_malformed_bcrypt_hash_is_refused_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, f'basic_auth_users:\n  bob: "{HASH}"\n  alice: $2b$garbage\n')
    assert problems(path) == [
        f"{path}:3: basic_auth_users.alice: not a bcrypt hash (e.g. from htpasswd -nBC 10 USER)"
    ]


def test_client_ca_without_client_verification_is_refused(tmp_path: Path) -> None:
    for name in ("s.crt", "ca.crt"):
        (tmp_path / name).write_text("x")
    path = write(
        tmp_path, "tls_server_config:\n  cert_file: s.crt\n  key_file: s.crt\n  client_ca_file: ca.crt\n"
    )
    out = problems(path)
    assert len(out) == 1
    assert out[0].startswith(
        f"{path}:4: tls_server_config.client_ca_file: client_ca_file is set but client_auth_type "
        "does not verify clients (NoClientCert)"
    )


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "basic_auth_users:\n  alice: [\n")
    out = problems(path)
    assert len(out) == 1 and out[0].startswith(f"{path}:3: invalid YAML: ")


def test_duplicate_key_and_non_utf8(tmp_path: Path) -> None:
    dup = write(tmp_path, f'basic_auth_users:\n  a: "{HASH}"\nbasic_auth_users:\n  b: "{HASH}"\n')
    assert problems(dup) == [
        f"{dup}:3: key 'basic_auth_users' is given twice in one mapping (first on line 1); "
        "YAML would silently keep only the last one"
    ]
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"basic_auth_users:\n  jos\xe9: x\n")
    assert problems(latin) == [f"{latin}: not UTF-8 text: invalid byte 0xe9 on line 2"]


def test_unknown_key_has_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "tls_server_config:\n  cert_file: a\n  key_file: b\n  colour: blue\n")
    assert f"{path}:4: tls_server_config.colour: unknown key" in problems(path)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            "Content-Type: text/html",
            "http_server_config.headers.Content-Type: this header cannot be set (allowed: ",
        ),
        (
            "X-Frame-Options: allow",
            "http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin",
        ),
        (
            "Content-Security-Policy: \"default-src 'self'\\n\"",
            "Content-Security-Policy: the value contains a line break",
        ),
        ('"X Frame": deny', "http_server_config.headers: 'X Frame' is not a valid HTTP header name"),
    ],
)
def test_response_headers_are_validated_as_exporter_toolkit_does(
    tmp_path: Path, headers: str, message: str
) -> None:
    path = write(tmp_path, f"http_server_config:\n  headers:\n    {headers}\n")
    out = problems(path)
    assert len(out) == 1 and message in out[0], out
    assert out[0].startswith(f"{path}:")


def test_run_refuses_a_bad_web_config_with_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yml"
    cfg.write_text('solana:\n  endpoints: [{name: a, url: "http://127.0.0.1:1"}]\n')
    web_cfg = write(tmp_path, "basic_auth_users:\n  alice: $2b$garbage\n")
    r = cli(
        "run", "--config", str(cfg), "--web.config.file", str(web_cfg), "--web.listen-address", "127.0.0.1:1"
    )
    assert r.returncode == 2
    assert "basic_auth_users.alice: not a bcrypt hash" in r.stderr and "Traceback" not in r.stderr


async def test_middleware_sets_headers_on_every_response() -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok", headers={"X-Frame-Options": "sameorigin"})

    async def denied(request: web.Request) -> web.Response:
        return web.Response(status=401, text="Unauthorized\n")

    async def boom(request: web.Request) -> web.Response:
        raise web.HTTPServiceUnavailable()

    headers = {"X-Frame-Options": "deny", "Strict-Transport-Security": "max-age=60"}
    app = web.Application(middlewares=[response_headers_middleware(headers)])
    app.router.add_get("/ok", ok)
    app.router.add_get("/denied", denied)
    app.router.add_get("/boom", boom)
    async with TestClient(TestServer(app)) as client:
        for path, status in (("/ok", 200), ("/denied", 401), ("/boom", 503), ("/missing", 404)):
            resp = await client.get(path)
            assert resp.status == status
            # the configured value wins, as exporter-toolkit's Header().Set does
            assert resp.headers["X-Frame-Options"] == "deny", path
            assert resp.headers["Strict-Transport-Security"] == "max-age=60", path


async def test_basic_auth_with_a_password_longer_than_72_bytes() -> None:
    """bcrypt 5 raises ValueError for such passwords: that was a 500, it is a verdict now."""
    long = "p" * 100
    auth = BasicAuth({"alice": bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(4)).decode()})

    def header(password: str) -> str:
        return "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()

    assert await auth.check(header(long), "client") is Verdict.VERIFIED
    assert await auth.check(header("q" * 100), "client") is Verdict.WRONG


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (
            "RequireAndVerifyClientCert",
            "tls_server_config.client_auth_type: RequireAndVerifyClientCert verifies client certificates "
            "but client_ca_file is not set: every client certificate would be refused",
        ),
        (
            "VerifyClientCertIfGiven",
            "tls_server_config.client_auth_type: VerifyClientCertIfGiven verifies client certificates "
            "but client_ca_file is not set",
        ),
        (
            "RequireAnyClientCert",
            "tls_server_config.client_auth_type: RequireAnyClientCert (any certificate, never verified) "
            "cannot be served",
        ),
    ],
)
def test_client_auth_types_that_would_refuse_everyone_are_refused_at_load(
    tmp_path: Path, mode: str, message: str
) -> None:
    (tmp_path / "s.crt").write_text("x")
    path = write(
        tmp_path, f"tls_server_config:\n  cert_file: s.crt\n  key_file: s.crt\n  client_auth_type: {mode}\n"
    )
    out = problems(path)
    assert len(out) == 1 and out[0].startswith(f"{path}:4: {message}"), out


def test_check_config_checks_the_web_config_too(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yml"
    cfg.write_text('solana:\n  endpoints: [{name: a, url: "http://127.0.0.1:1"}]\n')
    (tmp_path / "s.crt").write_text("not a certificate")
    web_cfg = write(
        tmp_path,
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.crt\n  client_auth_type: RequireAndVerifyClientCert\n",
    )
    r = cli("check-config", "--config", str(cfg), "--web.config.file", str(web_cfg))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{web_cfg}:4: tls_server_config.client_auth_type: RequireAndVerifyClientCert verifies" in r.stderr
    # A web config that loads but whose certificate does not: refused as run would refuse it.
    web_cfg.write_text("tls_server_config:\n  cert_file: s.crt\n  key_file: s.crt\n")
    r = cli("check-config", "--config", str(cfg), "--web.config.file", str(web_cfg))
    assert r.returncode == 2 and f"{web_cfg}: cannot load TLS certificate" in r.stderr, r.stderr
