"""Typed keys for what the aiohttp application holds (shared by ``app`` and ``http``)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.auth import BasicAuth
from exporter.config.model import Config
from exporter.rpc.pool import RpcPool
from exporter.scheduler import Scheduler

CONFIG = web.AppKey("config", Config)
REGISTRY = web.AppKey("registry", CollectorRegistry)
SCHEDULER = web.AppKey("scheduler", Scheduler)
POOL = web.AppKey("pool", RpcPool)
AUTH = web.AppKey("auth", BasicAuth)
