#!/bin/sh
# The exporter's own login role: it may read the business tables and nothing else, so the
# exporter's role check passes without `allow_privileged_role` (docs/sql.md "Read-only").
#
# Runs once, at the compose PostgreSQL's first start (the postgres image runs the files of
# /docker-entrypoint-initdb.d in name order, after the schema files 0NN_*.sql), as the database
# owner POSTGRES_USER. Elsewhere: POSTGRES_USER=... POSTGRES_DB=... EXPORTER_DB_PASSWORD=... sh
# schema/postgres/900_exporter_role.sh (libpq's PGHOST/PGPORT say which server).
set -eu
: "${EXPORTER_DB_PASSWORD:?set EXPORTER_DB_PASSWORD (the escrow_exporter role's password)}"

psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$EXPORTER_DB_PASSWORD" <<'SQL'
CREATE ROLE escrow_exporter LOGIN PASSWORD :'password';
GRANT CONNECT ON DATABASE :"DBNAME" TO escrow_exporter;
GRANT USAGE ON SCHEMA public TO escrow_exporter;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO escrow_exporter;
-- Tables the owner creates later (a schema migration) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO escrow_exporter;
SQL
