"""Find the program's signatures newer than the cursor, oldest first, with getSignaturesForAddress.

The RPC method returns newest first, at most ``limit`` per call. When more signatures arrived
than one page holds (the *gap* case), we page backwards with ``before`` = the oldest one seen,
keeping ``until`` = the cursor, until a short page says we reached it.

Every page of one listing comes from one endpoint (``RpcPool.call_on``): a node that lags behind
pages over a shorter history, and stitching its pages to a current node's would silently skip
the signatures in between. If that endpoint fails, or answers something that is not a listing,
the whole listing is retried on the next one (``RpcPool.failover``, the pool's one failover loop).

A listing from a node that reports slots beyond the endpoints' reference slot (a lying node, a
devnet URL) is refused before its slots reach the cursor.

A node may list a signature more than once (within a page, or again on the next page when it
treats ``before`` as inclusive): a listing keeps each signature's first appearance only, so a
transaction is never counted twice. A full page that adds nothing new would page forever: it is
refused as malformed, and the listing moves to another endpoint.

Safety net for a cursor the node does not know (a provider that lags behind, or a signature
from a dropped fork): ``until`` is then not found and the node would return older signatures.
Anything from a slot older than the cursor's slot is therefore discarded, so old transactions
are never counted twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from exporter.ingest.state import Cursor
from exporter.rpc.endpoint import Endpoint
from exporter.rpc.errors import RpcMalformed
from exporter.rpc.pool import RpcPool


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    signature: str
    slot: int
    block_time: int | None


T = TypeVar("T")


def _parse_page(reply: Any, endpoint: str) -> list[SignatureInfo]:
    if not isinstance(reply, list):
        raise RpcMalformed(endpoint, "getSignaturesForAddress did not return a list")
    out = []
    for item in reply:
        sig = item.get("signature") if isinstance(item, dict) else None
        slot = item.get("slot") if isinstance(item, dict) else None
        if not isinstance(sig, str) or not isinstance(slot, int) or isinstance(slot, bool):
            raise RpcMalformed(endpoint, "getSignaturesForAddress returned an entry without signature/slot")
        bt = item.get("blockTime")
        out.append(SignatureInfo(sig, slot, bt if isinstance(bt, int) and not isinstance(bt, bool) else None))
    return out


def _next_before(page: list[SignatureInfo], fresh: int, endpoint: Endpoint) -> str:
    """``before`` for the page after ``page``, of which ``fresh`` signatures were new; a full page
    of repeats only would page forever, so it is refused."""
    if not fresh:
        raise RpcMalformed(
            endpoint.name, "getSignaturesForAddress: a full page that does not move back in history"
        )
    return page[-1].signature


class SignatureFeed:
    def __init__(self, pool: RpcPool, program_id: str, page_size: int) -> None:
        self.pool = pool
        self.program_id = program_id
        self.page_size = page_size

    async def _page(
        self, endpoint: Endpoint, before: str | None, until: str | None, limit: int | None = None
    ) -> list[SignatureInfo]:
        opts: dict[str, Any] = {"limit": limit or self.page_size, "commitment": self.pool.commitment}
        if before is not None:
            opts["before"] = before
        if until is not None:
            opts["until"] = until
        reply = await self.pool.call_on(endpoint, "getSignaturesForAddress", [self.program_id, opts])
        try:
            page = _parse_page(reply, endpoint.name)
            # A slot beyond what any endpoint reports comes from a node that lies (or from another
            # cluster); stored in the cursor it would make every later listing look old and
            # freeze ingestion, so the listing is refused before anything is counted.
            ceiling = self.pool.slot_ceiling()
            top = max((info.slot for info in page), default=None)
            if ceiling is not None and top is not None and top > ceiling:
                raise RpcMalformed(
                    endpoint.name,
                    f"getSignaturesForAddress listed slot {top}, beyond the endpoints' slot {ceiling}",
                )
        except RpcMalformed as e:
            self.pool.report_fault(endpoint, e)
            raise
        return page

    async def _on_one_endpoint(self, read: Callable[[Endpoint], Awaitable[T]]) -> T:
        """``read`` done wholly on one endpoint, moving to the next one on an endpoint fault."""
        return await self.pool.failover(lambda endpoint, _round: read(endpoint))

    async def newer_than(self, cursor: Cursor) -> list[SignatureInfo]:
        """Every signature after ``cursor`` (all history if it has none), oldest first."""
        return await self._on_one_endpoint(lambda ep: self._listing(cursor, ep))

    async def _listing(self, cursor: Cursor, endpoint: Endpoint) -> list[SignatureInfo]:
        found: list[SignatureInfo] = []
        seen: set[str] = set()
        before: str | None = None
        repeats = 0
        while True:
            page = await self._page(endpoint, before, cursor.signature)
            known = len(seen)
            ended = len(page) < self.page_size
            for info in page:
                if info.signature == cursor.signature or (
                    cursor.slot is not None and info.slot < cursor.slot
                ):
                    ended = True
                    break
                if info.signature in seen:
                    repeats += 1
                else:
                    seen.add(info.signature)
                    found.append(info)
            if ended:
                if repeats:  # the listing is usable once deduplicated, but the node is faulty
                    err = RpcMalformed(
                        endpoint.name, f"getSignaturesForAddress listed {repeats} signature(s) twice"
                    )
                    self.pool.report_fault(endpoint, err)
                found.reverse()
                return found
            before = _next_before(page, len(seen) - known, endpoint)

    async def _newest(self, endpoint: Endpoint) -> SignatureInfo | None:
        page = await self._page(endpoint, None, None, limit=1)
        return page[0] if page else None

    async def _nth_newest(self, endpoint: Endpoint, n: int) -> SignatureInfo | None:
        """The ``n``-th newest distinct signature (1 = newest), or None when history is shorter."""
        before: str | None = None
        seen: set[str] = set()
        while True:
            page = await self._page(endpoint, before, None)
            known = len(seen)
            for info in page:
                if info.signature not in seen:
                    seen.add(info.signature)
                    if len(seen) == n:
                        return info
            if len(page) < self.page_size:
                return None
            before = _next_before(page, len(seen) - known, endpoint)

    async def _newest_at_or_before(self, endpoint: Endpoint, count: int) -> SignatureInfo | None:
        """The newest signature in a slot <= the endpoint's current slot - ``count``, or None."""
        current = await self.pool.call_on(endpoint, "getSlot", [{"commitment": self.pool.commitment}])
        if not isinstance(current, int) or isinstance(current, bool):
            err = RpcMalformed(endpoint.name, "getSlot did not return an integer")
            self.pool.report_fault(endpoint, err)
            raise err
        before: str | None = None
        while True:
            page = await self._page(endpoint, before, None)
            for info in page:
                if info.slot <= current - count:
                    return info
            if len(page) < self.page_size:
                return None
            before = _next_before(page, int(page[-1].signature != before), endpoint)

    async def start_cursor(self, mode: str, count: int) -> Cursor:
        """Where a first start begins, per the backfill config (see ``BackfillConfig``).

        The cursor is the newest signature *not* to ingest; ``Cursor(None, ...)`` means
        "from the beginning of the program's history".
        """
        start: SignatureInfo | None
        if mode == "now" or (mode == "signatures" and count == 0):
            start = await self._on_one_endpoint(self._newest)
        elif mode == "signatures":
            start = await self._on_one_endpoint(lambda ep: self._nth_newest(ep, count + 1))
        else:
            start = await self._on_one_endpoint(lambda ep: self._newest_at_or_before(ep, count))
        if start is None:
            return Cursor(None, None, None)
        return Cursor(start.signature, start.slot, start.block_time)
