"""Platform health: the hosts (node_exporter) and the business database (postgres_exporter).

The field's own exporters serve the metrics; this module only adds the platform's threshold table
(seeds 003/004: CPU 70/90 %, memory 80/95 %, disk, connections) as warning/critical pairs. The
recording rules carry the node-mixin's names and expressions (``instance:node_cpu_utilisation:rate5m``,
``instance:node_memory_utilisation:ratio``), so its dashboards read them too; the database rules
follow the postgres-mixin's alerts (down, connections near ``max_connections``, long-running
queries). The application's own HTTP metrics (seeds 003/004: error rate 1/5 %, p95 500/2000 ms)
are read by their standard names, ``http_requests_total{code}`` and the
``http_request_duration_seconds`` histogram, under ``app_http_job``; until the application serves
them these two rules have nothing to read (the demo's application does not: docs/alerts.md). Thresholds: the site config (``bundle/site.yml``); ``bundle.config`` adds these rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bundle.config import Alert, Recording

GROUP = "platform"
RULE_GROUP_FILES = {GROUP: "platform.yml"}
INFRA = "escrow-infrastructure"
SLO = "escrow-slo"
DATABASE = "escrow-database"
APP = "escrow-app-overview"
#: Filesystems worth watching: the node-mixin's fsSelector, minus the memory-backed ones.
FS = 'fstype!="", fstype!~"tmpfs|ramfs|squashfs|nsfs", mountpoint!=""'


def recordings() -> list[Recording]:
    from bundle.config import Recording

    return [
        # node-mixin: busy = not idle, iowait or steal, averaged over the CPUs.
        Recording(
            "instance:node_cpu_utilisation:rate5m",
            "1 - avg without (cpu) (\n"
            '  sum without (mode) (rate(node_cpu_seconds_total{[[node_job]], mode=~"idle|iowait|steal"}[5m]))\n'
            ")",
            GROUP,
        ),
        Recording(
            "instance:node_memory_utilisation:ratio",
            "1 - node_memory_MemAvailable_bytes{[[node_job]]} / node_memory_MemTotal_bytes{[[node_job]]}",
            GROUP,
        ),
        Recording(
            "instance_mountpoint:node_filesystem_used:ratio",
            f"1 - node_filesystem_avail_bytes{{[[node_job]], {FS}}} / node_filesystem_size_bytes{{[[node_job]], {FS}}}\n"
            f"unless on (job, instance, device, mountpoint) node_filesystem_readonly{{[[node_job]], {FS}}} == 1",
            GROUP,
        ),
        Recording(
            "instance:pg_connections_used:ratio",
            "sum by (job, instance) (pg_stat_activity_count{[[postgres_job]]})\n"
            "/ on (job, instance)\n"
            "max by (job, instance) (pg_settings_max_connections{[[postgres_job]]})",
            GROUP,
        ),
        *spike_recordings(),
    ]


#: Spike alerts (the application's request rate, a host's network traffic) are built as
#: EscrowWithdrawalSpike's baseline is: the last 10 minutes against the same hour of the previous
#: 7 days (busy and quiet hours each against their own), or, before a day of history, the hourly
#: rate of the 6 hours before the last one. rate() follows counter resets, so a restart is no
#: spike; a scrape gap leaves fewer samples, not more traffic.
REQUEST_RATE = "job:http_requests:rate10m"
REQUEST_BASELINE = "job:http_requests:rate1h_baseline"
NETWORK_RATE = "instance:node_network_bytes:rate10m"
NETWORK_BASELINE = "instance:node_network_bytes:rate1h_baseline"
#: Interfaces whose traffic is the host's: not loopback, nor container bridges and veth pairs
#: (their traffic also crosses the physical interface, and they come and go with containers).
NET_DEVICES = 'device!~"lo|veth.*|docker.*|br-.*|cni.*|flannel.*"'


def _spike_recordings(prefix: str, rate: str) -> list[Recording]:
    """``<prefix>:rate10m``, ``:rate1h`` and the latter's baseline; ``rate`` has a ``WINDOW``."""
    from bundle.config import Recording

    hour = f"{prefix}:rate1h"
    days = "\n  or ".join(
        f'label_replace({hour} offset {d}d, "baseline_day", "{d}", "", "")' for d in range(1, 8)
    )
    return [
        Recording(f"{prefix}:rate10m", rate.replace("WINDOW", "10m"), GROUP),
        Recording(hour, rate.replace("WINDOW", "1h"), GROUP),
        Recording(f"{hour}_baseline7d", f"avg without (baseline_day) (\n  {days}\n)", GROUP),
        # Only once the 6 hours exist: a first deployment's ramp is no baseline.
        Recording(
            f"{hour}_avg6h",
            f"avg_over_time({hour}[6h] offset 1h)\nand present_over_time({hour}[1h] offset 6h)",
            GROUP,
        ),
        Recording(f"{hour}_baseline", f"{hour}_baseline7d\nor\n{hour}_avg6h", GROUP),
    ]


def spike_recordings() -> list[Recording]:
    return _spike_recordings(
        "job:http_requests", "sum by (job) (rate(http_requests_total{[[app_http_job]]}[WINDOW]))"
    ) + _spike_recordings(
        "instance:node_network_bytes",
        # Two sums: rate() drops the metric name, so one selector over both names would make two
        # series with the same labels (an error) for every interface.
        "\n+ ".join(
            f"sum by (job, instance) (rate(node_network_{d}_bytes_total{{[[node_job]], {NET_DEVICES}}}[WINDOW]))"
            for d in ("receive", "transmit")
        ),
    )


def _pair(metric: str, high: str, medium: str) -> dict[str, str]:
    return {"high": f"[[{metric}_high_{high}]]", "medium": f"[[{metric}_medium_{medium}]]"}


#: Requests of the application in the last 5 minutes, per job: below http_min_requests a single
#: error is already a large share (noise), so neither HTTP alert looks.
_ENOUGH = "sum by (job) (increase(http_requests_total{[[app_http_job]]}[5m])) >= [[http_min_requests]]"


def http_alerts() -> list[Alert]:
    from bundle.config import Alert

    return [
        Alert(
            "EscrowAppHttpErrors",
            GROUP,
            'sum by (job) (rate(http_requests_total{[[app_http_job]], code=~"5.."}[5m]))\n'
            "/ sum by (job) (rate(http_requests_total{[[app_http_job]]}[5m])) > [[threshold]]\n"
            f"and on (job) {_ENOUGH}",
            {"critical": "[[http_error_critical_ratio]]", **_pair("http_error", "ratio", "ratio")},
            "5m",
            "The application answers too many requests with a server error.",
            "{{ $labels.job }} answered {{ $value | humanizePercentage }} of its requests with a 5xx over 5 "
            "minutes (threshold [[threshold]]), for 5 minutes, with at least [[http_min_requests]] requests. "
            'Check first: sum by (code, handler) (rate(http_requests_total{job="{{ $labels.job }}"}[5m])), '
            "the application's error log and its database (EscrowPostgres* alerts).",
            APP,
            "5xx share of `http_requests_total` over 5m above [[threshold]], past [[http_min_requests]] requests in 5m, for 5m",
        ),
        Alert(
            "EscrowAppHttpLatencyHigh",
            GROUP,
            "histogram_quantile(0.95,\n"
            "  sum by (job, le) (rate(http_request_duration_seconds_bucket{[[app_http_job]]}[5m]))\n"
            ") > [[threshold]]\n"
            f"and on (job) {_ENOUGH}",
            {"high": "[[http_latency_p95_high_seconds]]", "medium": "[[http_latency_p95_medium_seconds]]"},
            "5m",
            "The application answers slowly.",
            "The 95th percentile of {{ $labels.job }}'s request durations over 5 minutes is "
            '{{ $value | printf "%.2f" }}s (threshold [[threshold]]s), for 5 minutes. Check first: '
            'histogram_quantile(0.95, sum by (handler, le) (rate(http_request_duration_seconds_bucket{job="{{ $labels.job }}"}[5m]))) '
            "(which handler), the host's CPU and the database's longest transactions.",
            APP,
            "p95 of `http_request_duration_seconds` over 5m above [[threshold]]s, past [[http_min_requests]] requests in 5m, for 5m",
        ),
    ]


def request_rate_spike() -> Alert:
    from bundle.config import Alert

    return Alert(
        "EscrowAppRequestRateSpike",
        GROUP,
        f"{REQUEST_RATE}\n  > [[http_request_spike_factor]] * {REQUEST_BASELINE}\n"
        f"and {REQUEST_RATE} > [[http_request_spike_floor]]",
        {"medium": ""},
        "10m",
        "The application receives far more requests than usual for this hour.",
        '{{ $labels.job }} answered {{ $value | printf "%.1f" }} requests per second over the last 10 minutes, more '
        "than [[http_request_spike_factor]]x the same hour's 7-day average (before 7 days of history: the average "
        "hour of the 6 hours before; ignored below [[http_request_spike_floor]] requests per second), for 10 minutes. "
        "A launch or a campaign, a client retrying in a loop, a scraper or an attack. Check first: "
        'sum by (handler, code) (rate(http_requests_total{job="{{ $labels.job }}"}[10m])) (which route, which '
        "answers), the application's access log by client, and EscrowAppHttpLatencyHigh / EscrowAppHttpErrors "
        "(is it hurting).",
        APP,
        "requests/s over 10m > [[http_request_spike_factor]]x the same hour's 7-day average (before that: the 6 hours "
        "before, once recorded) and > [[http_request_spike_floor]]/s, for 10m",
    )


def network_spike() -> Alert:
    from bundle.config import Alert

    return Alert(
        "EscrowNodeNetworkSpike",
        GROUP,
        f"{NETWORK_RATE}\n  > [[network_spike_factor]] * {NETWORK_BASELINE}\n"
        f"and {NETWORK_RATE} > [[network_spike_floor_bytes]]",
        {"medium": ""},
        "10m",
        "A host moves far more network traffic than usual for this hour.",
        "{{ $labels.instance }} sent and received {{ $value | humanize1024 }}B per second over the last 10 minutes "
        "(all interfaces but loopback and container bridges), more than [[network_spike_factor]]x the same hour's "
        "7-day average (before 7 days of history: the average hour of the 6 hours before; ignored below "
        "[[network_spike_floor_bytes]] bytes per second), for 10 minutes. A backup or a copy, a deployment pulling "
        "images, a request spike, or data leaving that should not. Check first: "
        'sum by (device) (rate(node_network_transmit_bytes_total{instance="{{ $labels.instance }}"}[10m])) and '
        "its receive twin (which direction, which interface), the host's processes by connections, and "
        "EscrowAppRequestRateSpike.",
        INFRA,
        "bytes/s received + sent over 10m > [[network_spike_factor]]x the same hour's 7-day average (before that: "
        "the 6 hours before, once recorded) and > [[network_spike_floor_bytes]] B/s, for 10m",
    )


def alerts() -> list[Alert]:
    from bundle.config import Alert

    return (
        http_alerts()
        + [request_rate_spike(), network_spike()]
        + [
            Alert(
                "EscrowNodeCpuHigh",
                GROUP,
                "instance:node_cpu_utilisation:rate5m > [[threshold]]",
                _pair("cpu", "ratio", "ratio"),
                "5m",
                "A host's CPUs are busy.",
                "{{ $labels.instance }} has used {{ $value | humanizePercentage }} of its CPU time over 5 minutes "
                "(threshold [[threshold]]) for 5 minutes: requests queue and latency grows. Check first: "
                'sum by (mode) (rate(node_cpu_seconds_total{instance="{{ $labels.instance }}"}[5m])) and the '
                "busiest processes on the host.",
                INFRA,
                "`instance:node_cpu_utilisation:rate5m > [[threshold]]` for 5m",
            ),
            Alert(
                "EscrowNodeMemoryHigh",
                GROUP,
                "instance:node_memory_utilisation:ratio > [[threshold]]",
                _pair("memory", "ratio", "ratio"),
                "5m",
                "A host is running out of memory.",
                "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of its memory (threshold "
                "[[threshold]]) for 5 minutes: the kernel will reclaim caches, then kill processes. Check first: "
                'node_memory_MemAvailable_bytes{instance="{{ $labels.instance }}"}, '
                "rate(node_vmstat_oom_kill[1h]) and the largest processes.",
                INFRA,
                "`instance:node_memory_utilisation:ratio > [[threshold]]` for 5m",
            ),
            Alert(
                "EscrowNodeDiskFull",
                GROUP,
                "instance_mountpoint:node_filesystem_used:ratio > [[threshold]]",
                _pair("disk", "ratio", "ratio"),
                "15m",
                "A filesystem is filling up.",
                "{{ $labels.mountpoint }} ({{ $labels.device }}) on {{ $labels.instance }} is "
                "{{ $value | humanizePercentage }} full (threshold [[threshold]]). A full disk stops PostgreSQL, "
                "Prometheus and the exporter's state file. Check first: "
                'predict_linear(node_filesystem_avail_bytes{instance="{{ $labels.instance }}", '
                'mountpoint="{{ $labels.mountpoint }}"}[6h], 86400) and what grew (du, the TSDB, WAL, logs).',
                INFRA,
                "`instance_mountpoint:node_filesystem_used:ratio > [[threshold]]` (writable filesystems) for 15m",
            ),
            Alert(
                "EscrowPostgresDown",
                GROUP,
                # postgres_exporter up but the server not answering (pg_up 0), or the exporter itself
                # unreachable: either way nobody can see the database.
                "pg_up{[[postgres_job]]} == 0 or up{[[postgres_job]]} == 0",
                {"critical": ""},
                "2m",
                "The business database is down (or its exporter cannot reach it).",
                "postgres_exporter {{ $labels.instance }} reports the server down for 2 minutes: the "
                "platform's writes (matches, payments, withdrawals) fail and the ledger falls behind the chain. "
                'Check first: pg_up and up{job="{{ $labels.job }}"} (which side is down), then the PostgreSQL '
                "log and `pg_isready`.",
                DATABASE,
                "`pg_up == 0` or postgres_exporter unreachable (`up == 0`), for 2m",
            ),
            Alert(
                "EscrowPostgresConnectionsHigh",
                GROUP,
                "instance:pg_connections_used:ratio > [[threshold]]",
                # The platform's policy: a database connection pool exhausted is P0.
                {
                    "critical": "[[postgres_connections_high_ratio]]",
                    "medium": "[[postgres_connections_medium_ratio]]",
                },
                "5m",
                "The business database is running out of connections.",
                "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of max_connections (threshold "
                "[[threshold]]) for 5 minutes: new connections will be refused. Check first: "
                'sum by (datname, state) (pg_stat_activity_count{instance="{{ $labels.instance }}"}) '
                "(idle in transaction = a leaking pool) and the application's pool size.",
                DATABASE,
                "`instance:pg_connections_used:ratio > [[threshold]]` for 5m",
            ),
            Alert(
                "EscrowPostgresSlowQueries",
                GROUP,
                # The bundle's own query (prometheus/postgres_exporter/queries.yaml) leaves pg_dump
                # backups out; a postgres_exporter without it falls back to the built-in metric.
                "max by (job, instance, datname) (\n"
                '  pg_longest_transaction_seconds{[[postgres_job]], datname!~"template.*"}\n'
                "  or on (job, instance, datname)\n"
                '  pg_stat_activity_max_tx_duration{[[postgres_job]], state="active", datname!~"template.*"}\n'
                ") > [[threshold]]",
                {"medium": "[[postgres_slow_query_seconds]]"},
                "2m",
                "A query or transaction on the business database runs for too long.",
                "The longest active transaction on {{ $labels.datname }} ({{ $labels.instance }}) has run for "
                '{{ $value | printf "%.0f" }}s (threshold [[threshold]]s) for 2 minutes: it holds locks and '
                "connections others wait for. Check first: SELECT pid, now() - xact_start, state, query FROM "
                "pg_stat_activity ORDER BY xact_start.",
                DATABASE,
                "oldest active transaction > [[threshold]]s for 2m, pg_dump backups excepted "
                '(`pg_longest_transaction_seconds`, else `pg_stat_activity_max_tx_duration{state="active"}`)',
            ),
        ]
    )
