"""``--web.config.file``: TLS, basic auth and response headers in the format of Prometheus'
exporter-toolkit.

```yaml
tls_server_config: {cert_file: server.crt, key_file: server.key, client_ca_file: ca.crt,
                    client_auth_type: RequireAndVerifyClientCert, min_version: TLS12}
basic_auth_users: {prometheus: $2y$10$...}   # bcrypt hashes
http_server_config:
  headers: {Strict-Transport-Security: max-age=31536000, X-Frame-Options: deny}
```

Errors are reported like the main config's: ``path:line: key.path: problem``, one per line.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

import bcrypt
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import Field, ValidationError

from exporter.auth import bcrypt_hash
from exporter.config.base import Loc, Section, header_problems
from exporter.config.loader import ConfigError, format_problems, load_yaml_file, validation_problems

#: The response headers exporter-toolkit lets a web config set, with their allowed values
#: (None: any value). It refuses every other header, e.g. Content-Type or Content-Encoding,
#: which would break scrapes; a web config valid here stays valid for any Prometheus exporter.
ALLOWED_RESPONSE_HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}


class TlsServerConfig(Section):
    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    client_auth_type: Literal[
        "NoClientCert",
        "RequestClientCert",
        "RequireAnyClientCert",
        "VerifyClientCertIfGiven",
        "RequireAndVerifyClientCert",
    ] = "NoClientCert"
    min_version: Literal["TLS12", "TLS13"] = "TLS12"


class HttpServerConfig(Section):
    #: Set on every response; see ``ALLOWED_RESPONSE_HEADERS``.
    headers: dict[str, str] = Field(default_factory=dict)


class WebConfig(Section):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    http_server_config: HttpServerConfig | None = None

    @property
    def response_headers(self) -> dict[str, str]:
        return dict(self.http_server_config.headers) if self.http_server_config else {}


def load_web_config(path: str) -> WebConfig:
    """Parse and validate; raise ``ConfigError`` listing every problem with its line."""
    raw, lines = load_yaml_file(path, "web config")
    try:
        cfg = WebConfig.model_validate({} if raw is None else raw)
    except ValidationError as e:
        raise ConfigError(path, format_problems(path, lines, validation_problems(e))) from None
    found = _problems(cfg, Path(path).resolve().parent)
    if found:
        raise ConfigError(path, format_problems(path, lines, found))
    return cfg


def _problems(cfg: WebConfig, base: Path) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    for user, hashed in cfg.basic_auth_users.items():
        if not _is_bcrypt(hashed):
            # Accepting it would turn every request into a 500 (the hash cannot be checked).
            found.append((("basic_auth_users", user), "not a bcrypt hash (e.g. from htpasswd -nBC 10 USER)"))
    tls = cfg.tls_server_config
    if tls:
        for key in ("cert_file", "key_file", "client_ca_file"):
            value = getattr(tls, key)
            if value and not (base / value).is_file():
                found.append((("tls_server_config", key), f"file {value} not found"))
        found += _client_auth_problems(tls)
    for name, value in cfg.response_headers.items():
        loc: Loc = ("http_server_config", "headers", name)
        syntax = header_problems({name: value})
        if syntax:
            found += [(("http_server_config", "headers", *sub), message) for sub, message in syntax]
        elif name not in ALLOWED_RESPONSE_HEADERS:
            found.append((loc, f"this header cannot be set (allowed: {', '.join(ALLOWED_RESPONSE_HEADERS)})"))
        elif (allowed := ALLOWED_RESPONSE_HEADERS[name]) is not None and value not in allowed:
            found.append((loc, f"must be one of {', '.join(allowed)}, not {value!r}"))
    return found


#: How each exporter-toolkit ``client_auth_type`` (Go's ``tls.ClientAuthType``) is served.
#: Go's RequestClientCert asks for a certificate and never checks it, so who may connect is
#: who may connect without asking: that is how it is served. Go's RequireAnyClientCert insists on
#: a certificate and never checks it; Python's TLS checks every certificate it asks for, so the
#: mode cannot be served as exporter-toolkit does and is refused at load instead.
VERIFY_MODES = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


def _client_auth_problems(tls: TlsServerConfig) -> list[tuple[Loc, str]]:
    mode = tls.client_auth_type
    if tls.client_ca_file and mode == "NoClientCert":  # as exporter-toolkit
        return [
            (
                ("tls_server_config", "client_ca_file"),
                "client_ca_file is set but client_auth_type does not verify clients "
                f"({mode}); set client_auth_type, e.g. RequireAndVerifyClientCert",
            )
        ]
    loc: Loc = ("tls_server_config", "client_auth_type")
    if mode == "RequireAnyClientCert":
        return [
            (
                loc,
                "RequireAnyClientCert (any certificate, never verified) cannot be served: this "
                "exporter verifies every client certificate it asks for; use "
                "RequireAndVerifyClientCert with client_ca_file",
            )
        ]
    if VERIFY_MODES[mode] != ssl.CERT_NONE and not tls.client_ca_file:
        return [
            (
                loc,
                f"{mode} verifies client certificates but client_ca_file is not set: every "
                "client certificate would be refused; set client_ca_file to the CA that signs them",
            )
        ]
    return []


def _is_bcrypt(hashed: str) -> bool:
    try:
        bcrypt.checkpw(b"x", bcrypt_hash(hashed))
    except ValueError:  # "Invalid salt": not a hash the module can check
        return False
    return True


def ssl_context(cfg: WebConfig, config_path: str) -> ssl.SSLContext | None:
    tls = cfg.tls_server_config
    if tls is None:
        return None
    base = Path(config_path).resolve().parent
    # Only client_ca_file is trusted for client certificates, never the system's CAs.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if tls.min_version == "TLS13" else ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(base / tls.cert_file, base / tls.key_file)
    if tls.client_auth_type not in VERIFY_MODES:  # load_web_config refuses it; never served otherwise
        raise ValueError(f"client_auth_type {tls.client_auth_type} cannot be served")
    ctx.verify_mode = VERIFY_MODES[tls.client_auth_type]
    if ctx.verify_mode != ssl.CERT_NONE and tls.client_ca_file:
        ctx.load_verify_locations(base / tls.client_ca_file)
    return ctx


def response_headers_middleware(headers: dict[str, str]) -> Middleware:
    """An aiohttp middleware setting ``headers`` on every response, errors (401, 404) included,
    as exporter-toolkit does with ``http_server_config.headers``."""
    fixed = dict(headers)

    @web.middleware
    async def set_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as e:  # raised responses (404 from the router...) carry them too
            e.headers.update(fixed)
            raise
        if not response.prepared:  # a streamed response has sent its headers already
            response.headers.update(fixed)
        return response

    return set_headers
