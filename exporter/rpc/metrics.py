"""The RPC layer's metrics, created on the registry the exporter serves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RpcMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "escrow_rpc_up",
            "1 if the endpoint answered its last health check (getHealth and getSlot) and is not lagging.",
            ["endpoint"],
            registry=registry,
        )
        self.active = Gauge(
            "escrow_rpc_active",
            "1 on the endpoint currently in use, 0 on the others.",
            ["endpoint"],
            registry=registry,
        )
        self.slot = Gauge(
            "escrow_rpc_slot",
            "Latest slot the endpoint reported at the configured commitment.",
            ["endpoint"],
            registry=registry,
        )
        self.slot_lag = Gauge(
            "escrow_rpc_slot_lag",
            "Slots the endpoint is behind the reference slot (the median of the answering endpoints' slots).",
            ["endpoint"],
            registry=registry,
        )
        self.slot_ahead = Gauge(
            "escrow_rpc_slot_ahead",
            "Slots the endpoint claims to be ahead of the reference slot when that is more than "
            "max_slot_lag (the endpoint is then not trusted and not used); 0 otherwise.",
            ["endpoint"],
            registry=registry,
        )
        self.requests = Counter(
            "escrow_rpc_requests",
            "JSON-RPC requests by endpoint, method and outcome (success, error, timeout, rate_limited, malformed, "
            "redirected).",
            ["endpoint", "method", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "escrow_rpc_request_duration_seconds",
            "Round-trip time of JSON-RPC HTTP requests (a batch counts once).",
            ["endpoint", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.failovers = Counter(
            "escrow_rpc_failovers",
            "Times the active endpoint changed (failover or failback).",
            registry=registry,
        )
