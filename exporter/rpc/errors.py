"""RPC failures, split by what the pool should do about them.

Messages name the endpoint by its configured *name* only: URLs carry API keys.
"""

from __future__ import annotations


class RpcError(Exception):
    """Base class. ``outcome`` is the ``outcome`` label of ``escrow_rpc_requests_total``."""

    outcome = "error"
    #: True when another endpoint may well answer: the pool fails over and retries.
    endpoint_fault = True

    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(f"endpoint {endpoint}: {message}")
        self.endpoint = endpoint


class RpcTransportError(RpcError):
    """Connection refused or reset, HTTP 5xx, unreadable body."""


class RpcRedirected(RpcError):
    """An HTTP redirect (3xx). JSON-RPC is never redirected: following would send the API key
    headers and the request body to whatever origin the answer names."""

    outcome = "redirected"

    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(
            endpoint,
            f"{message}: redirect refused (JSON-RPC requests are not redirected; configure the final URL)",
        )


class RpcTimeout(RpcError):
    outcome = "timeout"


class RpcRateLimited(RpcError):
    """HTTP 429 (or JSON-RPC 429). ``retry_after`` from the header when the provider sent one."""

    outcome = "rate_limited"

    def __init__(self, endpoint: str, retry_after: float | None) -> None:
        super().__init__(endpoint, "rate limited (HTTP 429)")
        self.retry_after = retry_after


class RpcMalformed(RpcError):
    """The body is not the JSON-RPC shape we asked for."""

    outcome = "malformed"


class RpcNodeError(RpcError):
    """A JSON-RPC ``error`` object. Node-health codes fail over; request errors do not."""

    # -32005 node is behind, -32004 block not available, -32016 min context slot not reached,
    # -32011 transaction history not available (on this node), -32603 internal error (the node's
    # fault, not the request's): another node may well answer.
    # Anything else (e.g. -32602 invalid params) would fail the same way everywhere, so failing
    # over would only hide a bug.
    NODE_HEALTH_CODES = frozenset({-32005, -32004, -32016, -32014, -32011, -32603})

    def __init__(self, endpoint: str, code: int, message: str) -> None:
        super().__init__(endpoint, f"JSON-RPC error {code}: {message}")
        self.code = code
        self.rpc_message = message
        self.endpoint_fault = code in self.NODE_HEALTH_CODES


class RpcIncomplete(RpcError):
    """The endpoint answered, but lacks data another endpoint has (a transaction it returned as
    ``null``): it is not counted as a failed request, but it counts toward failing over."""

    outcome = "incomplete"


class NoHealthyEndpoint(RpcError):
    """Every endpoint failed for this request."""

    def __init__(self, last: RpcError | None) -> None:
        detail = f" (last error: {last})" if last else ""
        super().__init__("*", f"no RPC endpoint could answer{detail}")
        self.last = last
