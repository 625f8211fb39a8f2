"""The role check run on every new PostgreSQL connection: refuse a role that can do what a
rolled-back READ ONLY transaction cannot undo.

A READ ONLY transaction that is always rolled back undoes everything transactional a query does
(``pg_notify``, ``lo_create``, ``set_config``...). What it cannot undo needs privileges a reader
does not have: signalling other sessions, reloading the server's config, reading or writing the
server's files, creating roles. A role holding any of them, or allowed to write a table, is
refused (``allow_privileged_role: true`` on the database opts out, for development setups).
"""

from __future__ import annotations

import asyncpg

#: Predefined roles whose members act outside the transaction (signals, server files, programs).
PRIVILEGED_ROLES = (
    "pg_signal_backend",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_checkpoint",
    "pg_write_all_data",  # writes every table, including ones created later
)

#: Functions with effects no rollback undoes, or that read the server's files; EXECUTE on them
#: is revoked from PUBLIC by default, so a role that may run them was granted it on purpose.
PRIVILEGED_FUNCTIONS = (
    "pg_reload_conf()",
    "pg_rotate_logfile()",
    "pg_promote(boolean,integer)",
    "pg_switch_wal()",
    "pg_create_restore_point(text)",
    "pg_read_file(text)",
    "pg_read_binary_file(text)",
    "pg_ls_dir(text)",
    "pg_stat_file(text)",
    "lo_import(text)",
    "lo_export(oid,text)",
    "pg_file_write(text,text,boolean)",  # adminpack, when installed
)

_CHECK = """
SELECT r.rolsuper, r.rolcreaterole, r.rolreplication,
  ARRAY(SELECT g.rolname FROM pg_roles g
        WHERE g.rolname = ANY($1::text[]) AND pg_has_role(current_user, g.oid, 'MEMBER')
        ORDER BY g.rolname) AS roles,
  ARRAY(SELECT f FROM unnest($2::text[]) AS f
        WHERE to_regprocedure(f) IS NOT NULL
          AND has_function_privilege(to_regprocedure(f), 'EXECUTE')) AS functions,
  ARRAY(SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
          AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
        ORDER BY 1 LIMIT 4) AS writable
FROM pg_roles r WHERE r.rolname = current_user
"""


class PrivilegedRole(Exception):
    """The connection's role may do more than read; ``problems`` says what, one item each."""

    def __init__(self, role: str, problems: list[str]) -> None:
        self.role = role
        self.problems = problems
        super().__init__(f"role {role} " + "; ".join(problems))


async def role_problems(conn: asyncpg.Connection) -> list[str]:
    """What the connection's role may do beyond reading (empty: a reader)."""
    row = await conn.fetchrow(_CHECK, list(PRIVILEGED_ROLES), list(PRIVILEGED_FUNCTIONS))
    if row is None:  # current_user not in pg_roles cannot happen; treat it as unknown, refuse
        return ["could not be looked up in pg_roles"]
    if row["rolsuper"]:
        return ["is a superuser"]
    out = []
    if row["rolcreaterole"]:
        out.append("has CREATEROLE (it can grant itself any role)")
    if row["rolreplication"]:
        out.append("has REPLICATION")
    if row["roles"]:
        out.append(f"is a member of {', '.join(row['roles'])}")
    if row["functions"]:
        out.append(f"may execute {', '.join(row['functions'])}")
    if row["writable"]:
        out.append(f"may write tables, e.g. {', '.join(row['writable'])}")
    return out


async def refuse_privileged_role(conn: asyncpg.Connection) -> None:
    """asyncpg pool ``init`` hook: raise ``PrivilegedRole`` for a role that may do more than read."""
    problems = await role_problems(conn)
    if problems:
        raise PrivilegedRole(str(await conn.fetchval("SELECT current_user")), problems)
