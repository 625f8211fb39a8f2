"""Remove configured secrets from text before it is logged or shown.

Provider error messages sometimes echo the request: its URL (with the API key in the path or
the query) or its headers. Anything an endpoint's answer puts into an error message therefore
goes through a ``Redactor`` built from every endpoint's configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from exporter.config.model import EndpointConfig

REDACTED = "<redacted>"
#: Shorter parts are not taken for secrets: redacting "v2" or "node" would garble every message,
#: and no provider issues keys that short. The whole URL, the password and header values are
#: redacted whatever their length.
MIN_PART = 8


def endpoint_secrets(config: EndpointConfig) -> set[str]:
    """Every string of ``config`` that may carry a credential."""
    url = urlsplit(config.url)
    out = {config.url, config.url.split("://", 1)[-1]}
    if url.password:
        out |= {url.password, unquote(url.password)}
    if url.username:
        out |= {url.netloc.rsplit("@", 1)[0]}
    parts = [p for p in url.path.split("/") if len(p) >= MIN_PART]
    parts += [v for _, v in parse_qsl(url.query, keep_blank_values=False) if len(v) >= MIN_PART]
    parts += [url.query] if len(url.query) >= MIN_PART else []
    for value in config.headers.values():
        out.add(value)
        parts += [token for token in value.split() if len(token) >= MIN_PART]
    for part in parts:
        out |= {part, unquote(part)}
    return {s for s in out if s}


class Redactor:
    def __init__(self, configs: Iterable[EndpointConfig]) -> None:
        secrets = set().union(*(endpoint_secrets(c) for c in configs))
        # Longest first: the whole URL goes before the key inside it.
        self._secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text
