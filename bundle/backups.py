"""Backup rules (issue 17): a backup that stopped. Hooked into ``bundle.config`` (ALERTS); the
threshold is ``backup_max_age_seconds`` in the site config.

``escrow-exporter backup --textfile`` writes ``escrow_backup_last_success_timestamp_seconds{source}``
for node_exporter's textfile collector, so the series carries node_exporter's job, not the
exporter's: the rule selects on the metric name alone. On Kubernetes the CronJob's pod is gone
before any scrape, so its last success comes from kube-state-metrics (which kube-prometheus
scrapes): ``kube_cronjob_status_last_successful_time`` of each CronJob in ``CRONJOBS``, named as
the source it backs up.
"""

from __future__ import annotations

from bundle.config import Alert

#: Backup CronJobs (deploy/kubernetes) -> the source they back up, as the textfile names it.
CRONJOBS = {"escrow-exporter-backup": "state", "escrow-ledger-backup": "ledger"}


def _last_success() -> str:
    ksm = [
        f'label_replace(kube_cronjob_status_last_successful_time{{cronjob="{job}"}}, "source", "{source}", "", "")'
        for job, source in CRONJOBS.items()
    ]
    return "\n  or ".join(["escrow_backup_last_success_timestamp_seconds", *ksm])


ALERTS: list[Alert] = [
    Alert(
        name="EscrowBackupStale",
        group="exporter",
        expr=f"time() - max by (source) (\n  {_last_success()}\n) > [[threshold]]",
        tiers={"high": "[[backup_max_age_seconds]]"},
        for_="10m",
        summary="A scheduled backup stopped succeeding.",
        description="The last successful backup of {{ $labels.source }} finished {{ $value | humanizeDuration }} ago "
        "(threshold [[threshold]]s): a disk loss now would lose everything since. Check first: "
        "`systemctl status escrow-exporter-backup.service` (or the CronJob's last Job, or the compose "
        "backup service's log) for the error, and free space on the backup volume.",
        dashboard="escrow-exporter",
        condition="last successful backup (`escrow_backup_last_success_timestamp_seconds`, or on Kubernetes "
        "`kube_cronjob_status_last_successful_time` of the backup CronJob) older than [[threshold]]s for 10m",
    ),
]
