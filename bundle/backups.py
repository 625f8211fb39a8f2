"""Backup rules (issue 17): a backup that stopped. Hooked into ``bundle.config`` (ALERTS); the
threshold is ``backup_max_age_seconds`` in the site config.

``escrow-exporter backup --textfile`` writes ``escrow_backup_last_success_timestamp_seconds{source}``
for node_exporter's textfile collector, so the series carries node_exporter's job, not the
exporter's: the rule selects on the metric name alone.
"""

from __future__ import annotations

from bundle.config import Alert

ALERTS: list[Alert] = [
    Alert(
        name="EscrowBackupStale",
        group="exporter",
        expr="time() - max by (source) (escrow_backup_last_success_timestamp_seconds) > [[threshold]]",
        tiers={"high": "[[backup_max_age_seconds]]"},
        for_="10m",
        summary="A scheduled backup stopped succeeding.",
        description="The last successful backup of {{ $labels.source }} finished {{ $value | humanizeDuration }} ago "
        "(threshold [[threshold]]s): a disk loss now would lose everything since. Check first: "
        "`systemctl status escrow-exporter-backup.service` (or the CronJob's last Job, or the compose "
        "backup service's log) for the error, and free space on the backup volume.",
        dashboard="escrow-exporter",
        condition="last successful backup older than [[threshold]]s for 10m",
    ),
]
