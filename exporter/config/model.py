"""The config file's schema. Every section rejects unknown keys (see ``Section``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, ValidationInfo, field_validator, model_validator

from exporter.config.base import Problems, Section, add_repeated_names, header_problems, line_break_problem
from exporter.config.programs import MintConfig, ProgramConfig
from exporter.config.reconcile import ReconciliationConfig, reference_problems
from exporter.config.sql import SqlConfig
from exporter.solana import parse_pubkey, seed_bytes

Commitment = Literal["processed", "confirmed", "finalized"]
#: What the exporter accepts: ``processed`` can show (and notify over PubSub) transactions of a
#: fork the cluster then abandons, and exactly-once totals cannot take a count back.
INGEST_COMMITMENTS = ("confirmed", "finalized")
#: Slowest rate limit accepted for an endpoint.
MIN_RATE_LIMIT_RPS = 0.01


class EndpointConfig(Section):
    """One Solana JSON-RPC provider. Only ``name`` is ever shown: URLs carry API keys."""

    secret_file_fields = frozenset({"url", "ws_url"})

    name: str = Field(pattern=r"^[a-zA-Z0-9_.-]{1,64}$")
    url: str
    #: The node's PubSub WebSocket URL (programs with ``source: logs``). Default: ``url`` with
    #: ws:// for http:// and wss:// for https://, as providers serve both on one URL. A bare
    #: ``solana-test-validator`` serves it on the RPC port + 1: give that one here.
    ws_url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    rate_limit_rps: float = 20.0
    #: Most providers meter each call inside a JSON-RPC batch; some meter HTTP requests.
    rate_limit_per_batch_item: bool = True
    max_concurrency: int = Field(default=8, ge=1, le=256)
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    #: A bigger answer is refused (RpcMalformed) instead of being buffered: a provider bug or
    #: an unbounded getProgramAccounts must not exhaust the exporter's memory.
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        # Never echo the URL itself: it may hold an API key.
        if problem := line_break_problem(v, "URL"):  # first: urlparse drops line breaks silently
            raise ValueError(problem)
        try:
            u = urlparse(v)
            port = u.port
        except ValueError:  # e.g. "http://[::1" or a port that is not a number 0..65535
            raise ValueError("not a valid URL: bad host or port (the URL is not shown)") from None
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if port == 0:
            raise ValueError("not a valid URL: port 0 (the URL is not shown)")
        return v

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if problem := line_break_problem(v, "URL"):
            raise ValueError(problem)
        try:
            u = urlparse(v)
            u.port  # noqa: B018 - raises on a port that is not a number 0..65535
        except ValueError:
            raise ValueError("not a valid URL: bad host or port (the URL is not shown)") from None
        if u.scheme not in ("ws", "wss") or not u.hostname:
            raise ValueError("must be a ws:// or wss:// URL")
        return v

    def websocket_url(self) -> str:
        """``ws_url``, else ``url`` with the WebSocket scheme (same host, port and path)."""
        if self.ws_url is not None:
            return self.ws_url
        scheme, rest = self.url.split("://", 1)
        return ("wss" if scheme.lower() == "https" else "ws") + "://" + rest

    @field_validator("rate_limit_rps")
    @classmethod
    def _sendable_rate(cls, v: float) -> float:
        # 1e-300 passed `gt=0` and then the endpoint waited ~1e300 s for its first token.
        if not v >= MIN_RATE_LIMIT_RPS:
            raise ValueError(
                f"must be at least {MIN_RATE_LIMIT_RPS} (one request every {1 / MIN_RATE_LIMIT_RPS:.0f} "
                "seconds); a smaller limit would never send"
            )
        return v

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, v: dict[str, str]) -> dict[str, str]:
        problems = Problems()
        for loc, message in header_problems(v):
            problems.add(loc, message)
        problems.raise_if_any()
        return v

    @model_validator(mode="after")
    def _one_kind_of_credentials(self) -> EndpointConfig:
        # aiohttp refuses to send a request with both; no provider needs both.
        auth = next((k for k in self.headers if k.lower() == "authorization"), None)
        if auth is not None and urlparse(self.url).username is not None:
            raise ValueError(
                f"headers.{auth}: cannot be combined with credentials in the url (user:password@); "
                "keep one of them (neither is shown)"
            )
        return self


class SolanaConfig(Section):
    endpoints: list[EndpointConfig] = Field(min_length=1)
    commitment: Commitment = "confirmed"
    health_interval_seconds: float = Field(default=5.0, gt=0)
    #: An endpoint this many slots behind the highest trusted slot is unhealthy.
    max_slot_lag: int = Field(default=50, ge=1)
    #: With fewer than three endpoints voting, one this many slots ahead of the other is not
    #: trusted (a devnet URL by mistake, a lying node); with three or more, max_slot_lag applies.
    max_slot_ahead: int = Field(default=1000, ge=1)
    #: How long the preferred endpoint must stay healthy before we fail back to it.
    failback_after_seconds: float = Field(default=30.0, ge=0)
    #: Consecutive failed requests that make the active endpoint fail over.
    failover_after_errors: int = Field(default=2, ge=1)

    @field_validator("commitment")
    @classmethod
    def _ingest_commitment(cls, v: str) -> str:
        if v not in INGEST_COMMITMENTS:
            raise ValueError(
                f"{v!r} is refused: use confirmed or finalized ({v} can report transactions of a "
                "fork that never lands, and exactly-once totals cannot take a count back)"
            )
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> SolanaConfig:
        _unique("endpoints", "endpoint", [e.name for e in self.endpoints])
        return self


class PdaConfig(Section):
    """An address derived from a program id and seeds (``find_program_address``)."""

    program_id: str
    #: Each seed is ``"str:TEXT"``, ``"pubkey:BASE58"``, ``"u64:N"`` (little endian) or ``"hex:..."``.
    seeds: list[str] = Field(min_length=1)

    @field_validator("program_id")
    @classmethod
    def _pubkey(cls, v: str) -> str:
        parse_pubkey(v)
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[str]) -> list[str]:
        for s in v:
            seed_bytes(s)
        return v


class AccountConfig(Section):
    name: str = Field(pattern=r"^[a-zA-Z0-9_.:-]{1,64}$")
    address: str | None = None
    pda: PdaConfig | None = None
    #: ``sol`` reads lamports; ``token`` reads an SPL Token / Token-2022 token account.
    kind: Literal["sol", "token"] = "sol"
    #: What alert rules treat it as: the wallet-floor alert watches ``treasury`` and ``fee``.
    #: A closed set, so that a typo (``tresury``) cannot drop a wallet out of an alert silently;
    #: ``other`` is watched and graphed but in no role-based alert.
    role: Literal["escrow", "treasury", "fee", "other"] = "escrow"

    @field_validator("address")
    @classmethod
    def _pubkey(cls, v: str | None) -> str | None:
        if v is not None:
            parse_pubkey(v)
        return v

    @model_validator(mode="after")
    def _one_address(self) -> AccountConfig:
        if (self.address is None) == (self.pda is None):
            raise ValueError("set exactly one of address or pda")
        return self


class BalancesConfig(Section):
    interval_seconds: float = Field(default=15.0, gt=0)
    #: After this many intervals without a good fetch, a balance series disappears.
    staleness_intervals: int = Field(default=5, ge=1)
    accounts: list[AccountConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> BalancesConfig:
        _unique("accounts", "account", [a.name for a in self.accounts])
        return self


class StateConfig(Section):
    #: SQLite file holding ingestion cursors and counter totals, written atomically.
    #: Relative to the config file's directory, the default too: where the exporter is started
    #: from must not decide which file holds the exactly-once totals.
    path: str = Field(default="var/state.sqlite", validate_default=True)

    @field_validator("path")
    @classmethod
    def _relative_to_config(cls, v: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("base_dir")
        return str(Path(base) / v) if base and not Path(v).is_absolute() else v


def _same_mints(programs: list[ProgramConfig]) -> None:
    """A mint's decimals and symbol are facts of the mint: two programs may not disagree."""
    problems = Problems()
    first: dict[str, tuple[int, MintConfig]] = {}
    for i, program in enumerate(programs):
        for address, mint in program.mints.items():
            j, seen = first.setdefault(address, (i, mint))
            if seen != mint:
                problems.add(
                    ("programs", i, "mints", address),
                    f"differs from programs[{j}].mints (decimals and symbol are the mint's own)",
                )
    problems.raise_if_any()


def _unique(key: str, what: str, names: list[str]) -> None:
    problems = Problems()
    add_repeated_names(problems, key, what, names)
    problems.raise_if_any()


class Config(Section):
    #: Needed only by the chain collectors (balances, programs): a SQL-only shard has none.
    solana: SolanaConfig | None = None
    balances: BalancesConfig = Field(default_factory=BalancesConfig)
    programs: list[ProgramConfig] = Field(default_factory=list)
    sql: SqlConfig | None = None
    reconciliation: ReconciliationConfig | None = None
    #: Validated even when absent, so that the default path is resolved like a given one.
    state: StateConfig = Field(default_factory=dict, validate_default=True)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _unique_program_names(self) -> Config:
        # Program names key the state file: two programs with one name would share totals.
        _unique("programs", "program", [p.name for p in self.programs])
        _same_mints(self.programs)
        if self.solana is None and (self.balances.accounts or self.programs):
            problems = Problems()
            problems.add(("solana",), "required key is missing (balances and programs read the chain)")
            problems.raise_if_any()
        return self

    @model_validator(mode="after")
    def _reconciliation_references(self) -> Config:
        if self.reconciliation is not None:
            problems = reference_problems(
                self.reconciliation,
                {
                    p.name: {e: {a.field for a in m.amounts} for e, m in p.events.items()}
                    for p in self.programs
                },
                {a.name: a.role for a in self.balances.accounts},
                {d.name for d in self.sql.databases} if self.sql else set(),
            )
            located = Problems()
            for loc, message in problems:
                located.add(loc, message)
            located.raise_if_any()
        return self

    def summary(self) -> str:
        return (
            f"{len(self.solana.endpoints) if self.solana else 0} RPC endpoint(s), {len(self.balances.accounts)} account(s), "
            f"{len(self.programs)} program(s), "
            f"{len(self.sql.queries) if self.sql else 0} SQL quer{'y' if self.sql and len(self.sql.queries) == 1 else 'ies'}"
        )
