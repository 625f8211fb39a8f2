"""promtool cases for the SLO and platform-health rules (bundle/slo.py, bundle/platform.py).

Every boundary derives from the site config: the number of bad minutes that burns the budget
14.4 times too fast comes from the SLO target, the CPU, memory, disk and connection values sit
between and around the warning/critical pair. ``bundle.cases`` appends these to its ``CASES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from bundle.config import EXPORTER_JOB, PARAMS, PROBE_JOB, SITE, alert_by_name

if TYPE_CHECKING:
    from bundle.cases.common import Case

PROBE = f'job="{PROBE_JOB}",instance="http://app:8080/health"'
PROBE_LABELS = {"job": PROBE_JOB, "instance": "http://app:8080/health"}
J = f'job="{EXPORTER_JOB}",instance="exporter:10190"'
JL = {"job": EXPORTER_JOB, "instance": "exporter:10190"}
NODE = f'job="{SITE.node_job}",instance="host:9100"'
NODE_LABELS = {"job": SITE.node_job, "instance": "host:9100"}
PG = f'job="{SITE.postgres_job}",instance="db:9187"'
PG_LABELS = {"job": SITE.postgres_job, "instance": "db:9187"}
FRESH_S = int(PARAMS["exporter_freshness_seconds"])
assert FRESH_S % 60 == 0, "exporter_freshness_seconds: the cases need whole minutes"


def bad_minutes(objective: str) -> int:
    """Bad one-minute samples that make an hour (61 samples, window ends included) burn the
    budget faster than 14.4x, with one to spare."""
    return math.ceil(14.4 * (1 - float(objective)) * 61) + 1


def minutes(duration: str) -> int:
    """A rule's ``for:`` ("3m", "0m", "1h") in minutes."""
    return int(duration[:-1]) * {"m": 1, "h": 60}[duration[-1]]


def t(v: float) -> str:
    return f"{v:g}"


def pct(v: float) -> str:
    """Prometheus' humanizePercentage."""
    return f"{v * 100:.4g}%"


def _app_cases() -> list[Case]:
    from bundle.cases.common import Case, Fired

    k = bad_minutes(PARAMS["app_availability_slo"])
    ok = f'probe_success{{{PROBE},module="http_2xx"}}'
    body = f'probe_success{{{PROBE},module="http_health_database"}}'
    fast = "EscrowAppErrorBudgetBurnFast"
    slow = "EscrowAppErrorBudgetBurnSlow"
    # 9 good samples and 1 bad every 100 minutes (10m samples): 10 % errors, far above 3x any
    # budget a site would set, for 25 hours.
    flapping = " ".join(["1 1 1 1 1 1 1 1 1 0"] * 15)
    # k failed minutes, each followed by a good one, then good again.
    flicker = " ".join(["0 1"] * k) + f" 1x{k + 30}"
    # The fast burn waits longer than EscrowAppProbeFailed (bundle/slo.py, Slo.fast_for).
    wait = minutes(alert_by_name(fast).for_)
    probe_failed = minutes(alert_by_name("EscrowAppProbeFailed").for_)
    return [
        Case(
            fast,
            f"{k} failed minutes, never two in a row (no EscrowAppProbeFailed), after a healthy hour fire "
            f"after its {wait}m for",
            {ok: f"1x60 {flicker}"},
            f"{60 + 2 * k + wait}m",
            [Fired("critical", PROBE_LABELS, "")],
        ),
        Case(
            fast,
            "the body keyword missing (status 200) counts as failed and fires",
            {ok: f"1x{60 + 2 * k + wait}", body: f"1x60 {flicker}"},
            f"{60 + 2 * k + wait}m",
            [Fired("critical", PROBE_LABELS, "")],
        ),
        Case(
            fast,
            "a 10-minute hard outage that EscrowAppProbeFailed paged is quiet after recovery, though "
            "its windows still burn",
            {ok: "1x60 0x9 1x40"},
            f"{70 + wait}m",
        ),
        Case(
            fast,
            f"a hard outage is still pending when EscrowAppProbeFailed fires ({probe_failed}m): "
            "Alertmanager gets the cause first and mutes this",
            {ok: "1x60 0x20"},
            f"{60 + probe_failed}m",
        ),
        Case(
            fast,
            f"the same {k} failed minutes, over for 40 minutes, is quiet (the short windows are clean)",
            {ok: f"1x60 0x{k - 1} 1x40"},
            f"{100 + k}m",
        ),
        Case(fast, "healthy probes are quiet", {ok: "1x120"}, "120m"),
        Case(
            slow,
            "one failed probe in ten for a day fires",
            {ok: flapping},
            "1500m",
            [Fired("medium", PROBE_LABELS, "")],
            interval="10m",
            evaluation_interval="10m",
        ),
        Case(
            slow,
            "a bad day that ended 7 hours ago is quiet (the 2h and 6h windows are clean)",
            {ok: flapping + " 1x42"},
            "1920m",
            interval="10m",
            evaluation_interval="10m",
        ),
    ]


def _exporter_cases() -> list[Case]:
    from bundle.cases.common import Case, Fired

    k = bad_minutes(PARAMS["exporter_freshness_slo"])
    fresh_m = FRESH_S // 60
    up = f"up{{{J}}}"
    last = f'escrow_exporter_collector_last_success_timestamp_seconds{{{J},collector="balances"}}'
    other = f'escrow_exporter_collector_last_success_timestamp_seconds{{{J},collector="sql"}}'
    fast = "EscrowExporterFreshnessBudgetBurnFast"
    return [
        Case(
            fast,
            f"a collector stuck for {fresh_m + k} minutes ({k} beyond {FRESH_S}s) fires",
            {
                up: f"1x{60 + fresh_m + k}",
                last: f"0+60x60 3600x{fresh_m + k}",
                other: f"0+60x{60 + fresh_m + k}",
            },
            f"{60 + fresh_m + k}m",
            [Fired("high", JL, "")],
        ),
        Case(
            fast,
            f"a collector stuck for exactly {FRESH_S}s is quiet (still fresh)",
            {up: f"1x{60 + fresh_m}", last: f"0+60x60 3600x{fresh_m}", other: f"0+60x{60 + fresh_m}"},
            f"{60 + fresh_m}m",
        ),
        Case(
            fast,
            "failed scrapes are quiet (no sample: EscrowExporterDown pages for them)",
            {up: "1x60 0x10", last: "0+60x60"},
            "70m",
        ),
        Case(
            "EscrowExporterFreshnessBudgetBurnSlow",
            # Every tenth 10-minute sample reports a last success older than the freshness limit.
            "a collector stale once in every 10 samples for a day fires",
            {
                up: "1x150",
                last: " ".join(str((n - (n % 10 == 9) * (FRESH_S // 600 + 1)) * 600) for n in range(150)),
            },
            "1500m",
            [Fired("medium", JL, "")],
            interval="10m",
            evaluation_interval="10m",
        ),
        Case(
            "EscrowExporterFreshnessBudgetBurnSlow",
            "always fresh is quiet",
            {up: "1x150", last: "0+600x150"},
            "1500m",
            interval="10m",
            evaluation_interval="10m",
        ),
    ]


def _latency_cases() -> list[Case]:
    from bundle.cases.common import Case, Fired

    high = float(PARAMS["probe_latency_p95_high_seconds"])
    medium = float(PARAMS["probe_latency_p95_medium_seconds"])
    dur = f"probe_duration_seconds{{{PROBE}}}"
    between = (high + medium) / 2
    return [
        Case(
            "EscrowAppProbeSlow",
            f"{t(high * 1.5)}s probes fire at both tiers",
            {dur: f"{t(high * 1.5)}x20"},
            "12m",
            [
                Fired("high", PROBE_LABELS, f"{high * 1.5:.2f}"),
                Fired("medium", PROBE_LABELS, f"{high * 1.5:.2f}"),
            ],
        ),
        Case(
            "EscrowAppProbeSlow",
            f"{t(between)}s probes fire the warning only",
            {dur: f"{t(between)}x20"},
            "12m",
            [Fired("medium", PROBE_LABELS, f"{between:.2f}")],
        ),
        Case(
            "EscrowAppProbeSlow",
            f"{t(medium)}s probes (at the warning threshold) are quiet",
            {dur: f"{t(medium)}x20"},
            "12m",
        ),
    ]


def _ratio_pair(
    alert: str,
    prefix: str,
    series: Callable[[float], dict[str, str]],
    labels: dict[str, str],
    tiers: tuple[str, str],
) -> list[Case]:
    """Above the critical threshold both tiers fire; between them the warning; just under quiet."""
    from bundle.cases.common import Case, Fired

    medium = float(PARAMS[f"{prefix}_medium_ratio"])
    high = float(PARAMS[f"{prefix}_high_ratio"])
    top, mid, low = round((high + 1) / 2, 4), round((medium + high) / 2, 4), round(medium - 0.01, 4)
    return [
        Case(alert, f"{pct(top)} fires at both tiers", series(top), "20m",
             [Fired(tiers[0], labels, pct(top)), Fired(tiers[1], labels, pct(top))]),
        Case(alert, f"{pct(mid)} fires the warning", series(mid), "20m", [Fired(tiers[1], labels, pct(mid))]),
        Case(alert, f"{pct(low)} (under the warning) is quiet", series(low), "20m"),
    ]  # fmt: skip


def _platform_cases() -> list[Case]:
    from bundle.cases.common import Case, Fired

    def cpu(busy: float) -> dict[str, str]:
        # One CPU idle (1 - busy) of each second: the idle counter grows 60 (1 - busy) a minute.
        return {
            f'node_cpu_seconds_total{{{NODE},cpu="0",mode="idle"}}': f"0+{t(round(60 * (1 - busy), 6))}x30",
            f'node_cpu_seconds_total{{{NODE},cpu="0",mode="user"}}': f"0+{t(round(60 * busy, 6))}x30",
        }

    def memory(used: float) -> dict[str, str]:
        return {
            f"node_memory_MemTotal_bytes{{{NODE}}}": "1000000x30",
            f"node_memory_MemAvailable_bytes{{{NODE}}}": f"{t(round(1000000 * (1 - used)))}x30",
        }

    fs = f'{NODE},device="/dev/sda1",fstype="ext4",mountpoint="/"'
    fs_labels = {**NODE_LABELS, "device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}

    def disk(used: float, readonly: int = 0) -> dict[str, str]:
        return {
            f"node_filesystem_size_bytes{{{fs}}}": "1000000x30",
            f"node_filesystem_avail_bytes{{{fs}}}": f"{t(round(1000000 * (1 - used)))}x30",
            f"node_filesystem_readonly{{{fs}}}": f"{readonly}x30",
        }

    max_conn = f'pg_settings_max_connections{{{PG},server="db:5432"}}'

    def connections(used: float) -> dict[str, str]:
        n = round(used * 1000)
        return {
            max_conn: "1000x30",
            f'pg_stat_activity_count{{{PG},datname="escrow",state="active"}}': f"{n // 2}x30",
            f'pg_stat_activity_count{{{PG},datname="escrow",state="idle"}}': f"{n - n // 2}x30",
        }

    slow_s = float(PARAMS["postgres_slow_query_seconds"])
    tx = f'pg_stat_activity_max_tx_duration{{{PG},datname="escrow",server="db:5432",state="active"}}'
    tx_labels = {**PG_LABELS, "datname": "escrow"}
    longest = f'pg_longest_transaction_seconds{{{PG},datname="escrow",server="db:5432"}}'
    return [
        *_ratio_pair("EscrowNodeCpuHigh", "cpu", cpu, NODE_LABELS, ("high", "medium")),
        *_ratio_pair("EscrowNodeMemoryHigh", "memory", memory, NODE_LABELS, ("high", "medium")),
        *_ratio_pair("EscrowNodeDiskFull", "disk", disk, fs_labels, ("high", "medium")),
        Case(
            "EscrowNodeDiskFull",
            "a full read-only filesystem is quiet (nothing can fill it)",
            disk(0.99, readonly=1),
            "20m",
        ),
        *_ratio_pair(
            "EscrowPostgresConnectionsHigh",
            "postgres_connections",
            connections,
            PG_LABELS,
            ("critical", "medium"),
        ),
        Case(
            "EscrowPostgresDown",
            "the server down for 3 minutes fires",
            {f"pg_up{{{PG}}}": "1 0x10", f"up{{{PG}}}": "1x10"},
            "4m",
            [Fired("critical", PG_LABELS, "")],
        ),
        Case(
            "EscrowPostgresDown",
            "postgres_exporter unreachable for 3 minutes fires",
            {f"pg_up{{{PG}}}": "1", f"up{{{PG}}}": "1 0x10"},
            "4m",
            [Fired("critical", PG_LABELS, "")],
        ),
        Case(
            "EscrowPostgresDown",
            "down for 1 minute (under for) is quiet",
            {f"pg_up{{{PG}}}": "1 0x10", f"up{{{PG}}}": "1x10"},
            "2m",
        ),
        Case(
            "EscrowPostgresSlowQueries",
            f"a transaction active for {t(slow_s + 60)}s fires",
            {tx: f"{t(slow_s + 60)}x10"},
            "5m",
            [Fired("medium", tx_labels, f"{slow_s + 60:.0f}")],
        ),
        Case(
            "EscrowPostgresSlowQueries",
            f"a transaction active for exactly {t(slow_s)}s is quiet",
            {tx: f"{t(slow_s)}x10"},
            "5m",
        ),
        Case(
            "EscrowPostgresSlowQueries",
            f"a nightly pg_dump active for {t(slow_s * 10)}s is quiet (the bundle's query leaves it out)",
            {tx: f"{t(slow_s * 10)}x10", longest: "3x10"},
            "5m",
        ),
        Case(
            "EscrowPostgresSlowQueries",
            f"beside the backup, an application transaction active for {t(slow_s + 60)}s fires",
            {tx: f"{t(slow_s * 10)}x10", longest: f"{t(slow_s + 60)}x10"},
            "5m",
            [Fired("medium", tx_labels, f"{slow_s + 60:.0f}")],
        ),
    ]


def _counter(per_min: float, minutes: int, start: float = 0) -> str:
    return f"{t(start)}+{t(round(per_min, 6))}x{minutes}"


def _ordinary_platform_days() -> list[Case]:
    """Issue 17: the platform alerts stay quiet through what every week brings: a host reboot
    (CPU counters reset, the host gone for 3 minutes), a 3-minute scrape gap, a CPU burst shorter
    than the `for:`, a database restart. Quiet hosts run at 25 % CPU, 50 % memory and disk."""
    from bundle.cases.common import Case

    idle = f'node_cpu_seconds_total{{{NODE},cpu="0",mode="idle"}}'
    user = f'node_cpu_seconds_total{{{NODE},cpu="0",mode="user"}}'
    boot = f"node_boot_time_seconds{{{NODE}}}"
    medium = float(PARAMS["cpu_medium_ratio"])
    # A burst long enough to lift the 5m rate over the warning, shorter than the 5m `for:`.
    burst = 4
    mem_total, mem_avail = (
        f"node_memory_MemTotal_bytes{{{NODE}}}",
        f"node_memory_MemAvailable_bytes{{{NODE}}}",
    )
    up = f"up{{{NODE}}}"
    # Host reboot at minute 20: down 3 minutes (no samples), then counters restart near 0
    # (idle 45 s of each minute since boot at minute 22).
    reboot_idle = f"{_counter(45, 20)} _x2 {_counter(45, 20, 45)}"
    reboot_user = f"{_counter(15, 20)} _x2 {_counter(15, 20, 15)}"
    pg_up, pg_scrape = f"pg_up{{{PG}}}", f"up{{{PG}}}"
    conn = {
        f'pg_settings_max_connections{{{PG},server="db:5432"}}': "100x30",
        f'pg_stat_activity_count{{{PG},datname="escrow",state="active"}}': "10x30",
    }
    cases: list[Case] = []
    for at in (23, 25, 27, 30):
        cases.append(
            Case(
                "EscrowNodeCpuHigh",
                # The downtime inflates the 5m rate (55 % at a real 25 %) only while the window spans it:
                # never for the 5m for:.
                f"a host reboot (down 3 minutes, CPU counters reset) is quiet {at - 20} minutes later",
                {idle: reboot_idle, user: reboot_user, boot: f"0x20 _x2 {22 * 60}x20", up: "1x20 0x2 1x20"},
                f"{at}m",
            )
        )
    cases += [
        Case(
            "EscrowNodeCpuHigh",
            "a 3-minute scrape gap (counters kept counting) is quiet",
            {idle: f"{_counter(45, 20)} _x2 {_counter(45, 20, 45 * 23)}", user: f"{_counter(15, 20)} _x2 {_counter(15, 20, 15 * 23)}"},
            "25m",
        ),
        Case(
            "EscrowNodeCpuHigh",
            f"a {burst}-minute burst at 100 % (the 5m rate over {pct(medium)} for less than the for:) is quiet",
            # Idle stands still for `burst` minutes after minute 20; the 5m rate is over the
            # warning at minutes 24 and 25 only: pending, never for 5 minutes.
            {
                idle: f"{_counter(45, 20)} {45 * 20}x{burst - 1} {_counter(45, 20, 45 * 21)}",
                user: f"{_counter(15, 20)} {_counter(60, burst - 1, 15 * 20 + 60)} "
                f"{_counter(15, 20, 15 * 20 + 60 * burst + 15)}",
            },
            f"{20 + burst + 1}m",
        ),
        Case(
            "EscrowNodeMemoryHigh",
            "a 3-minute scrape gap is quiet",
            {mem_total: "1000000x20 _x2 1000000x20", mem_avail: "500000x20 _x2 500000x20"},
            "25m",
        ),
        Case(
            "EscrowPostgresDown",
            "a database restart (pg_up 0 for 2 evaluations, under the 2m for:) is quiet",
            {pg_up: "1x10 0 0 1x10", pg_scrape: "1x25", **conn},
            "12m",
        ),
        Case(
            "EscrowPostgresDown",
            "a postgres_exporter restart (one failed scrape) is quiet",
            {pg_up: "1x10 _ 1x10", pg_scrape: "1x10 0 1x10", **conn},
            "12m",
        ),
        Case(
            "EscrowPostgresConnectionsHigh",
            "a database restart (connections drop, then come back) is quiet",
            {pg_up: "1x10 0 0 1x10", pg_scrape: "1x25",
             f'pg_settings_max_connections{{{PG},server="db:5432"}}': "100x10 _ _ 100x10",
             f'pg_stat_activity_count{{{PG},datname="escrow",state="active"}}': "10x10 _ _ 60x10"},
            "20m",
        ),
    ]  # fmt: skip
    return cases


APP = f'job="{SITE.app_http_job}",instance="app:8080"'
APP_LABELS = {"job": SITE.app_http_job}
#: Bucket edges of the application's request-duration histogram (the client libraries' defaults).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _http_cases() -> list[Case]:
    """The application's error share and p95: both tiers, the warning only, quiet under it, and
    quiet below http_min_requests in 5 minutes however bad the requests are."""
    from bundle.cases.common import Case, Fired

    min_req = int(PARAMS["http_min_requests"])
    # Requests per minute: well above the floor, and a quiet trickle far below it.
    busy, trickle = max(1000, 2 * min_req), max(1, min_req // 20)

    def requests(per_min: int, errors: float) -> dict[str, str]:
        bad = round(per_min * errors, 6)
        return {
            f'http_requests_total{{{APP},code="200"}}': f"0+{t(round(per_min - bad, 6))}x30",
            f'http_requests_total{{{APP},code="500"}}': f"0+{t(bad)}x30",
        }

    crit = float(PARAMS["http_error_critical_ratio"])
    high, medium = float(PARAMS["http_error_high_ratio"]), float(PARAMS["http_error_medium_ratio"])
    top, upper = round((crit + 1) / 2, 4), round((high + crit) / 2, 4)
    mid, low = round((medium + high) / 2, 4), round(medium / 2, 4)
    err = "EscrowAppHttpErrors"

    def latency(per_min: int, edge: float) -> dict[str, str]:
        """Every request in the bucket just above ``edge`` (p95 interpolated inside it)."""
        series = {f'http_request_duration_seconds_bucket{{{APP},le="{t(b)}"}}':
                  f"0+{per_min if b > edge else 0}x30" for b in HTTP_BUCKETS}  # fmt: skip
        series[f'http_request_duration_seconds_bucket{{{APP},le="+Inf"}}'] = f"0+{per_min}x30"
        series[f'http_requests_total{{{APP},code="200"}}'] = f"0+{per_min}x30"
        return series

    def p95(edge: float) -> str:
        upper = next(b for b in HTTP_BUCKETS if b > edge)
        return f"{edge + 0.95 * (upper - edge):.2f}"

    lat_high = float(PARAMS["http_latency_p95_high_seconds"])
    lat_medium = float(PARAMS["http_latency_p95_medium_seconds"])
    assert lat_medium in HTTP_BUCKETS, "http_latency_p95_medium_seconds: must be a bucket edge"
    above_high = next(b for b in HTTP_BUCKETS if b >= lat_high)  # p95 inside (above_high, next]
    between = lat_medium  # p95 inside (warning edge, next edge]: under the critical threshold
    assert float(p95(between)) < lat_high, "http_latency_p95_*: no bucket between the two thresholds"
    under = max(b for b in HTTP_BUCKETS if b < lat_medium)
    lat = "EscrowAppHttpLatencyHigh"
    return [
        Case(err, f"{pct(top)} server errors (most requests fail) fire at every tier", requests(busy, top), "20m",
             [Fired("critical", APP_LABELS, pct(top)), Fired("high", APP_LABELS, pct(top)),
              Fired("medium", APP_LABELS, pct(top))]),
        Case(err, f"{pct(upper)} server errors fire high and the warning, not the page", requests(busy, upper), "20m",
             [Fired("high", APP_LABELS, pct(upper)), Fired("medium", APP_LABELS, pct(upper))]),
        Case(err, f"{pct(mid)} server errors fire the warning", requests(busy, mid), "20m",
             [Fired("medium", APP_LABELS, pct(mid))]),
        Case(err, f"{pct(low)} server errors (under the warning) are quiet", requests(busy, low), "20m"),
        Case(err, f"{pct(top)} server errors on {trickle} requests a minute (under {min_req} in 5m) are quiet",
             requests(trickle, top), "20m"),
        Case(err, "an application restart (counters reset) is quiet",
             {f'http_requests_total{{{APP},code="200"}}': f"0+{busy}x10 0+{busy}x20",
              f'http_requests_total{{{APP},code="500"}}': f"0+{t(busy * low)}x10 0+{t(busy * low)}x20"}, "13m"),
        Case(lat, f"a p95 of {p95(above_high)}s fires at both tiers", latency(busy, above_high), "20m",
             [Fired("high", APP_LABELS, p95(above_high)), Fired("medium", APP_LABELS, p95(above_high))]),
        Case(lat, f"a p95 of {p95(between)}s fires the warning", latency(busy, between), "20m",
             [Fired("medium", APP_LABELS, p95(between))]),
        Case(lat, f"a p95 of {p95(under)}s (under the warning) is quiet", latency(busy, under), "20m"),
        Case(lat, f"slow requests at {trickle} a minute (under {min_req} in 5m) are quiet",
             latency(trickle, above_high), "20m"),
    ]  # fmt: skip


def _spike_cases(
    alert: str,
    series: str,
    labels: dict[str, str],
    factor_key: str,
    floor_key: str,
    value: Callable[[float], str],
    unit: str,
    busy_hours: bool = True,
    idle: tuple[str, ...] = (),
) -> list[Case]:
    """A spike alert built on _spike_recordings (bundle/platform.py) from the site's factor and
    floor, on 10-minute samples (the withdrawal spike cases' step) of one counter: a spike fires,
    exactly the factor is quiet, a spike without history fires against the 6 hours before, a
    trickle's spike is under the floor; and the ordinary days: busy hours that come every day, a
    restart (the counter back to 0), a scrape gap. One day of history is enough for the same-hour
    baseline (it averages the days that have data) and keeps promtool quick."""
    from bundle.cases.common import Case, Fired, promtool_values

    factor, floor = float(PARAMS[factor_key]), float(PARAMS[floor_key])
    assert factor >= 2, f"{factor_key}: the busy-hours case needs at least 2"
    step = 600  # seconds per sample
    day = 86400 // step
    base = max(2, int(floor // factor) + 1)  # per second; factor x base is above the floor
    spike_at = day + 6  # 01:00 on the second day
    wait = minutes(alert_by_name(alert).for_) // 10  # samples

    def counter(rates: list[float], reset_at: int | None = None, gap: range = range(0)) -> dict[str, str]:
        """The counter of ``rates``: per second in the 10 minutes up to each sample."""
        total, values = 0.0, []
        for i, r in enumerate(rates):
            total = (0.0 if i == reset_at else total) + r * step
            values.append(None if i in gap else total)
        # ``idle`` counters are scraped with it and stand still (a host's transmit beside receive).
        still = promtool_values([None if v is None else 0.0 for v in values])
        return {series: promtool_values(values), **dict.fromkeys(idle, still)}

    def flat(n: int, rate: float, then: float, upto: int) -> list[float]:
        return [rate if i < n else then for i in range(upto)]

    def case(title: str, data: dict[str, str], sample: int, fired: float | None = None) -> Case:
        fires = [Fired("medium", labels, value(fired))] if fired is not None else []
        return Case(alert, title, data, f"{sample * 10}m", fires, interval="10m", evaluation_interval="10m")

    over, at_factor = (factor + 1) * base, factor * base
    # Busy hours every day (08:00-20:00), reached by a one-hour ramp from the night's rate to
    # factor + 1 times it: far above the 6-hour average, not above the same hour of the day before.
    night, busy = float(base), (factor + 1) * base

    def daily(i: int) -> float:
        minute = (i % day) * 10
        if 8 * 60 <= minute < 9 * 60:
            return night + (busy - night) * (minute - 8 * 60 + 10) / 60
        return busy if 9 * 60 <= minute < 20 * 60 else night

    ramp = [daily(i) for i in range(day + 13 * 6)]
    reboot = day + 3
    spike = flat(spike_at, base, over, spike_at + wait + 3)
    cases = [
        case(f"{over:g}{unit} against a {base}{unit} baseline fires after its for", counter(spike), spike_at + wait, over),
        case(f"{over:g}{unit} for less than the for is quiet", counter(spike), spike_at + wait - 1),
        case(f"{at_factor:g}{unit} ({factor:g}x the baseline) is quiet",
             counter(flat(spike_at, base, at_factor, spike_at + wait + 3)), spike_at + wait + 2),
        case(f"without a day of history, {over:g}{unit} after 8 hours at {base}{unit} fires",
             counter(flat(48, base, over, 48 + wait + 3)), 48 + wait + 2, over),
        case(f"a spike from 0.1{unit} to {floor - 1:g}{unit} is under the floor of {floor:g}{unit}",
             counter(flat(spike_at, 0.1, floor - 1, spike_at + wait + 3)), spike_at + wait + 2),
        case("a restart (the counter back to 0) is quiet",
             counter(flat(reboot + 8, base, base, reboot + 8), reset_at=reboot), reboot + wait + 1),
        case("a 20-minute scrape gap (the counter kept counting) is quiet",
             counter(flat(reboot + 8, base, base, reboot + 8), gap=range(reboot, reboot + 2)), reboot + wait + 2),
    ]  # fmt: skip
    for hour in (9, 10, 12) if busy_hours else ():
        sample = day + hour * 6
        cases.append(
            case(
                f"the busy hours every day brings ({busy:g}{unit} from 08:00, {night:g}{unit} at night) are quiet at {hour}:00",
                counter(ramp[: sample + 1]),
                sample,
            )  # fmt: skip
        )
    return cases


def _request_spike_cases() -> list[Case]:
    return _spike_cases(
        "EscrowAppRequestRateSpike",
        f'http_requests_total{{{APP},code="200"}}',
        APP_LABELS,
        "http_request_spike_factor",
        "http_request_spike_floor",
        lambda v: f"{v:.1f}",
        "/s",
    )


def _network_spike_cases() -> list[Case]:
    from bundle.cases.common import Case, humanize1024

    eth0 = f'node_network_receive_bytes_total{{{NODE},device="eth0"}}'
    cases = _spike_cases(
        "EscrowNodeNetworkSpike", eth0, NODE_LABELS, "network_spike_factor", "network_spike_floor_bytes",
        humanize1024, " B/s", busy_hours=False,  # the request rate's cases cover the same baseline
        idle=(f'node_network_transmit_bytes_total{{{NODE},device="eth0"}}',),
    )  # fmt: skip
    # Containers' bridges and veth pairs are not the host's traffic (it crosses eth0 as well): a
    # burst of them alone is quiet, over a day of steady eth0 traffic.
    floor = float(PARAMS["network_spike_floor_bytes"])
    steady, burst = 2 * floor, 100 * floor
    samples = 144 + 12
    spike = [steady * 600 * i for i in range(samples)]
    docker = [0.0] * (144 + 6) + [burst * 600 * k for k in range(1, samples - 144 - 6 + 1)]
    cases.append(
        Case(
            "EscrowNodeNetworkSpike",
            "a burst on docker0 and a veth pair alone (container traffic) is quiet",
            {
                eth0: " ".join(f"{v:.15g}" for v in spike),
                f'node_network_transmit_bytes_total{{{NODE},device="eth0"}}': f"0x{samples - 1}",
                f'node_network_transmit_bytes_total{{{NODE},device="docker0"}}': " ".join(
                    f"{v:.15g}" for v in docker
                ),
                f'node_network_receive_bytes_total{{{NODE},device="veth1a2b3c"}}': " ".join(
                    f"{v:.15g}" for v in docker
                ),
            },
            f"{(samples - 1) * 10}m",
            interval="10m",
            evaluation_interval="10m",
        )
    )
    return cases


def cases() -> list[Case]:
    return [
        *_http_cases(),
        *_request_spike_cases(),
        *_network_spike_cases(),
        *_app_cases(),
        *_exporter_cases(),
        *_latency_cases(),
        *_platform_cases(),
        *_ordinary_platform_days(),
    ]
