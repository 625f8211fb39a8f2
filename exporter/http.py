"""HTTP endpoints: ``/metrics``, ``/-/healthy``, ``/-/ready`` and a landing page."""

from __future__ import annotations

import gzip
import html
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter import __version__
from exporter.auth import Verdict, client_key
from exporter.keys import AUTH, REGISTRY, SCHEDULER

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
    body = encoder(_registry(request))
    headers = {"Content-Type": content_type}
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = gzip.compress(body, compresslevel=1)
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
