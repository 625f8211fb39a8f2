"""How many transactions the simulator makes over time: a steady rate with a daily shape.

A real platform is quiet at night and busy in the evening. ``DailyShape`` gives the rate at each
hour of the (simulated) day as a multiple of the mean rate: half a cosine wave rising from
``low`` at the trough hour to ``high`` at the peak hour, and half a wave falling back, so the
curve is smooth (no step at either end). Each half averages ``(low + high) / 2``, so with
``low + high == 2`` the mean over a day is exactly 1 and ``--tps`` stays the *mean* rate.

Time compression: a simulated day lasts ``Traffic.day_seconds`` real seconds (86400: real time;
600: a day in ten minutes, for drills). Only the traffic shape is compressed; slots and block times
follow the wall clock, as the exporter and Prometheus do. The simulated day starts at
``start_hour`` (default noon, where the default shape's rate equals the mean).

Deterministic: the number of transactions due between two instants is the exact integral of the
rate, so the same clock readings give the same counts (``DevchainServer.tick``), and the
transactions themselves come from the chain's seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DAY_HOURS = 24.0
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class DailyShape:
    """Rate multipliers over a day: ``low`` at ``trough_hour``, ``high`` at ``peak_hour``."""

    low: float = 0.25
    high: float = 1.75
    trough_hour: float = 4.0
    peak_hour: float = 20.0

    def __post_init__(self) -> None:
        if not (0 <= self.low <= self.high) or not math.isfinite(self.high):
            raise ValueError(f"need 0 <= low <= high, got low={self.low} high={self.high}")
        if not (0 <= self.trough_hour < DAY_HOURS and 0 <= self.peak_hour < DAY_HOURS):
            raise ValueError("trough_hour and peak_hour are hours of the day, 0 <= h < 24")
        if self.trough_hour == self.peak_hour:
            raise ValueError("trough_hour and peak_hour must differ")

    @property
    def rise_hours(self) -> float:
        return (self.peak_hour - self.trough_hour) % DAY_HOURS

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def factor(self, hour: float) -> float:
        """The rate at ``hour`` (any real number; taken modulo 24) as a multiple of the mean."""
        u = (hour - self.trough_hour) % DAY_HOURS
        rise = self.rise_hours
        if u <= rise:
            return _half_wave(u, rise, self.low, self.high)
        return _half_wave(u - rise, DAY_HOURS - rise, self.high, self.low)

    def integral(self, h0: float, h1: float) -> float:
        """∫ factor(h) dh from hour ``h0`` to ``h1`` (hours; ``h1 >= h0``, across days too)."""
        return self._cumulative(h1 - self.trough_hour) - self._cumulative(h0 - self.trough_hour)

    def _cumulative(self, u: float) -> float:
        """∫ factor from the trough of day 0 to ``u`` hours after it."""
        days, u = divmod(u, DAY_HOURS)
        rise = self.rise_hours
        if u <= rise:
            within = _half_wave_integral(u, rise, self.low, self.high)
        else:
            within = _half_wave_integral(rise, rise, self.low, self.high) + _half_wave_integral(
                u - rise, DAY_HOURS - rise, self.high, self.low
            )
        return days * DAY_HOURS * self.mean + within


def _half_wave(x: float, length: float, start: float, end: float) -> float:
    return start + (end - start) * (1 - math.cos(math.pi * x / length)) / 2


def _half_wave_integral(x: float, length: float, start: float, end: float) -> float:
    return start * x + (end - start) / 2 * (x - length / math.pi * math.sin(math.pi * x / length))


#: The default profile's day: 0.25x the mean at 04:00, 1.75x at 20:00 (7 times the night's rate).
PLATFORM_DAY = DailyShape()


@dataclass(frozen=True)
class Traffic:
    """A mean rate's shape in real time: ``shape`` None is a constant rate (the busy profile)."""

    shape: DailyShape | None = None
    day_seconds: float = SECONDS_PER_DAY
    start_hour: float = 12.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.day_seconds) or self.day_seconds <= 0:
            raise ValueError(f"day_seconds must be a finite number > 0, got {self.day_seconds!r}")
        if not (0 <= self.start_hour < DAY_HOURS):
            raise ValueError(f"start_hour must be an hour of the day, 0 <= h < 24, got {self.start_hour!r}")

    def hour_at(self, elapsed: float) -> float:
        """The simulated hour ``elapsed`` real seconds after the start (grows past 24 each day)."""
        return self.start_hour + elapsed * DAY_HOURS / self.day_seconds

    def factor_at(self, elapsed: float) -> float:
        return 1.0 if self.shape is None else self.shape.factor(self.hour_at(elapsed))

    def weight(self, e0: float, e1: float) -> float:
        """∫ factor dt over real seconds ``e0..e1`` after the start: transactions due = tps x this."""
        if self.shape is None:
            return e1 - e0
        hours = self.shape.integral(self.hour_at(e0), self.hour_at(e1))
        return hours * self.day_seconds / DAY_HOURS
