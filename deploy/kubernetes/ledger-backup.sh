#!/bin/sh
# Scheduled pg_dump of the ledger (docs/backups.md): docker-compose.yml's service ledger-backup, and
# the Kubernetes CronJob escrow-ledger-backup (deploy/kubernetes/ledger-backup.sh is a copy of this
# file, kept identical by tests/test_kubernetes.py: kustomize reads files only under its directory).
# Runs in the postgres image, whose pg_dump matches the server (pg_dump refuses an older client);
# that image has no Python, so this writes the same textfile metrics as `escrow-exporter backup
# --pg` (exporter/backup.py) into its own file, which node_exporter's textfile collector merges:
#   escrow_backup_last_success_timestamp_seconds{source="ledger"}, escrow_backup_size_bytes{source="ledger"}
# A failed run leaves the previous file: its age grows and EscrowBackupStale fires.
# Environment: LEDGER_DSN (no password: PGPASSWORD), BACKUP_DIR, BACKUP_KEEP, BACKUP_INTERVAL_SECONDS
# (0: one run, then exit).
set -u
dir=${BACKUP_DIR:-/backups}
keep=${BACKUP_KEEP:-28}
interval=${BACKUP_INTERVAL_SECONDS:-21600}

run_once() {
    final="$dir/ledger-$(date -u +%Y%m%dT%H%M%SZ).dump"
    partial="$dir/.ledger.dump.partial"
    rm -f "$partial"
    if ! pg_dump --format=custom --no-password --file="$partial" --dbname="$LEDGER_DSN"; then
        echo "backup failed: ledger: pg_dump of $LEDGER_DSN failed" >&2
        rm -f "$partial"
        return 1
    fi
    if ! pg_restore --list "$partial" >/dev/null; then
        echo "backup failed: ledger: the dump does not read back (pg_restore --list)" >&2
        rm -f "$partial"
        return 1
    fi
    mv "$partial" "$final"
    size=$(wc -c <"$final" | tr -d ' ')
    tmp="$dir/.escrow_backup_ledger.prom.tmp"
    {
        echo "# HELP escrow_backup_last_success_timestamp_seconds Unix time the last successful backup of the source finished."
        echo "# TYPE escrow_backup_last_success_timestamp_seconds gauge"
        echo "escrow_backup_last_success_timestamp_seconds{source=\"ledger\"} $(date +%s)"
        echo "# HELP escrow_backup_size_bytes Size of the last successful backup of the source, bytes."
        echo "# TYPE escrow_backup_size_bytes gauge"
        echo "escrow_backup_size_bytes{source=\"ledger\"} $size"
    } >"$tmp"
    mv "$tmp" "$dir/escrow_backup_ledger.prom"  # node_exporter never reads half a file
    # The oldest dumps beyond $keep (names sort by time).
    ls -1 "$dir"/ledger-*.dump | sort -r | tail -n +"$((keep + 1))" | while read -r old; do rm -f "$old"; done
    echo "backup: ledger: $final ($size bytes)"
}

while true; do
    run_once
    status=$?
    [ "$interval" -eq 0 ] && exit "$status"
    sleep "$interval"
done
