"""The devchain HTTP server: JSON-RPC per simulated node, faults, chain actions, ground truth.

Routes: ``POST /`` (node ``default``) and ``POST /node/<name>``; PubSub WebSocket ``GET /ws`` and
``GET /node/<name>/ws`` (also ``GET /`` and ``GET /node/<name>``: the RPC URL, as providers serve it) (``devchain/pubsub.py``); ``GET /_state``;
``GET|POST|DELETE /_faults``; ``POST /_actions``; ``GET /-/healthy``; ``GET /health`` (the
simulated platform's health, its database being the demo ledger, for the blackbox keyword probes);
``GET /metrics`` (the simulated platform application's HTTP metrics, ``devchain/app_http.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from aiohttp import web

from devchain import faults as reconcile_faults
from devchain.app_http import AppHttp
from devchain.chain import Chain
from devchain.ledger import Ledger
from devchain.pubsub import WS_FRACTION_FAULTS, WS_INT_FAULTS, PubSub
from devchain.rpc import BAD_ACCOUNT_DATA, NodeView, Rpc
from devchain.traffic import Traffic

log = logging.getLogger("devchain")
CHAIN_KEY = web.AppKey("chain", Chain)
SERVER_KEY: web.AppKey[DevchainServer] = web.AppKey("server")
#: Size of an answer under the ``oversized: true`` fault: several MB, like a huge getProgramAccounts.
OVERSIZED_DEFAULT_BYTES = 8 * 1024 * 1024
#: Nesting of a ``deep_json`` answer: deeper than any JSON parser's recursion limit.
DEEP_JSON_LEVELS = 100_000
#: Faults whose value is an integer, not a flag.
_INT_FAULTS = {"slow_ms", "slot_offset", *WS_INT_FAULTS}


@dataclass
class Faults:
    down: bool = False  # close the connection without answering
    slow_ms: int = 0  # delay every answer
    rate_limit: float = 0  # true/1+: requests per second allowed (0.5 = rare), HTTP 429 beyond; true = all
    # with rate_limit: a JSON-RPC batch of N calls costs N, as providers bill (else one per HTTP request)
    rate_limit_per_item: bool = False
    stale_slot: int | None = None  # slot frozen here: getHealth -32005, newer data hidden
    malformed: bool = False  # HTTP 200 with a truncated JSON body
    truncate_logs: bool = False  # logMessages cut short, ending with "Log truncated"
    oversized: int = 0  # pad every answer with JSON whitespace to this many bytes (true = 8 MiB)
    bad_account_data: str | None = None  # getProgramAccounts data: "short", "garbage" (base64), "not_string"
    # Hostile nodes (issue 11): each answers like a node that lies or breaks its client.
    slot_offset: int = 0  # added to every slot reported (getSlot, contexts, listings, transactions)
    duplicate_signatures: bool = False  # listings repeat signatures within and across pages
    null_transactions: bool = False  # getTransaction answers null
    history_unavailable: bool = False  # getTransaction answers -32011
    bad_listing: bool = False  # getSignaturesForAddress answers an object, not a list
    deep_json: bool = False  # every answer is valid JSON nested DEEP_JSON_LEVELS deep
    array_ids: bool = False  # every answer's id is wrapped in an array
    redirect: str | None = None  # HTTP 307 to this URL (true: the same node under "localhost")
    echo_secrets: bool = False  # JSON-RPC error -32603 whose message echoes the URL and headers
    # PubSub WebSocket (issue 15; devchain/pubsub.py says how each one behaves).
    ws_drop_every: int = 0  # close the socket after every N notifications
    ws_drop: bool = False  # one-shot: close the node's open sockets now
    ws_miss: float = 0  # fraction of notifications never sent
    ws_duplicate: float = 0  # fraction of notifications sent twice
    ws_phantom: float = 0  # fraction followed by a processed notification of a tx that never lands
    ws_queue_limit: int = 0  # drop a client with this many notifications unsent (0: unbounded)


@dataclass
class _Bucket:
    tokens: float
    at: float


#: The PauseReason variants of the reference program, as ``reason`` of the ``pause`` action.
PAUSE_REASONS = {
    "Maintenance": lambda: {"Maintenance": None},
    "Incident": lambda: {"Incident": {"code": 1}},
    "Manual": lambda: {"Manual": ["operator"]},
}


def pause_reason(value: Any) -> Any:
    """``reason`` of a pause action: a PauseReason variant name, or its encoded form
    (``{"Incident": {"code": 7}}``); None for the default (Manual)."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str) and value in PAUSE_REASONS:
        return PAUSE_REASONS[value]()
    raise ValueError(
        f"reason must be one of {', '.join(PAUSE_REASONS)} or an encoded PauseReason, not {value!r}"
    )


class DevchainServer:
    """``tps`` is the mean rate; ``traffic`` shapes it over the day (default: constant);
    ``clock`` (seconds, monotonic) paces the generator, injectable so tests can run a day at once."""

    def __init__(
        self,
        chain: Chain,
        tps: float = 0.0,
        ledger: Ledger | None = None,
        traffic: Traffic | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not math.isfinite(tps) or tps < 0:  # NaN or inf would crash the generator loop
            raise ValueError(f"tps must be a finite number >= 0, got {tps!r}")
        self.chain = chain
        self.rpc = Rpc(chain)
        self.tps = tps
        self.traffic = traffic or Traffic()
        self.clock = clock
        #: Transactions the generator made in each simulated hour of the day (ground truth).
        self.produced_by_hour = [0] * 24
        self._started: float | None = None
        self._last = 0.0
        self._owed = 0.0
        self.ledger = ledger
        self.faults: dict[str, Faults] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._task: asyncio.Task[None] | None = None
        self.pubsub = PubSub(chain, self.node_faults)
        #: JSON-RPC calls served per node and method, a batch of N counting N: what a provider
        #: metering per call bills (calls refused with 429 are not counted). In ``/_state``.
        self.calls: dict[str, Counter[str]] = {}
        #: The platform application's HTTP traffic around the transactions made (``/metrics``).
        self.app_http = AppHttp()

    # ---- faults ---------------------------------------------------------------------------
    def node_faults(self, name: str) -> Faults:
        return self.faults.setdefault(name, Faults())

    def set_faults(self, body: dict[str, Any]) -> Faults:
        name = body.get("node", "default")
        if not isinstance(name, str):
            raise ValueError("'node' must be a string")
        f = self.node_faults(name)
        known = {x.name for x in fields(Faults)}
        for key, value in body.items():
            if key == "node":
                continue
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known))}")
            if key == "stale_slot":
                # true freezes the node at the current slot; a number freezes it at that slot.
                value = None if value in (None, False) else self.chain.slot if value is True else int(value)
            elif key == "rate_limit":
                value = float(value) if not isinstance(value, bool) else (0.0001 if value else 0.0)
                self._buckets.pop(name, None)
            elif key in _INT_FAULTS:
                value = int(value or 0)
            elif key in WS_FRACTION_FAULTS:
                value = float(value or 0)
                if not 0 <= value <= 1:
                    raise ValueError(f"{key} must be a fraction from 0 to 1, got {value!r}")
            elif key == "redirect":
                value = None if value in (None, False) else "" if value is True else str(value)
            elif key == "oversized":
                value = OVERSIZED_DEFAULT_BYTES if value is True else int(value or 0)
            elif key == "bad_account_data":
                if value not in (None, False, *BAD_ACCOUNT_DATA):
                    raise ValueError(
                        f"bad_account_data must be one of {', '.join(BAD_ACCOUNT_DATA)} or false"
                    )
                value = value or None
            else:
                value = bool(value)
            setattr(f, key, value)
        self.pubsub.faults_changed(name, f)
        return f

    def _rate_limited(self, node: str, f: Faults, cost: int = 1) -> bool:
        if f.rate_limit <= 0:
            return False
        now = time.monotonic()
        b = self._buckets.setdefault(node, _Bucket(f.rate_limit, now))
        b.tokens = min(f.rate_limit, b.tokens + (now - b.at) * f.rate_limit)
        b.at = now
        # A batch costing more than a second's worth is let through on a full bucket and leaves
        # it in debt, so the average stays at rate_limit calls/s (the exporter's limiter does so).
        if b.tokens >= min(cost, max(1.0, f.rate_limit)):
            b.tokens -= cost
            return False
        return True

    # ---- handlers -------------------------------------------------------------------------
    async def handle_rpc(self, request: web.Request) -> web.StreamResponse:
        node = request.match_info.get("name", "default")
        f = self.node_faults(node)
        if f.down:
            # A dead node: the client sees the connection drop with no HTTP answer.
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        if f.slow_ms:
            await asyncio.sleep(f.slow_ms / 1000)
        if f.redirect is not None:
            # "" (true): this very node under another origin name; a client must not follow.
            target = f.redirect or f"http://localhost:{request.url.port}{request.path_qs}"
            raise web.HTTPTemporaryRedirect(target)
        try:
            body = await request.json(loads=json.loads)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response(
                {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
            )
        cost = len(body) if f.rate_limit_per_item and isinstance(body, list) and body else 1
        if self._rate_limited(node, f, cost):
            rid = body.get("id") if isinstance(body, dict) else None
            err = {"code": 429, "message": "Too many requests for a specific RPC call"}
            return web.json_response(
                {"jsonrpc": "2.0", "error": err, "id": rid}, status=429, headers={"Retry-After": "1"}
            )
        if f.echo_secrets:
            # Providers that echo the request in errors leak whatever key it carries.
            echoed = f"Internal error serving {request.url} with headers {dict(request.headers)}"
            rid = body.get("id") if isinstance(body, dict) else None
            return web.json_response(
                {"jsonrpc": "2.0", "error": {"code": -32603, "message": echoed}, "id": rid}
            )
        view = NodeView(
            self.chain,
            stale_slot=f.stale_slot,
            truncate_logs=f.truncate_logs,
            bad_account_data=f.bad_account_data,
            slot_offset=f.slot_offset,
            duplicate_signatures=f.duplicate_signatures,
            null_transactions=f.null_transactions,
            history_unavailable=f.history_unavailable,
            bad_listing=f.bad_listing,
        )
        result: Any
        self._count_calls(node, body)
        if isinstance(body, list):
            if not body:
                result = {
                    "jsonrpc": "2.0",
                    "error": {"code": -32600, "message": "Invalid request"},
                    "id": None,
                }
            else:
                result = [self.rpc.handle(r, view) for r in body]
        else:
            result = self.rpc.handle(body, view)
        if f.array_ids:
            for item in result if isinstance(result, list) else [result]:
                item["id"] = [item.get("id")]
        text = json.dumps(result, separators=(",", ":"))
        if f.deep_json:
            rid = json.dumps(result.get("id") if isinstance(result, dict) else None)
            levels = DEEP_JSON_LEVELS
            text = f'{{"jsonrpc":"2.0","id":{rid},"result":{"[" * levels}{"]" * levels}}}'
        if f.malformed:
            text = text[: max(1, len(text) // 2)]
        if f.oversized > len(text):
            # Still valid JSON (trailing whitespace): tests the client's size cap, not its parser.
            text += " " * (f.oversized - len(text))
        return web.Response(text=text, content_type="application/json")

    def _count_calls(self, node: str, body: Any) -> None:
        counts = self.calls.setdefault(node, Counter())
        for item in body if isinstance(body, list) else [body]:
            method = item.get("method") if isinstance(item, dict) else None
            counts[method if isinstance(method, str) else "invalid"] += 1

    async def handle_state(self, request: web.Request) -> web.Response:
        state = self.chain.state()
        if self.ledger is not None:
            state["ledger_faults"] = list(self.ledger.faults.applied)
            state["payments"] = list(self.ledger.payments.applied)
        state["pubsub"] = self.pubsub.state()
        state["rpc_calls"] = {node: dict(c) for node, c in self.calls.items()}
        state["traffic"] = self.traffic_state()
        return web.json_response(state)

    def traffic_state(self) -> dict[str, Any]:
        elapsed = 0.0 if self._started is None else self.clock() - self._started
        hour = self.traffic.hour_at(elapsed)
        return {
            "mean_tps": self.tps,
            "shaped": self.traffic.shape is not None,
            "day_seconds": self.traffic.day_seconds,
            "day": int(hour // 24),
            "hour": round(hour % 24, 3),
            "tps_now": round(self.tps * self.traffic.factor_at(elapsed), 3),
            "produced_by_hour": list(self.produced_by_hour),
        }

    async def handle_faults(self, request: web.Request) -> web.Response:
        if request.method == "DELETE":
            node = request.query.get("node")
            if node is None:
                self.faults.clear()
                self._buckets.clear()
            else:
                self.faults.pop(node, None)
                self._buckets.pop(node, None)
        elif request.method == "POST":
            try:
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                self.set_faults(body)
            except (ValueError, TypeError) as e:
                return web.json_response({"error": str(e)}, status=400)
        return web.json_response({name: asdict(f) for name, f in self.faults.items()})

    async def handle_actions(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            return web.json_response(self.run_action(body))
        except (ValueError, TypeError, KeyError) as e:
            return web.json_response({"error": str(e)}, status=400)

    def run_action(self, body: dict[str, Any]) -> dict[str, Any]:
        action = body.get("action")
        if action == "drain_escrow":
            account = str(body.get("account", "escrow_usdc"))
            done = self.chain.drain_escrow(account, int(body.get("amount", 1_000_000)))
            return {"action": action, "account": account, "drained": done}
        if action == "restore_escrow":
            account = str(body.get("account", "escrow_usdc"))
            amount = body.get("amount")
            done = self.chain.restore_escrow(account, None if amount is None else int(amount))
            return {"action": action, "account": account, "restored": done}
        if action == "withdrawal_spike":
            sigs = self.chain.withdrawal_spike(int(body.get("count", 20)))
            return {"action": action, "withdrawals": len(sigs), "signatures": sigs}
        if action == "pause":
            return {"action": action, "signature": self.chain.pause(pause_reason(body.get("reason")))}
        if action == "resume":
            return {"action": action, "signature": self.chain.resume()}
        if action == "sweep_fees":
            account = str(body.get("account", "fee_usdc"))
            amount = body.get("amount")
            sig, swept = self.chain.sweep_fees(account, None if amount is None else int(amount))
            return {"action": action, "account": account, "swept": swept, "signature": sig}
        if action == "audit_gap":
            self.chain.request_audit_gap()
            return {"action": action, "audit_gaps_requested": self.chain.audit_gaps_requested}
        if action in reconcile_faults.ACTIONS:
            return reconcile_faults.run_action(self.chain, self.ledger, body)
        raise ValueError(
            f"unknown action {action!r}; known: drain_escrow, restore_escrow, withdrawal_spike, pause, resume,"
            f" sweep_fees, audit_gap, {', '.join(reconcile_faults.ACTIONS)}"
        )

    async def handle_healthy(self, request: web.Request) -> web.Response:
        return web.Response(text="OK\n")

    async def handle_health(self, request: web.Request) -> web.Response:
        """The simulated platform's health in the shape its apps serve (blackbox keyword checks:
        ``"status":"ok"``, ``"database":{"status":"up"}``); the database is the demo ledger."""
        body: dict[str, Any] = {"status": "ok"}
        status = 200
        if self.ledger is not None:
            up = self.ledger.database_up
            body = {"status": "ok" if up else "degraded", "database": {"status": "up" if up else "down"}}
            status = 200 if up else 503
        # Compact JSON, as the platform's apps serve it: the keywords match byte for byte.
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, separators=(",", ":")))

    async def handle_metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.app_http.exposition(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    # ---- background generator -------------------------------------------------------------
    def tick(self, now: float) -> int:
        """Make the transactions due by ``now`` (seconds on ``clock``): the mean rate times the
        traffic shape's integral since the previous tick, so counts do not depend on how often
        this runs. Returns how many were made."""
        if self._started is None:
            self._started = self._last = now
        start = self._started
        self._owed += self.tps * self.traffic.weight(self._last - start, now - start)
        self._last = now
        n = int(self._owed)
        if n:
            self._owed -= n
            self.produced_by_hour[int(self.traffic.hour_at(now - start) % 24)] += n
            self.app_http.serve(n)
            try:
                self.chain.step(n, advance_slot=False)
            except Exception:
                log.exception("devchain generator failed; continuing")
        return n

    async def _produce(self) -> None:
        """Follow the wall clock: slots every ~400 ms, transactions at the traffic's rate."""
        self.tick(self.clock())
        while True:
            await asyncio.sleep(0.1)
            self.chain.sync_clock()
            self.tick(self.clock())

    async def _start_background(self, app: web.Application) -> None:
        self.chain.sync_clock()
        self._task = asyncio.create_task(self._produce())

    async def _stop_background(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def app(self, background: bool = True) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app[CHAIN_KEY] = self.chain
        app[SERVER_KEY] = self
        app.router.add_post("/", self.handle_rpc)
        app.router.add_post("/node/{name}", self.handle_rpc)
        app.router.add_get("/ws", self.pubsub.handle)
        app.router.add_get("/node/{name}/ws", self.pubsub.handle)
        # Also on the RPC URL itself, as providers serve it: the exporter's default ws_url.
        app.router.add_get("/", self.pubsub.handle)
        app.router.add_get("/node/{name}", self.pubsub.handle)
        app.on_startup.append(self.pubsub.start)
        app.on_shutdown.append(self.pubsub.stop)
        app.router.add_get("/_state", self.handle_state)
        app.router.add_route("*", "/_faults", self.handle_faults)
        app.router.add_post("/_actions", self.handle_actions)
        app.router.add_get("/-/healthy", self.handle_healthy)
        app.router.add_get("/health", self.handle_health)
        app.router.add_get("/metrics", self.handle_metrics)
        if background:
            app.on_startup.append(self._start_background)
            app.on_cleanup.append(self._stop_background)
        return app
