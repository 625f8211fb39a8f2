"""Errors every layer may raise, below every source package (``ingest/``, ``sql/``, ``rpc/``) and
the collectors that schedule them, so no package has to import one above it."""

from __future__ import annotations


class CollectorError(Exception):
    """A cycle failed for a known reason.

    ``reason`` becomes the ``reason`` label of ``escrow_exporter_collector_errors_total`` and
    must be low-cardinality (``rpc_unavailable``, ``timeout``, ``decode``...); ``message`` is
    for the log and must never contain a secret such as an RPC URL.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
