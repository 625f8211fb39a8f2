"""Solana PubSub WebSocket endpoint: ``logsSubscribe`` / ``logsUnsubscribe`` over the chain.

Each simulated node serves it at ``GET /node/<name>/ws`` (``/ws`` is node ``default``). Messages
have a real node's shapes (solders' ``parse_websocket_message`` reads them): a subscription answers
``{"jsonrpc":"2.0","result":<id>,"id":<request id>}``, then every transaction the filter matches
arrives as ``logsNotification`` with the same signature, ``err`` and log lines getTransaction
returns for it (cut the same way under ``truncate_logs``).

Commitment, as a validator releases notifications: ``processed`` at once; ``confirmed`` once its
slot is complete (a later slot began, or an RPC answer sealed it); ``finalized`` (the default, as
on a real node) once ``FINALIZED_DEPTH`` slots passed. A ``stale_slot`` node holds notifications of
newer slots.

Faults (``POST /_faults``, per node), the ways a real PubSub feed fails its client:
``ws_drop_every`` (close the socket after every N notifications), ``ws_drop`` (close the node's open
sockets now; not kept), ``ws_miss`` / ``ws_duplicate`` (fraction of notifications never sent / sent
twice), ``ws_phantom`` (fraction followed, on ``processed`` subscriptions, by a notification of a
transaction that never lands: a dropped fork), ``ws_queue_limit`` (a client with this many
notifications waiting unsent is dropped, as a validator drops a lagging subscriber). Fractions are
applied deterministically (every 1/f-th notification), so a test can count exactly. ``down``
closes the open sockets and refuses new ones. ``GET /_state`` shows per node under ``pubsub`` what
the faults did, including the phantom signatures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from devchain.b58 import b58decode, b58encode
from devchain.chain import FINALIZED_DEPTH, GENESIS_SLOT, Chain, TxRecord
from devchain.rpc import TRUNCATED_LOG_LINES

log = logging.getLogger("devchain.pubsub")
COMMITMENTS = ("processed", "confirmed", "finalized")
#: Faults with an integer value and with a fraction (0..1) value; the others of WsFaults are flags.
WS_INT_FAULTS = {"ws_drop_every", "ws_queue_limit"}
WS_FRACTION_FAULTS = {"ws_miss", "ws_duplicate", "ws_phantom"}
_FLUSH_SECONDS = 0.1
SLOW_CONSUMER_SNDBUF = 16 * 1024


class WsFaults(Protocol):
    """The node faults this endpoint reads (``devchain.server.Faults`` has them)."""

    down: bool
    stale_slot: int | None
    truncate_logs: bool
    slot_offset: int
    ws_drop_every: int
    ws_drop: bool
    ws_miss: float
    ws_duplicate: float
    ws_phantom: float
    ws_queue_limit: int


def fraction_hit(fraction: float, k: int) -> bool:
    """Whether the k-th (0-based) item is one of a ``fraction`` spread evenly: 0.25 hits 3, 7, 11..."""
    return fraction > 0 and math.floor((k + 1) * fraction) > math.floor(k * fraction)


@dataclass
class _Tx:
    slot: int
    signature: str
    err: Any
    logs: list[str]


@dataclass
class _Subscription:
    id: int
    mentions: str | None  # None: every transaction ("all")
    commitment: str
    pending: deque[_Tx] = field(default_factory=deque)


@dataclass
class NodeStats:
    connections: int = 0
    notifications: int = 0
    missed: int = 0
    duplicated: int = 0
    dropped: int = 0  # connections closed by ws_drop_every / ws_drop / down
    slow_consumers_dropped: int = 0
    phantom_signatures: list[str] = field(default_factory=list)


class _Connection:
    def __init__(self, node: str, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None) -> None:
        self.node = node
        self.ws = ws
        self.transport = transport
        self.subs: dict[int, _Subscription] = {}
        #: Outgoing texts; True marks a notification (counted by ws_drop_every / ws_queue_limit).
        self.queue: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self.unsent_notifications = 0
        self.delivered = 0  # notifications offered, the index the fraction faults count by
        self.sent = 0
        self.closed = False
        self.writer: asyncio.Task[None] | None = None

    def abort(self) -> None:
        """Drop the connection the way a crashed or overloaded node does: no close frame."""
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]
        if self.writer is not None:
            self.writer.cancel()


class PubSub:
    def __init__(self, chain: Chain, faults_of: Any) -> None:
        self.chain = chain
        self._faults_of = faults_of  # node name -> WsFaults
        self._connections: set[_Connection] = set()
        self._next_id = 0
        self._rng = random.Random(chain.seed ^ 0x5EB5)
        self.stats: dict[str, NodeStats] = {}
        self._task: asyncio.Task[None] | None = None
        chain.add_tx_listener(self.on_transaction)

    def faults(self, node: str) -> WsFaults:
        f: WsFaults = self._faults_of(node)
        return f

    def node_stats(self, node: str) -> NodeStats:
        return self.stats.setdefault(node, NodeStats())

    def state(self) -> dict[str, Any]:
        out = {}
        for node, s in self.stats.items():
            open_now = sum(1 for c in self._connections if c.node == node and not c.closed)
            out[node] = {**s.__dict__, "open_connections": open_now}
        return out

    # ---- faults ---------------------------------------------------------------------------
    def faults_changed(self, node: str, f: WsFaults) -> None:
        """Act on one-shot faults: ``ws_drop`` (then cleared) and ``down`` close open sockets."""
        if f.ws_drop or f.down:
            for conn in [c for c in self._connections if c.node == node]:
                self.node_stats(node).dropped += 1
                conn.abort()
        f.ws_drop = False

    # ---- chain side -----------------------------------------------------------------------
    def on_transaction(self, rec: TxRecord, addresses: list[str], logs: list[str]) -> None:
        tx = _Tx(rec.slot, rec.signature, rec.err, list(logs))
        mentioned = set(addresses)
        for conn in list(self._connections):
            for sub in conn.subs.values():
                if sub.mentions is None or sub.mentions in mentioned:
                    sub.pending.append(tx)
            self._flush(conn)

    def _released(self, f: WsFaults, commitment: str, slot: int) -> bool:
        tip = self.chain.slot if f.stale_slot is None else min(f.stale_slot, self.chain.slot)
        if commitment == "processed":
            return slot <= tip
        if commitment == "confirmed":
            return slot < tip or slot <= min(tip, self.chain.sealed_slot)
        return slot <= max(GENESIS_SLOT, tip - FINALIZED_DEPTH)

    def _flush(self, conn: _Connection) -> None:
        if conn.closed:
            return
        f = self.faults(conn.node)
        for sub in list(conn.subs.values()):
            while sub.pending and self._released(f, sub.commitment, sub.pending[0].slot):
                self._deliver(conn, sub, sub.pending.popleft(), f)
                if conn.closed:
                    return

    def _deliver(self, conn: _Connection, sub: _Subscription, tx: _Tx, f: WsFaults) -> None:
        stats = self.node_stats(conn.node)
        k = conn.delivered
        conn.delivered += 1
        if fraction_hit(f.ws_miss, k):
            stats.missed += 1
            return
        text = self._notification(sub.id, tx, f)
        self._enqueue(conn, text, f)
        if fraction_hit(f.ws_duplicate, k):
            stats.duplicated += 1
            self._enqueue(conn, text, f)
        if sub.commitment == "processed" and fraction_hit(f.ws_phantom, k):
            # The same program call processed on a fork the cluster then abandons: its signature
            # never reaches getSignaturesForAddress nor getTransaction.
            phantom = _Tx(tx.slot, b58encode(self._rng.randbytes(64)), tx.err, tx.logs)
            stats.phantom_signatures.append(phantom.signature)
            self._enqueue(conn, self._notification(sub.id, phantom, f), f)

    def _notification(self, sub_id: int, tx: _Tx, f: WsFaults) -> str:
        logs = tx.logs
        if f.truncate_logs and len(logs) > TRUNCATED_LOG_LINES:
            logs = [*logs[:TRUNCATED_LOG_LINES], "Log truncated"]
        msg = {
            "jsonrpc": "2.0",
            "method": "logsNotification",
            "params": {
                "result": {
                    "context": {"slot": tx.slot + f.slot_offset},
                    "value": {"signature": tx.signature, "err": tx.err, "logs": logs},
                },
                "subscription": sub_id,
            },
        }
        return json.dumps(msg, separators=(",", ":"))

    def _enqueue(self, conn: _Connection, text: str, f: WsFaults) -> None:
        if conn.closed:
            return
        if f.ws_queue_limit and conn.unsent_notifications >= f.ws_queue_limit:
            self.node_stats(conn.node).slow_consumers_dropped += 1
            log.info("pubsub: dropping a slow consumer of node %s", conn.node)
            conn.abort()
            return
        conn.unsent_notifications += 1
        conn.queue.put_nowait((text, True))

    # ---- socket side ----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        node = request.match_info.get("name", "default")
        if self.faults(node).down:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Connection(node, ws, request.transport)
        sock = request.transport.get_extra_info("socket") if request.transport is not None else None
        if self.faults(node).ws_queue_limit and sock is not None:
            # A fixed small kernel buffer (no autotuning to megabytes), so a client that stops
            # reading backs up this node's queue after a few notifications, as on a busy node.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SLOW_CONSUMER_SNDBUF)
        conn.writer = asyncio.create_task(self._write(conn))
        self._connections.add(conn)
        self.node_stats(node).connections += 1
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                answer = self._answer(conn, msg.data)
                if answer is not None:
                    conn.queue.put_nowait((json.dumps(answer, separators=(",", ":")), False))
                    self._flush(conn)
        finally:
            self._connections.discard(conn)
            conn.closed = True
            if conn.writer is not None:
                conn.writer.cancel()
        return ws

    async def _write(self, conn: _Connection) -> None:
        try:
            while True:
                text, is_notification = await conn.queue.get()
                await conn.ws.send_str(text)
                if not is_notification:
                    continue
                conn.unsent_notifications -= 1
                conn.sent += 1
                self.node_stats(conn.node).notifications += 1
                every = self.faults(conn.node).ws_drop_every
                if every and conn.sent % every == 0:
                    self.node_stats(conn.node).dropped += 1
                    conn.abort()
                    return
        except (ConnectionError, RuntimeError):
            conn.abort()  # the client went away; the reader loop ends on its own

    def _answer(self, conn: _Connection, text: str) -> dict[str, Any] | None:
        try:
            req = json.loads(text)
        except ValueError:
            return {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
            return {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request"}, "id": None}
        rid = req.get("id")
        params = req.get("params") or []
        try:
            if not isinstance(params, list):
                raise _Invalid("Invalid params: invalid type: map, expected a sequence.")
            if req["method"] == "logsSubscribe":
                return {"jsonrpc": "2.0", "result": self._subscribe(conn, params), "id": rid}
            if req["method"] == "logsUnsubscribe":
                if not params or not isinstance(params[0], int) or params[0] not in conn.subs:
                    raise _Invalid("Invalid subscription id.")
                del conn.subs[params[0]]
                return {"jsonrpc": "2.0", "result": True, "id": rid}
        except _Invalid as e:
            return {"jsonrpc": "2.0", "error": {"code": -32602, "message": str(e)}, "id": rid}
        return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": rid}

    def _subscribe(self, conn: _Connection, params: list[Any]) -> int:
        if not params:
            raise _Invalid("`params` should have at least 1 argument(s)")
        flt = params[0]
        mentions: str | None
        if flt in ("all", "allWithVotes"):
            mentions = None
        elif isinstance(flt, dict) and isinstance(flt.get("mentions"), list):
            if len(flt["mentions"]) != 1:
                raise _Invalid("Invalid Request: Only 1 address supported")
            mentions = flt["mentions"][0]
            try:
                ok = isinstance(mentions, str) and len(b58decode(mentions)) == 32
            except ValueError:
                ok = False
            if not ok:
                raise _Invalid(f"Invalid Request: Invalid pubkey provided: {mentions!r}")
        else:
            raise _Invalid(f'Invalid params: unknown logs filter {flt!r}; use "all" or {{"mentions": [...]}}')
        cfg = params[1] if len(params) > 1 and params[1] is not None else {}
        commitment = cfg.get("commitment", "finalized") if isinstance(cfg, dict) else None
        if commitment not in COMMITMENTS:
            raise _Invalid(f"Invalid params: unknown variant `{commitment}`.")
        self._next_id += 1
        conn.subs[self._next_id] = _Subscription(self._next_id, mentions, commitment)
        return self._next_id

    # ---- lifecycle ------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        """Release held notifications as slots complete and finalize with the wall clock."""
        while True:
            await asyncio.sleep(_FLUSH_SECONDS)
            for conn in list(self._connections):
                self._flush(conn)

    async def start(self, app: web.Application) -> None:
        self._task = asyncio.create_task(self._flush_loop())

    async def stop(self, app: web.Application) -> None:
        for conn in list(self._connections):
            # A client that stopped reading never acknowledges the close frame: abort it.
            try:
                await asyncio.wait_for(conn.ws.close(), 1.0)
            except TimeoutError:
                conn.abort()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


class _Invalid(Exception):
    pass
