"""``escrow-exporter sla-report``: a month's availability per SLO, its error budget and the incidents.

    escrow-exporter sla-report --prometheus http://prometheus:9090 [--month 2026-11|previous|current] \\
        [--out /var/lib/escrow-sla-reports]

Reads everything from Prometheus' HTTP API, so it needs no copy of the site config: the SLOs are
the bundle's ``escrow_slo:objective:ratio`` series (``prometheus/rules/slo.yml``), each labelled
with its name (``slo``) and the series of its good evaluations (``sli``: 1 good, 0 bad, per job and
instance). Availability is the mean of that series over the month, as the Uptime & SLO dashboard
computes it; the error budget is ``1 - target`` of the month; incidents are the alerts that fired
(``ALERTS{alertstate="firing"}``, Watchdog aside), counted once per firing, per alert and severity.

Without ``--out`` the Markdown report goes to stdout; with it, ``sla-<month>.md``,
``sla-<month>.csv`` (availability, raw ratios) and ``sla-<month>-incidents.csv`` are written
there (atomically; a re-run overwrites). A month still running is reported up to now. Exit status
1 with one line naming the cause: Prometheus unreachable or refusing a query, no SLO objectives,
no data in the month.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

OBJECTIVE = "escrow_slo:objective:ratio"
#: Resolution of the incident count: a step counts as firing when the alert has a firing sample
#: in the step's last STEP_SECONDS, so even a short firing is seen; two firings less than a step
#: apart count as one.
STEP_SECONDS = 60
#: Always firing by design (the alerting pipeline's heartbeat): never an incident.
WATCHDOG = "Watchdog"
#: Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 10_000


class ReportError(RuntimeError):
    """The report cannot be made; the message names the cause."""


@dataclass(frozen=True)
class Period:
    label: str  # "2026-11"
    start: datetime
    end: datetime  # the month's end, or now while it runs
    complete: bool

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


def period_of(text: str, now: datetime) -> Period:
    """``YYYY-MM``, ``previous`` or ``current`` as a UTC month, cut at ``now``."""
    first = datetime(now.year, now.month, 1, tzinfo=UTC)
    if text == "current":
        start = first
    elif text == "previous":
        start = (
            datetime(now.year - 1, 12, 1, tzinfo=UTC)
            if now.month == 1
            else first.replace(month=now.month - 1)
        )
    else:
        try:
            start = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
        except ValueError:
            raise ReportError(f"--month {text!r}: expected YYYY-MM, previous or current") from None
    end = (
        datetime(start.year + 1, 1, 1, tzinfo=UTC)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    if start >= now:
        raise ReportError(f"--month {start:%Y-%m} has not begun (now {now:%Y-%m-%d %H:%M} UTC)")
    return Period(f"{start:%Y-%m}", start, min(end, now), end <= now)


class Prometheus:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}" if params else f"{self.url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            # Prometheus explains a refused query in its JSON body (bad_data, timeout, ...).
            try:
                why = json.loads(e.read()).get("error", e.reason)
            except ValueError:
                why = e.reason
            raise ReportError(f"Prometheus at {self.url} refused {path}: HTTP {e.code}: {why}") from None
        except urllib.error.URLError as e:
            raise ReportError(f"cannot reach Prometheus at {self.url}: {e.reason}") from None
        except (TimeoutError, ConnectionError) as e:
            raise ReportError(f"cannot reach Prometheus at {self.url}: {e}") from None
        except ValueError:
            raise ReportError(f"{self.url}{path} did not answer JSON: is this Prometheus?") from None
        if body.get("status") != "success":
            raise ReportError(f"Prometheus at {self.url} refused {path}: {body.get('error', body)}")
        return body["data"]

    def instant(self, promql: str, at: datetime) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/query", query=promql, time=f"{at.timestamp():.3f}")["result"])

    def range(self, promql: str, start: datetime, end: datetime, step: int) -> list[dict[str, Any]]:
        return list(
            self.get(
                "/api/v1/query_range",
                query=promql,
                start=f"{start.timestamp():.3f}",
                end=f"{end.timestamp():.3f}",
                step=str(step),
            )["result"]
        )


@dataclass(frozen=True)
class Objective:
    slo: str
    sli: str
    target: float


@dataclass(frozen=True)
class Availability:
    slo: str
    job: str
    instance: str
    target: float
    availability: float  # mean of the SLI over the samples the month has
    samples: int
    coverage: float | None  # share of the month with an evaluation; None: interval unknown

    @property
    def met(self) -> bool:
        return self.availability >= self.target

    @property
    def budget_used(self) -> float:
        """Share of the month's error budget spent (above 1: overspent)."""
        return (1 - self.availability) / (1 - self.target)


@dataclass(frozen=True)
class Incident:
    alertname: str
    severity: str
    fired: int  # separate firings in the month (several instances count separately)
    firing_seconds: int


def objectives(prom: Prometheus, period: Period, now: datetime) -> list[Objective]:
    """The SLO targets as they stood at the month's end; the current ones if the rules did not
    run then (a month before the bundle's objectives existed)."""
    found = prom.instant(f"last_over_time({OBJECTIVE}[{period.seconds}s])", period.end)
    if not found:
        found = prom.instant(OBJECTIVE, now)
    if not found:
        raise ReportError(
            f"no SLO objectives ({OBJECTIVE}) in Prometheus at {prom.url}: load the bundle's rules "
            "(prometheus/rules/slo.yml)"
        )
    out = {}
    for r in found:
        labels = r["metric"]
        if "slo" not in labels or "sli" not in labels:
            raise ReportError(
                f"{OBJECTIVE} {labels} lacks the slo or sli label: regenerate the rules (make rules)"
            )
        out[labels["slo"]] = Objective(labels["slo"], labels["sli"], float(r["value"][1]))
    return sorted(out.values(), key=lambda o: o.slo)


def rule_intervals(prom: Prometheus) -> dict[str, float]:
    """Evaluation interval (s) of each recorded series, from the rule groups Prometheus runs;
    none where the server runs no rules (long-term storage: VictoriaMetrics, Thanos Query):
    the report then shows no data coverage rather than failing."""
    out: dict[str, float] = {}
    try:
        groups = prom.get("/api/v1/rules", type="record")["groups"]
    except ReportError:
        return out
    for group in groups:
        for rule in group["rules"]:
            out[rule["name"]] = float(group["interval"])
    return out


def availability(prom: Prometheus, period: Period, objs: list[Objective]) -> list[Availability]:
    intervals = rule_intervals(prom)
    rows = []
    # Evaluated a millisecond before the end, over the period's length: the window holds the
    # first instant of the month and not the first of the next, whether the range is closed
    # (Prometheus 2) or left-open (Prometheus 3).
    window, at = f"[{period.seconds * 1000}ms]", period.end - timedelta(milliseconds=1)
    for o in objs:
        means = prom.instant(f"avg_over_time({o.sli}{window})", at)
        counts = {
            _key(r["metric"]): int(float(r["value"][1]))
            for r in prom.instant(f"count_over_time({o.sli}{window})", at)
        }
        interval = intervals.get(o.sli)
        for r in means:
            job, instance = _key(r["metric"])
            n = counts.get((job, instance), 0)
            cover = min(1.0, n * interval / period.seconds) if interval else None
            rows.append(Availability(o.slo, job, instance, o.target, float(r["value"][1]), n, cover))
    return sorted(rows, key=lambda a: (a.slo, a.job, a.instance))


def _key(labels: dict[str, str]) -> tuple[str, str]:
    return labels.get("job", ""), labels.get("instance", "")


def incidents(prom: Prometheus, period: Period) -> list[Incident]:
    """Firings per alert and severity: a series present at a step and absent at the one before
    starts a firing. The month is read in chunks below Prometheus' points limit."""
    seen: dict[tuple[tuple[str, str], ...], list[float]] = defaultdict(list)
    chunk = STEP_SECONDS * MAX_POINTS
    t = period.start.timestamp()
    end = period.end.timestamp()
    while t < end:
        upto = min(t + chunk, end)
        # count_over_time, not the bare series: a bare series is looked back 5 minutes past its
        # last sample where no staleness marker ends it (data backfilled or from a crashed
        # Prometheus), which would stretch and merge firings.
        for r in prom.range(
            f'count_over_time(ALERTS{{alertstate="firing", alertname!="{WATCHDOG}"}}[{STEP_SECONDS}s])',
            datetime.fromtimestamp(t, UTC),
            datetime.fromtimestamp(upto, UTC),
            STEP_SECONDS,
        ):
            key = tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("__name__", "alertstate")))
            seen[key] += [float(ts) for ts, _ in r["values"]]
        t = upto + STEP_SECONDS  # the next chunk starts at the next step
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for key, stamps in seen.items():
        labels = dict(key)
        stamps = sorted(set(stamps))
        starts = [i for i, ts in enumerate(stamps) if i == 0 or ts - stamps[i - 1] > STEP_SECONDS * 1.5]
        agg = totals[(labels.get("alertname", ""), labels.get("severity", ""))]
        agg[0] += len(starts)
        for first, nxt in zip(starts, [*starts[1:], len(stamps)], strict=True):
            # From the first step that saw it firing to the last: to the step; at least one step.
            agg[1] += max(int(stamps[nxt - 1] - stamps[first]), STEP_SECONDS)
    return sorted(
        (Incident(name, sev, n, secs) for (name, sev), (n, secs) in totals.items()),
        key=lambda i: (-i.fired, i.alertname, i.severity),
    )


# ---- rendering ------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """45 s, 43 min 12 s, 2 h 5 min, 3 d 4 h."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def percent(ratio: float, digits: int) -> str:
    # Floor, not round: 99.9996 % must not read as a met 100 % nor 99.949 % as 99.95 %.
    scale = 10**digits
    return f"{math.floor(ratio * 100 * scale) / scale:.{digits}f} %"


def markdown(period: Period, url: str, rows: list[Availability], incs: list[Incident], now: datetime) -> str:
    state = "" if period.complete else f" (month to date, up to {period.end:%Y-%m-%d %H:%M} UTC)"
    out = [
        f"# SLA report {period.label}{state}",
        "",
        f"Period {period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M} UTC "
        f"({duration(period.seconds)}); from {url}, made {now:%Y-%m-%d %H:%M} UTC by "
        "`escrow-exporter sla-report`.",
        "",
        "## Availability per SLO",
        "",
        "| SLO | job | instance | target | availability | met | bad time | error budget | budget left | data |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in rows:
        out.append(
            f"| {a.slo} | {a.job} | {a.instance} | {percent(a.target, 3)} | {percent(a.availability, 4)} | "
            f"{'yes' if a.met else '**no**'} | {duration((1 - a.availability) * period.seconds)} | "
            f"{duration((1 - a.target) * period.seconds)} | {percent(1 - a.budget_used, 1)} | "
            f"{'n/a' if a.coverage is None else percent(a.coverage, 1)} |"
        )
    out += [
        "",
        "Availability is the share of the month's evaluations in which the SLO's indicator was good "
        "(for the application: every probe of the health endpoint succeeded; for the exporter: every "
        "collector was fresh). Bad time and error budget are that share of the period; budget left "
        "below 0 % is overspent. Data is the share of the period Prometheus evaluated the indicator "
        "(below 100 %: Prometheus or the target was down or not yet deployed, time the availability "
        "does not cover).",
        "",
        "## Incidents (alerts that fired)",
        "",
    ]
    if incs:
        out += ["| alert | severity | times fired | time firing |", "|---|---|---|---|"]
        out += [f"| {i.alertname} | {i.severity} | {i.fired} | {duration(i.firing_seconds)} |" for i in incs]
        out += [
            "",
            f"Total: {sum(i.fired for i in incs)} firings of {len({i.alertname for i in incs})} alerts.",
        ]
    else:
        out.append("No alert fired.")
    return "\n".join(out) + "\n"


def availability_csv(period: Period, rows: Iterable[Availability]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["month", "slo", "job", "instance", "target", "availability", "met", "bad_seconds", "budget_seconds",
         "budget_left_ratio", "samples", "coverage_ratio"]
    )  # fmt: skip
    for a in rows:
        w.writerow(
            [period.label, a.slo, a.job, a.instance, a.target, f"{a.availability:.8f}", int(a.met),
             round((1 - a.availability) * period.seconds), round((1 - a.target) * period.seconds),
             f"{1 - a.budget_used:.6f}", a.samples, "" if a.coverage is None else f"{a.coverage:.6f}"]
        )  # fmt: skip
    return buf.getvalue()


def incidents_csv(period: Period, incs: Iterable[Incident]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["month", "alertname", "severity", "fired", "firing_seconds"])
    for i in incs:
        w.writerow([period.label, i.alertname, i.severity, i.fired, i.firing_seconds])
    return buf.getvalue()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # a reader (a mail job, a web server) never sees half a report


def report(prometheus: str, month: str, now: datetime, timeout: float = 30.0) -> tuple[Period, str, str, str]:
    """(period, Markdown, availability CSV, incidents CSV); ReportError names what is wrong."""
    period = period_of(month, now)
    prom = Prometheus(prometheus, timeout)
    objs = objectives(prom, period, now)
    rows = availability(prom, period, objs)
    if not rows:
        raise ReportError(
            f"no data for {period.label} in Prometheus at {prom.url}: none of "
            f"{', '.join(o.sli for o in objs)} has a sample between {period.start:%Y-%m-%d} and {period.end:%Y-%m-%d %H:%M} UTC"
        )
    incs = incidents(prom, period)
    return (
        period,
        markdown(period, prom.url, rows, incs, now),
        availability_csv(period, rows),
        incidents_csv(period, incs),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="escrow-exporter sla-report", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://prometheus:9090")
    p.add_argument(
        "--month", default="previous", help="YYYY-MM, previous (default) or current (month to date)"
    )
    p.add_argument(
        "--out", type=Path, help="directory for sla-<month>.md and .csv (default: Markdown to stdout)"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per Prometheus request (default 30)")
    args = p.parse_args(argv)
    try:
        period, md, avail, incs = report(args.prometheus, args.month, datetime.now(UTC), args.timeout)
        if args.out is None:
            sys.stdout.write(md)
            return 0
        args.out.mkdir(parents=True, exist_ok=True)
        _write(args.out / f"sla-{period.label}.md", md)
        _write(args.out / f"sla-{period.label}.csv", avail)
        _write(args.out / f"sla-{period.label}-incidents.csv", incs)
    except ReportError as e:
        print(f"sla-report: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"sla-report: cannot write {e.filename or args.out}: {e.strerror}", file=sys.stderr)
        return 1
    print(f"sla-report: {period.label}: {args.out / f'sla-{period.label}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
