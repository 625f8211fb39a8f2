"""A push source of one program's transactions: Solana PubSub ``logsSubscribe`` (issue 15).

Selected per program by ``source: logs``; ``exporter.collectors.ingest`` runs it beside the
listing and hands the transactions that arrived together (``batches``) to
``ProgramIngester.on_notified_many``, which counts each exactly once, in one state-file commit,
with the listing as the gap-filling reconciler.

``LogsSource.transactions()`` connects to a node's WebSocket URL with aiohttp's client,
subscribes with ``{"mentions": [program id]}``, and yields every notified transaction decoded
by the program's ``EventDecoder`` from the notification's logs alone (no ``getTransaction``): its
``Program data:`` events, whether it failed and the error's label, compute units, and whether the
logs were truncated (then ``needs_full_fetch``: events may be missing from the logs, as are
``emit_cpi!`` events, which live in inner instructions only ``getTransaction`` returns).

What a PubSub feed does not promise, and what this source does about it:

* dropped connections: reconnect with exponential backoff (with jitter), rotating over the
  given URLs (failover); the backoff resets once a subscription is confirmed. Notifications sent
  while disconnected are lost: the signatures listing must fill that gap.
* dead connections: aiohttp's heartbeat pings; no pong within the heartbeat closes and reconnects.
* duplicated notifications: a signature seen among the last ``DEDUPE_WINDOW`` is not yielded again.
* missed notifications: invisible here; again the signatures listing fills them.
* forks: ``processed`` can notify transactions that never land, so only ``confirmed`` and
  ``finalized`` are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from exporter.anchor import EventDecoder
from exporter.anchor.decoder import TxDecodeResult
from exporter.ingest.recent_keys import RecentKeys

log = logging.getLogger("exporter.ingest.logs_source")

COMMITMENTS = ("confirmed", "finalized")
#: Signatures remembered to drop duplicated notifications (a node resends within seconds).
DEDUPE_WINDOW = 10_000
#: Notified transactions handed over together at most (``batches``): one commit for them all.
BATCH_MAX = 500


class LogsSourceError(Exception):
    """The node refused the subscription itself (a bad program id, an unsupported filter):
    retrying cannot help, so the source stops and says why."""


@dataclass(frozen=True)
class LogsTransaction:
    signature: str
    slot: int
    decoded: TxDecodeResult
    #: The logs cannot serve: truncated, so events may be missing; fetch with getTransaction.
    needs_full_fetch: bool
    #: The notification's log lines (instruction names come from them: ``logs_instructions``).
    logs: Any = None


@dataclass
class LogsSourceStats:
    connects: int = 0  # subscriptions confirmed
    disconnects: int = 0
    notifications: int = 0
    duplicates_skipped: int = 0


class LogsSource:
    def __init__(
        self,
        urls: Sequence[str],
        program_id: str,
        decoder: EventDecoder,
        commitment: str = "confirmed",
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        heartbeat: float = 30.0,
    ) -> None:
        if not urls:
            raise ValueError("logs source: at least one WebSocket URL is needed")
        if commitment not in COMMITMENTS:
            raise ValueError(
                f"logs source: commitment must be one of {', '.join(COMMITMENTS)}, not {commitment!r}"
                " (processed notifies transactions of forks that never land)"
            )
        self.urls = list(urls)
        self.program_id = program_id
        self.decoder = decoder
        self.commitment = commitment
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.heartbeat = heartbeat
        self.stats = LogsSourceStats()
        #: Set while a subscription is confirmed; cleared when its connection is lost.
        self.connected = asyncio.Event()
        self.seen = RecentKeys(DEDUPE_WINDOW)

    async def transactions(self) -> AsyncGenerator[LogsTransaction, None]:
        """Yield notified transactions forever, reconnecting as needed; raises only
        ``LogsSourceError`` (the subscription itself refused)."""
        delay = self.backoff_initial
        attempt = 0
        async with aiohttp.ClientSession() as session:
            while True:
                url = self.urls[attempt % len(self.urls)]
                attempt += 1
                try:
                    async with session.ws_connect(url, heartbeat=self.heartbeat) as ws:
                        sub_id = await self._subscribe(ws)
                        delay = self.backoff_initial  # a confirmed subscription: the node serves
                        attempt -= 1  # stay on a URL that worked
                        async for tx in self._read(ws, sub_id):
                            yield tx
                except (aiohttp.ClientError, TimeoutError, ConnectionError) as e:
                    # Never log the URL: it may carry an API key.
                    log.info("logs source: connection lost (%s); reconnecting", type(e).__name__)
                self.connected.clear()
                self.stats.disconnects += 1
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(self.backoff_max, delay * 2)

    async def batches(self, max_size: int = BATCH_MAX) -> AsyncGenerator[list[LogsTransaction], None]:
        """``transactions()`` in lists: all that arrived while the consumer was busy (at most
        ``max_size``), so it can count them in one state-file commit. Close it (``aclosing``)
        to stop reading. The queue between holds at most ``max_size``: a consumer that falls
        behind stops the reading of the socket, as it did without it, and a node drops it."""
        queue: asyncio.Queue[LogsTransaction | Exception] = asyncio.Queue(max_size)

        async def read() -> None:
            try:
                # closed here even when cancelled at put(): its socket and session go with it
                async with contextlib.aclosing(self.transactions()) as txs:
                    async for tx in txs:
                        await queue.put(tx)
            except Exception as e:  # LogsSourceError, or a bug: the consumer raises it
                await queue.put(e)

        reader = asyncio.create_task(read())
        try:
            while True:
                items = [await queue.get()]
                while len(items) < max_size and not queue.empty():
                    items.append(queue.get_nowait())
                batch = [x for x in items if isinstance(x, LogsTransaction)]
                if batch:
                    yield batch
                for x in items:
                    if isinstance(x, Exception):
                        raise x
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> int:
        params = [{"mentions": [self.program_id]}, {"commitment": self.commitment}]
        await ws.send_str(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "logsSubscribe", "params": params})
        )
        msg = await ws.receive(timeout=self.heartbeat)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise aiohttp.ClientConnectionError("closed before answering logsSubscribe")
        answer = _json(msg.data)
        if isinstance(answer.get("error"), dict):
            raise LogsSourceError(f"logsSubscribe refused: {answer['error'].get('message')!r}")
        if answer.get("id") != 1 or not isinstance(answer.get("result"), int):
            raise aiohttp.ClientConnectionError("logsSubscribe answered without a subscription id")
        self.stats.connects += 1
        self.connected.set()
        return int(answer["result"])

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, sub_id: int) -> AsyncIterator[LogsTransaction]:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            tx = self._transaction(_json(msg.data), sub_id)
            if tx is not None:
                yield tx
        raise aiohttp.ClientConnectionError("the node closed the WebSocket")

    def _transaction(self, msg: dict[str, Any], sub_id: int) -> LogsTransaction | None:
        params = msg.get("params")
        if msg.get("method") != "logsNotification" or not isinstance(params, dict):
            return None
        if params.get("subscription") != sub_id:
            return None
        result = _dict(params.get("result"))
        value, context = _dict(result.get("value")), _dict(result.get("context"))
        signature, slot = value.get("signature"), context.get("slot")
        if not isinstance(signature, str) or not isinstance(slot, int):
            return None
        self.stats.notifications += 1
        if not self.seen.add(signature):
            self.stats.duplicates_skipped += 1
            return None
        # The decoder reads a getTransaction result; the notification holds the same logs and err.
        decoded = self.decoder.decode_transaction(
            {"meta": {"logMessages": value.get("logs"), "err": value.get("err")}}
        )
        return LogsTransaction(
            signature, slot, decoded, needs_full_fetch=decoded.logs_truncated, logs=value.get("logs")
        )


def _json(text: str) -> dict[str, Any]:
    try:
        return _dict(json.loads(text))
    except ValueError:
        return {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
