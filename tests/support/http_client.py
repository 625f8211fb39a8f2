"""A plain HTTP GET for the tests of the exporter's web server: status, headers and body, the
error statuses included (urllib raises on them)."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request


def get(
    url: str, headers: dict[str, str] | None = None, ctx: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
