"""The simulated platform application's own HTTP metrics, served on the simulator's ``/metrics``.

A platform application instrumented with a Prometheus client library serves
``http_requests_total{method, handler, code}`` and the ``http_request_duration_seconds`` histogram
(the library's default buckets); the bundle's alerts (``EscrowAppHttpErrors``,
``EscrowAppHttpLatencyHigh``, ``EscrowAppRequestRateSpike``) and the Application Overview dashboard
read them under the site's ``app_http_job``. The demo and compose stacks run no application, so
the simulator serves what one would: requests in proportion to the transactions it makes
(``REQUESTS_PER_TRANSACTION``: page views and API calls around each join or payout), spread over
the platform's endpoints with a latency distribution and an error share each. Counts are the
expected values of the requests served so far (no sampling noise: a test can predict them, and a
day simulated at once costs no more than a second), floored as a client library's integers are.
``process_start_time_seconds`` (the process collector) marks the application's deployments.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

#: API calls and page loads per on-chain transaction the platform makes.
REQUESTS_PER_TRANSACTION = 6.0
#: prometheus_client's default histogram buckets: the bundle's latency thresholds are edges of them.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


@dataclass(frozen=True)
class Endpoint:
    method: str
    handler: str
    share: float  # of all requests
    median_seconds: float  # log-normal latency
    sigma: float
    client_errors: float  # share answered 4xx (client_code)
    server_errors: float  # share answered 500
    client_code: str = "400"


#: The platform's endpoints: reads are fast; joins and withdrawals sign and submit a transaction.
#: Overall: about 0.25 % 5xx, p50 near 30 ms, p95 near 250 ms, p99 near 0.6 s.
ENDPOINTS = (
    Endpoint("GET", "/api/matches", 0.34, 0.022, 0.55, 0.0, 0.001),
    Endpoint("GET", "/api/matches/{id}", 0.22, 0.018, 0.5, 0.01, 0.001, "404"),
    Endpoint("POST", "/api/matches/{id}/join", 0.12, 0.14, 0.65, 0.02, 0.006),
    Endpoint("GET", "/api/wallet/balance", 0.18, 0.045, 0.6, 0.005, 0.002, "401"),
    Endpoint("POST", "/api/withdrawals", 0.04, 0.3, 0.7, 0.03, 0.008),
    Endpoint("GET", "/health", 0.10, 0.004, 0.3, 0.0, 0.0),
)


def _below(e: Endpoint, le: float) -> float:
    """Share of the endpoint's requests taking at most ``le`` seconds."""
    return 0.5 * math.erfc(-(math.log(le) - math.log(e.median_seconds)) / (e.sigma * math.sqrt(2)))


class AppHttp(Collector):
    def __init__(self) -> None:
        self.served = 0.0  # requests per endpoint are served * share
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        ProcessCollector(registry=self.registry)

    def serve(self, transactions: int) -> None:
        """The requests around ``transactions`` new on-chain transactions."""
        self.served += transactions * REQUESTS_PER_TRANSACTION

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "http_requests",
            "HTTP requests served, by method, route and status code.",
            labels=["method", "handler", "code"],
        )
        durations = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route.",
            labels=["method", "handler"],
        )
        for e in ENDPOINTS:
            n = self.served * e.share
            errors = {"500": n * e.server_errors, e.client_code: n * e.client_errors}
            ok = n - sum(errors.values())
            for code, count in (("200", ok), *errors.items()):
                if count or code == "200":
                    requests.add_metric([e.method, e.handler, code], math.floor(count))
            buckets = [(str(le), math.floor(n * _below(e, le))) for le in BUCKETS] + [("+Inf", math.floor(n))]
            mean = e.median_seconds * math.exp(e.sigma**2 / 2)
            durations.add_metric([e.method, e.handler], buckets, n * mean)
        yield requests
        yield durations

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
