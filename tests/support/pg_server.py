"""A real PostgreSQL for tests: initdb in a temp dir, loopback on a free port, stopped at the end.

Use the ``pg_server`` session fixture (import it into the test module). PostgreSQL refuses to
run as root, so when the tests run as root the server runs as the ``postgres`` system user
(created by the Debian package) and its temp dir is chowned to it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.util import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class PgServer:
    root: Path
    port: int
    run_as: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeError(
                f"{args[0]} failed ({proc.returncode}): {proc.stderr}{proc.stdout}\n{log[-2000:]}"
            )
        return proc

    def psql(self, sql: str, dsn: str | None = None) -> str:
        """Run SQL as the superuser (tests use it to set up data; the exporter never writes)."""
        return self._run(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", dsn or self.dsn, "-c", sql
        ).stdout

    def role_dsn(self, role: str, *grants: str) -> str:
        """DSN of a login role (created if needed) with only ``grants`` (``GRANT ... TO`` clauses
        such as ``"SELECT ON t"``): the exporter refuses the superuser, it reads as a role like this."""
        self.psql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
            f"THEN CREATE ROLE {role} LOGIN; END IF; END $$; GRANT USAGE ON SCHEMA public TO {role};"
            + "".join(f" GRANT {g} TO {role};" for g in grants)
        )
        return self.dsn.replace("postgres@", f"{role}@", 1)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", opts, "-w", "start"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def start_pg_server() -> PgServer:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN} (Debian package postgresql-15)")
    run_as: str | None = None
    root = Path(tempfile.mkdtemp(prefix="escrow-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres system user to run PostgreSQL as")
        run_as = "postgres"
        os.chown(root, user.pw_uid, user.pw_gid)
    server = PgServer(root, free_port(), run_as)
    server.init()
    server.start()
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = start_pg_server()
    try:
        yield server
    finally:
        try:
            server.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            pass  # already stopped (a test stopped it and failed before restarting)
        shutil.rmtree(server.root, ignore_errors=True)
