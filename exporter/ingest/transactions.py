"""Fetch a batch of transactions, asking other endpoints for those the first one lacks.

A node may answer ``null`` for a transaction it has not got (pruned history, a node that is
behind, a provider bug) or -32011 (history not available; the pool fails the whole batch over
for that). Each transaction it lacks is asked of the other endpoints, in the pool's order;
one that no endpoint has stays missing, so the ingester stops there and retries it next cycle,
never skipping it (the lag shows the wait). An endpoint that lacked what another had counts a
fault, so a node that lacks everything stops being the active one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from exporter.rpc.errors import RpcError, RpcIncomplete
from exporter.rpc.pool import RpcPool

log = logging.getLogger("exporter.ingest")


def is_transaction(tx: Any, signature: str) -> bool:
    """True when ``tx`` is the transaction ``signature`` names, with its meta."""
    if not isinstance(tx, dict) or not isinstance(tx.get("meta"), dict):
        return False
    inner = tx.get("transaction")
    sigs = inner.get("signatures") if isinstance(inner, dict) else None
    return isinstance(sigs, list) and bool(sigs) and sigs[0] == signature


async def fetch_transactions(pool: RpcPool, signatures: Sequence[str], opts: dict[str, Any]) -> list[Any]:
    """One reply per signature: the transaction, or what the last endpoint asked answered."""
    first, replies = await pool.batch_from([("getTransaction", [s, opts]) for s in signatures])
    missing = [i for i, sig in enumerate(signatures) if not is_transaction(replies[i], sig)]
    if not missing:
        return replies
    tried = {first.name}
    found_elsewhere = 0
    while missing and (ep := pool.current(tried)) is not None:
        tried.add(ep.name)
        try:
            others = await pool.batch_on(ep, [("getTransaction", [signatures[i], opts]) for i in missing])
        except RpcError:
            continue  # counted by the pool; the next endpoint may have them
        for i, tx in zip(missing, others, strict=False):
            if is_transaction(tx, signatures[i]):
                replies[i] = tx
                found_elsewhere += 1
        missing = [i for i in missing if not is_transaction(replies[i], signatures[i])]
    if found_elsewhere:
        pool.report_fault(
            first,
            RpcIncomplete(
                first.name, f"getTransaction: {found_elsewhere} transaction(s) other endpoints have"
            ),
        )
    return replies
