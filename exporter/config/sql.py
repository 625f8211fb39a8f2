"""Config of the SQL collector: databases to read and the queries that become metrics.

Every cross reference (a query's ``database``, a metric's columns versus its labels) is checked
here so that a typo is reported at start-up with its key and line, not at the first cycle.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, ValidationInfo, field_validator, model_validator

from exporter.config.base import Problems, Section, add_repeated_names, line_break_problem, repeated

Driver = Literal["postgres", "sqlite"]

_METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
#: Roots of the families the exporter serves itself (docs/metrics.md): a SQL metric named a root
#: or ``<root>_...`` would register a family twice (or a clashing ``_total``/``_bucket`` sample),
#: which stops ``run``. A test keeps this in step with docs/metrics.md.
_BUILT_IN_ROOTS = (
    "escrow_exporter", "escrow_sql", "process", "python", "escrow_rpc", "escrow_account",
    "escrow_events", "escrow_event", "escrow_transactions", "escrow_transaction",
    "escrow_instructions", "escrow_compute_units", "escrow_logs_truncated", "escrow_ingest",
    "escrow_program_accounts", "escrow_program_account", "escrow_mint", "escrow_reconciliation",
)  # fmt: skip


def is_built_in_family(name: str) -> bool:
    return any(name == root or name.startswith(root + "_") for root in _BUILT_IN_ROOTS)


#: Functions a metrics query never needs whose effects reach past its transaction (other
#: sessions, the server's files and config, notifications, large objects, other databases). A
#: guard against the obvious: the enforcement is the rolled-back READ ONLY transaction, the role
#: check and SQLite's authorizer (docs/sql.md "Read-only").
_DENIED_FUNCTIONS = (
    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
    "pg_promote", "pg_switch_wal", "pg_create_restore_point", "pg_logical_emit_message",
    "pg_notify", "lo_create", "lo_creat", "lo_import", "lo_export", "lo_from_bytea", "lo_put",
    "lo_unlink", "lowrite", "lo_open", "pg_read_file", "pg_read_binary_file", "pg_ls_dir",
    "pg_stat_file", "pg_file_write", "pg_file_rename", "pg_file_unlink", "dblink", "dblink_exec",
    "dblink_connect", "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared", "set_config", "pg_stat_reset", "pg_stat_reset_shared",
    "pg_stat_statements_reset", "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot", "pg_drop_replication_slot",
    "load_extension", "readfile", "writefile", "fts3_tokenizer",
)  # fmt: skip
_DENIED_CALL_RE = re.compile(r'(?<![\w$])"?(' + "|".join(_DENIED_FUNCTIONS) + r')"?\s*\(', re.IGNORECASE)
#: Statements that are not a query: COPY writes files or streams; ATTACH and VACUUM create files.
_DENIED_STATEMENT_RE = re.compile(r"^\s*(COPY|ATTACH|VACUUM)\b", re.IGNORECASE)


def _denied_in_sql(sql: str) -> str | None:
    """Why ``sql`` is refused at load time, else None."""
    if m := _DENIED_STATEMENT_RE.match(sql):
        return f"{m.group(1).upper()} is not a query; the exporter runs read-only SELECTs"
    if m := _DENIED_CALL_RE.search(sql):
        return (
            f"calls {m.group(1).lower()}(), whose effects reach beyond a read-only query; "
            'the exporter refuses it (docs/sql.md "Read-only")'
        )
    return None


class DatabaseConfig(Section):
    """One database. ``dsn`` (PostgreSQL) usually comes from ``${ENV}`` or ``dsn_file``: it holds a password."""

    secret_file_fields = frozenset({"dsn"})

    name: str = Field(pattern=r"^[a-zA-Z0-9_.-]{1,64}$")
    driver: Driver = "sqlite"
    #: PostgreSQL connection string, e.g. ``postgresql://reader@db:5432/app``. Never logged.
    dsn: str | None = None
    #: SQLite file, relative to the config file's directory. Opened read-only.
    path: str | None = None
    #: Connections kept open: PostgreSQL's pool opens at most this many. SQLite keeps this many and
    #: opens a short-lived extra one for a query that waited a second (docs/architecture.md "SQL").
    pool_size: int = Field(default=2, ge=1, le=64)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    #: PostgreSQL: use a role that may do more than read (superuser, server files, signals, table
    #: writes). Refused by default; queries still run READ ONLY and are always rolled back.
    allow_privileged_role: bool = False

    @field_validator("path")
    @classmethod
    def _relative_to_config(cls, v: str | None, info: ValidationInfo) -> str | None:
        base = (info.context or {}).get("base_dir") if info.context else None
        if v is not None and base and not Path(v).is_absolute():
            return str(Path(base) / v)
        return v

    @field_validator("dsn")
    @classmethod
    def _postgres_url(cls, v: str | None) -> str | None:
        """What the driver (asyncpg) accepts. Messages never show the DSN: it holds a password."""
        if v is None:
            return v
        shape = "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE; the value is not shown"
        if problem := line_break_problem(v, "DSN"):
            raise ValueError(problem)
        try:
            u = urlparse(v)
            # asyncpg takes several hosts, "h1:5432,h2:5433": each port must be a number 0..65535
            for host in u.netloc.rpartition("@")[2].split(","):
                urlparse(f"//{host}").port  # noqa: B018 - raises ValueError when it is not
        except ValueError:
            raise ValueError(f"not a valid PostgreSQL URL: bad host or port (expected {shape})") from None
        if u.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"not a PostgreSQL URL (expected {shape})")
        return v

    @model_validator(mode="after")
    def _target(self) -> DatabaseConfig:
        if self.driver == "postgres":
            if not self.dsn:
                raise ValueError("driver postgres needs dsn (or dsn_file)")
            if self.path is not None:
                raise ValueError("path is for driver sqlite; driver postgres uses dsn")
        else:
            if not self.path:
                raise ValueError("driver sqlite needs path")
            if self.dsn is not None:
                raise ValueError("dsn is for driver postgres; driver sqlite uses path")
        return self


class MetricConfig(Section):
    """One metric family built from a query's rows: one sample per row."""

    name: str
    type: Literal["gauge", "counter"] = "gauge"
    help: str = ""
    value_column: str = "value"
    label_columns: list[str] = Field(default_factory=list)
    static_labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _prom_name(cls, v: str) -> str:
        if not _METRIC_RE.match(v):
            raise ValueError(f"{v!r} is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        if is_built_in_family(v):
            raise ValueError(
                f"{v!r} is a family the exporter serves itself (docs/metrics.md); choose another name"
            )
        return v

    @model_validator(mode="after")
    def _labels(self) -> MetricConfig:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        names = [*self.label_columns, *self.static_labels]
        for n in names:
            if not _LABEL_RE.match(n) or n.startswith("__"):
                raise ValueError(f"{n!r} is not a valid Prometheus label name")
        dupes = repeated(names)
        if dupes:
            raise ValueError(f"label names repeated (label_columns and static_labels): {', '.join(dupes)}")
        if self.value_column in self.label_columns:
            raise ValueError(f"column {self.value_column!r} is both value_column and a label column")
        return self


class QueryConfig(Section):
    name: str = Field(pattern=r"^[a-zA-Z0-9_.-]{1,64}$")
    database: str
    #: One SELECT, or a mapping ``{postgres: ..., sqlite: ...}`` when the dialects differ.
    sql: str | dict[Driver, str]
    interval_seconds: float = Field(default=30.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    metrics: list[MetricConfig] = Field(min_length=1)
    #: Most rows read (one series per metric each); past it reading stops and the run is
    #: reported ``too_many_series``, so a runaway query cannot fill the exporter's memory.
    max_series: int = Field(default=1000, ge=1)
    #: After this many intervals without a good run, the query's series disappear.
    staleness_intervals: int = Field(default=5, ge=1)

    @field_validator("sql")
    @classmethod
    def _read_only_sql(cls, v: str | dict[Driver, str]) -> str | dict[Driver, str]:
        for text in [v] if isinstance(v, str) else v.values():
            if problem := _denied_in_sql(text):
                raise ValueError(problem)
        return v

    def sql_for(self, driver: Driver) -> str:
        if isinstance(self.sql, str):
            return self.sql
        return self.sql[driver]

    @model_validator(mode="after")
    def _unique_metrics(self) -> QueryConfig:
        names = [m.name for m in self.metrics]
        dupes = repeated(names)
        if dupes:
            raise ValueError(f"metric names repeated in this query: {', '.join(dupes)}")
        return self


class SqlConfig(Section):
    databases: list[DatabaseConfig] = Field(default_factory=list)
    queries: list[QueryConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_refs(self) -> SqlConfig:
        problems = Problems()
        for key, what, names in (
            ("databases", "database", [d.name for d in self.databases]),
            ("queries", "query", [q.name for q in self.queries]),
        ):
            add_repeated_names(problems, key, what, names)
        drivers = {d.name: d.driver for d in self.databases}
        owner: dict[str, tuple[int, str]] = {}
        for i, q in enumerate(self.queries):
            if q.database not in drivers:
                known = ", ".join(sorted(drivers)) or "none defined"
                problems.add(
                    ("queries", i, "database"),
                    f"query {q.name}: database {q.database!r} is not in sql.databases ({known})",
                )
            elif isinstance(q.sql, dict) and drivers[q.database] not in q.sql:
                problems.add(
                    ("queries", i, "sql"),
                    f"query {q.name}: sql has no {drivers[q.database]!r} variant for database {q.database!r}",
                )
            for j, m in enumerate(q.metrics):
                if m.name in owner and owner[m.name][0] != i:
                    problems.add(
                        ("queries", i, "metrics", j, "name"),
                        f"metric {m.name} is already produced by query {owner[m.name][1]}",
                    )
                owner.setdefault(m.name, (i, q.name))
        problems.raise_if_any()
        return self
