"""``--web.config.file``: TLS and basic auth in the format of Prometheus' exporter-toolkit.

```yaml
tls_server_config: {cert_file: server.crt, key_file: server.key, client_ca_file: ca.crt,
                    client_auth_type: RequireAndVerifyClientCert, min_version: TLS12}
basic_auth_users: {prometheus: $2y$10$...}   # bcrypt hashes
```
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from pydantic import Field, ValidationError

from exporter.config.base import Section
from exporter.config.loader import ConfigError, format_path


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
    headers: dict[str, str] = Field(default_factory=dict)


class WebConfig(Section):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    http_server_config: HttpServerConfig | None = None


def load_web_config(path: str) -> WebConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as e:
        raise ConfigError(path, [f"{path}: cannot read web config: {e.strerror}"]) from None
    except yaml.YAMLError as e:
        raise ConfigError(path, [f"{path}: invalid YAML: {e}"]) from None
    try:
        cfg = WebConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(
            path, [f"{path}: {format_path(tuple(err['loc']))}: {err['msg']}" for err in e.errors()]
        ) from None
    problems = []
    for user, hashed in cfg.basic_auth_users.items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            problems.append(f"{path}: basic_auth_users.{user}: not a bcrypt hash")
    if cfg.tls_server_config:
        base = Path(path).resolve().parent
        for key in ("cert_file", "key_file", "client_ca_file"):
            value = getattr(cfg.tls_server_config, key)
            if value and not (base / value).is_file():
                problems.append(f"{path}: tls_server_config.{key}: file {value} not found")
    if problems:
        raise ConfigError(path, problems)
    return cfg


def ssl_context(cfg: WebConfig, config_path: str) -> ssl.SSLContext | None:
    tls = cfg.tls_server_config
    if tls is None:
        return None
    base = Path(config_path).resolve().parent
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if tls.min_version == "TLS13" else ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(base / tls.cert_file, base / tls.key_file)
    if tls.client_ca_file:
        ctx.load_verify_locations(base / tls.client_ca_file)
    ctx.verify_mode = {
        "NoClientCert": ssl.CERT_NONE,
        "RequestClientCert": ssl.CERT_OPTIONAL,
        "RequireAnyClientCert": ssl.CERT_REQUIRED,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[tls.client_auth_type]
    return ctx


class BasicAuth:
    """Checks ``Authorization: Basic`` against bcrypt hashes, caching verdicts (bcrypt is slow on purpose)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = {u: h.replace("$2y$", "$2b$", 1).encode() for u, h in users.items()}
        self._cache: dict[bytes, bool] = {}

    def check(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        key = hashlib.sha256(header.encode()).digest()
        if key in self._cache:
            return self._cache[key]
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        ok = hashed is not None and bcrypt.checkpw(password.encode(), hashed)
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[key] = ok
        return ok
