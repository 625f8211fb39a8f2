"""The promtool case type and what every case module shares.

The shapes of a case (``held``, ``gauge``, ``new_counter``), Prometheus' humanize functions as the
alert descriptions render them, and promtool's series notation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bundle.cases.series import JL, PST, J


@dataclass(frozen=True)
class Fired:
    severity: str
    labels: dict[str, str]
    value: str  # how the description renders {{ $value ... }}


@dataclass(frozen=True)
class Case:
    alert: str
    title: str
    series: dict[str, str]
    at: str
    fires: list[Fired] = field(default_factory=list)
    interval: str = "1m"
    evaluation_interval: str = "1m"


def held(alert: str, series: str, for_min: int, severity: str, labels: dict[str, str]) -> list[Case]:
    """A boolean condition (the series turns 0 at t=1m): fires after ``for``, quiet one minute before."""
    return [
        Case(
            alert,
            f"down for {for_min + 1}m fires",
            {series: "1 0x30"},
            f"{for_min + 2}m",
            [Fired(severity, labels, "0")],
        ),
        Case(
            alert,
            f"down for {max(for_min - 1, 0)}m (just under for) is quiet",
            {series: "1 0x30"},
            f"{for_min}m",
        ),
    ]


def gauge(alert: str, series: str, above: str, at_limit: str, at: str, fired: list[Fired]) -> list[Case]:
    """A gauge compared with a threshold: fires above it, quiet exactly at it."""
    return [
        Case(alert, f"{above} fires", {series: f"{above}x40"}, at, fired),
        Case(alert, f"{at_limit} (at the threshold) is quiet", {series: f"{at_limit}x40"}, at),
    ]


def new_counter(
    alert: str, metric: str, labels: dict[str, str], severity: str, *, created_by_increment: bool
) -> list[Case]:
    """A counter alert. ``created_by_increment``: the exporter renders the series only once it
    counts something (so it appears at 1 or more), rather than from 0."""
    sel = ",".join([J] + [f'{k}="{v}"' for k, v in labels.items()])
    s = f"{metric}{{{sel}}}"
    cases = [
        Case(
            alert,
            "counter grows by 1 fires",
            {s: "0x20 1x10", PST: "0x40"},
            "22m",
            [Fired(severity, {**JL, **labels}, "1")],
        ),
        # The exporter restores its totals from the state file: after 20 minutes down, the
        # series is back at its old value and nothing new happened.
        Case(
            alert,
            "totals restored after a 20-minute downtime are quiet",
            {s: "7x10 _x19 7x20", PST: "0x10 _x19 1800x20"},
            "35m",
        ),
        Case(alert, "a flat counter is quiet", {s: "2x40", PST: "0x40"}, "22m"),
        # Prometheus-side gaps (issue 13): the exporter kept running (same start time) and
        # nothing new happened, but `X unless X offset 15m` saw the series "appear" again.
        Case(
            alert,
            "a 3-minute scrape failure (stale markers) is quiet",
            {s: "2x10 stale _x2 2x20", PST: "0x10 stale _x2 0x20"},
            "27m",
        ),
        Case(
            alert,
            "Prometheus down for 10 minutes is quiet",
            {s: "2x10 _x10 2x20", PST: "0x10 _x10 0x20"},
            "33m",
        ),
    ]
    if created_by_increment:
        cases.append(
            Case(
                alert,
                "a new series starting at 3 (exporter up for 22m) fires",
                {s: "_x19 3x10", PST: "0x40"},
                "22m",
                [Fired(severity, {**JL, **labels}, "3")],
            )
        )
    return cases


def humanize_duration(seconds: float) -> str:
    """Prometheus' humanizeDuration for whole seconds of a minute or more."""
    s = int(seconds)
    d, h, m, sec = s // 86400, s % 86400 // 3600, s % 3600 // 60, s % 60
    if d:
        return f"{d}d {h}h {m}m {sec}s"
    if h:
        return f"{h}h {m}m {sec}s"
    return f"{m}m {sec}s"


def humanize1024(v: float) -> str:
    """Prometheus' humanize1024."""
    prefixes = ["", "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]
    i = 0
    while abs(v) >= 1024 and i < len(prefixes) - 1:
        v /= 1024
        i += 1
    return f"{v:.4g}{prefixes[i]}"


def percent(v: float) -> str:
    """Prometheus' humanizePercentage of a ratio."""
    return f"{v * 100:.4g}%"


def promtool_values(values: list[float | None]) -> str:
    """promtool's series notation for ``values``: runs of a constant step as ``a+dxN``, gaps as ``_``."""
    out: list[str] = []
    i = 0
    while i < len(values):
        v = values[i]
        if v is None:
            out.append("_")
            i += 1
            continue
        run = [v]
        for nxt in values[i + 1 :]:
            if nxt is None or (len(run) > 1 and nxt - run[-1] != run[1] - run[0]):
                break
            run.append(nxt)
        step = run[1] - run[0] if len(run) > 1 else 0.0
        n = len(run) - 1
        text = f"{v:.15g}"
        out.append(text if n == 0 else f"{text}{'+' if step >= 0 else '-'}{abs(step):.15g}x{n}")
        i += n + 1
    return " ".join(out)
