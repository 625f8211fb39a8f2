"""Cases for the ``exporter`` rule group: the exporter up and collecting, the app's probes, the
exporter's memory and file descriptors, and the backups of its state."""

from __future__ import annotations

from bundle.cases.common import Case, Fired, gauge, held, humanize1024, humanize_duration, percent
from bundle.cases.series import JL, PROBE, PROBE_LABELS, J
from bundle.config import EXPORTER_JOB, PARAMS, PROBE_JOB

MEM = int(PARAMS["exporter_memory_bytes"])
FDS_RATIO = float(PARAMS["exporter_fds_ratio"])

# EscrowBackupStale: the state file's backup as a node_exporter textfile, or the backup CronJob's
# last success from kube-state-metrics.
_BACKUP = 'escrow_backup_last_success_timestamp_seconds{job="node",instance="host:9100",source="state"}'
_BACKUP_AGE = int(PARAMS["backup_max_age_seconds"])
_KSM_BACKUP = (
    'kube_cronjob_status_last_successful_time{job="kube-state-metrics",namespace="escrow-monitoring",'
    'cronjob="escrow-exporter-backup"}'
)
# The last backup finished at Unix time 0 (the test's start): its age is the evaluation time.
# Evaluated every 10m: pending at the first evaluation past the threshold, firing 10m later.
_BACKUP_OVER_M = (_BACKUP_AGE // 600 + 2) * 10

EXPORTER_CASES: list[Case] = [
    *held("EscrowExporterDown", f"up{{{J}}}", 2, "high", JL),
    Case(
        "EscrowExporterAbsent",
        "no target for 6m fires",
        {'up{job="other",instance="x:1"}': "1x10"},
        "6m",
        [Fired("high", {"job": EXPORTER_JOB}, "1")],
    ),
    Case("EscrowExporterAbsent", "a target that is up is quiet", {f"up{{{J}}}": "1x10"}, "6m"),
    *held(
        "EscrowCollectorFailing",
        f'escrow_exporter_collector_up{{{J},collector="balances"}}',
        5,
        "medium",
        {**JL, "collector": "balances"},
    ),
    *held("EscrowAppProbeFailed", f"probe_success{{{PROBE}}}", 2, "critical", PROBE_LABELS),
    Case(
        "EscrowAppProbeFailed",
        "blackbox_exporter down (probe scrape fails, no probe_success) fires",
        {f"up{{{PROBE}}}": "1x5 0x40", f"probe_success{{{PROBE}}}": "1x5"},
        "30m",
        [Fired("critical", PROBE_LABELS, "0")],
    ),
    Case(
        "EscrowAppProbeFailed",
        "every probe target vanished fires",
        {f"up{{{PROBE}}}": "1x5", f"probe_success{{{PROBE}}}": "1x5"},
        "20m",
        [Fired("critical", {"job": PROBE_JOB}, "1")],
    ),
    Case(
        "EscrowAppProbeFailed",
        "probes answering is quiet",
        {f"up{{{PROBE}}}": "1x40", f"probe_success{{{PROBE}}}": "1x40"},
        "30m",
    ),
    Case(
        "EscrowAppProbeFailed",
        "a deployment without probe targets is quiet",
        {f"up{{{J}}}": "1x40"},
        "30m",
    ),
    *gauge(
        "EscrowExporterMemoryHigh",
        f"process_resident_memory_bytes{{{J}}}",
        str(MEM + 1024),
        str(MEM),
        "17m",
        [Fired("medium", JL, humanize1024(MEM + 1024))],
    ),
    Case(
        "EscrowExporterFdsNearLimit",
        "open fds 5% above the ratio fires",
        {
            f"process_open_fds{{{J}}}": f"{round(FDS_RATIO * 1000) + 50}x20",
            f"process_max_fds{{{J}}}": "1000x20",
        },
        "12m",
        [Fired("medium", JL, percent((round(FDS_RATIO * 1000) + 50) / 1000))],
    ),
    Case(
        "EscrowExporterFdsNearLimit",
        "open fds exactly at the ratio is quiet",
        {f"process_open_fds{{{J}}}": f"{round(FDS_RATIO * 1000)}x20", f"process_max_fds{{{J}}}": "1000x20"},
        "12m",
    ),
    Case(
        "EscrowBackupStale",
        f"no backup for {_BACKUP_OVER_M}m fires",
        {_BACKUP: f"0x{_BACKUP_OVER_M + 5}"},
        f"{_BACKUP_OVER_M}m",
        [Fired("high", {"source": "state"}, humanize_duration(_BACKUP_OVER_M * 60))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowBackupStale",
        "a backup every 6 hours is quiet",
        {_BACKUP: " ".join(f"{6 * 3600 * (i // 36)}" for i in range(_BACKUP_OVER_M // 10 + 5))},
        f"{_BACKUP_OVER_M}m",
        interval="10m",
        evaluation_interval="10m",
    ),
    # Kubernetes: the CronJob's last success from kube-state-metrics, no textfile at all.
    Case(
        "EscrowBackupStale",
        f"the backup CronJob's last success {_BACKUP_OVER_M}m ago (kube-state-metrics) fires",
        {_KSM_BACKUP: f"0x{_BACKUP_OVER_M + 5}"},
        f"{_BACKUP_OVER_M}m",
        [Fired("high", {"source": "state"}, humanize_duration(_BACKUP_OVER_M * 60))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowBackupStale",
        f"the ledger's pg_dump CronJob failing for {_BACKUP_OVER_M}m fires as source=ledger, the state's quiet",
        {
            _KSM_BACKUP.replace("escrow-exporter-backup", "escrow-ledger-backup"): f"0x{_BACKUP_OVER_M + 5}",
            _KSM_BACKUP: " ".join(f"{6 * 3600 * (i // 36)}" for i in range(_BACKUP_OVER_M // 10 + 5)),
        },
        f"{_BACKUP_OVER_M}m",
        [Fired("high", {"source": "ledger"}, humanize_duration(_BACKUP_OVER_M * 60))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowBackupStale",
        "the backup CronJob succeeding every 6 hours (kube-state-metrics) is quiet",
        {_KSM_BACKUP: " ".join(f"{6 * 3600 * (i // 36)}" for i in range(_BACKUP_OVER_M // 10 + 5))},
        f"{_BACKUP_OVER_M}m",
        interval="10m",
        evaluation_interval="10m",
    ),
]
