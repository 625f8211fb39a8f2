"""HTTP endpoints: ``/metrics``, ``/-/healthy``, ``/-/ready`` and a landing page."""

from __future__ import annotations

import gzip
import html
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics import exposition as openmetrics

from exporter import __version__
from exporter.auth import Verdict, client_key
from exporter.keys import AUTH, REGISTRY, SCHEDULER
from exporter.snapshot import EOF, OPENMETRICS, TEXT, gzip_body
from exporter.snapshot import body as snapshot_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LANDING = """<!doctype html>
<html><head><title>Solana Escrow Exporter</title></head>
<body><h1>Solana Escrow Exporter</h1><p>Version {version}</p>
<ul><li><a href="/metrics">Metrics</a></li><li><a href="/-/healthy">Health</a></li>
<li><a href="/-/ready">Readiness</a></li></ul></body></html>
"""


def _registry(request: web.Request) -> CollectorRegistry:
    return request.app[REGISTRY]


async def metrics(request: web.Request) -> web.Response:
    # Collectors serve from memory, so the scrape timeout (X-Prometheus-Scrape-Timeout-Seconds)
    # needs no handling here: rendering never waits on an RPC node or a database.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    wants_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    scheduler = request.app.get(SCHEDULER)
    if scheduler is None or scheduler.bridged:  # no snapshots: everything is in the registry
        body = encoder(_registry(request))
        if wants_gzip:
            body = gzip.compress(body, compresslevel=1)
    else:
        # The collectors' families come rendered from their snapshots; only the registry's
        # (self metrics, process, RPC, HTTP: a few hundred series that change all the time)
        # are rendered per scrape.
        joined = await scheduler.snapshots.joined()
        fmt = OPENMETRICS if content_type.startswith("application/openmetrics-text") else TEXT
        if fmt == OPENMETRICS:
            live = openmetrics.generate_latest(_registry(request)).removesuffix(EOF)
            content_type = openmetrics.CONTENT_TYPE_LATEST
        else:
            live = generate_latest(_registry(request))
            content_type = CONTENT_TYPE_LATEST
        body = (gzip_body if wants_gzip else snapshot_body)(joined, fmt, live)
    headers = {"Content-Type": content_type}
    if wants_gzip:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    scheduler = request.app.get(SCHEDULER)
    if scheduler is None or not scheduler.ready:
        return web.Response(status=503, text="Not ready: collectors have not finished their first cycle.\n")
    return web.Response(text="Ready.\n")


async def landing(request: web.Request) -> web.Response:
    return web.Response(text=LANDING.format(version=html.escape(__version__)), content_type="text/html")


@web.middleware
async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    auth = request.app.get(AUTH)
    if auth is None:
        return await handler(request)
    verdict = await auth.check(request.headers.get("Authorization"), client_key(request.remote))
    if verdict.allowed:
        return await handler(request)
    if verdict in (Verdict.RATE_LIMITED, Verdict.OVERLOADED):
        # Answered without running bcrypt: a client guessing passwords cannot stall anything.
        return web.Response(status=429, text="Too many failed logins\n", headers={"Retry-After": "1"})
    return web.Response(
        status=401, text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="escrow-exporter"'}
    )


def add_routes(app: web.Application) -> None:
    app.middlewares.append(basic_auth)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/", landing)
