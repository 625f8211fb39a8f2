"""The simulator's default traffic has a platform's daily shape (quiet night, busy evening), a day
can be compressed into minutes, ``--tps`` is the mean, and the same seed gives the same day.

Counts come from the simulator's own ground truth (``Chain.state()`` transactions, and the server's
per-hour tally), driven by an injected clock: no wall-clock timing anywhere."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from devchain.chain import Chain
from devchain.server import DevchainServer
from devchain.traffic import PLATFORM_DAY, DailyShape, Traffic
from tests.support.devchain_proc import assert_fails, devchain_cli
from tests.support.util import free_port

DAY_SECONDS = 600.0  # a drill's day: ten minutes
MEAN_TPS = 2.0
#: Phases of the simulated day (hours).
PHASES = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}


def made(chain: Chain) -> int:
    tx = chain.state()["transactions"]
    return int(tx["success"] + tx["failed"])


def ticks(step: float, end: float, jitter: float = 0.0) -> Iterator[float]:
    """Clock readings from 0 to ``end``, ``step`` apart (stretched by ``jitter`` every other tick,
    as a loaded event loop wakes late)."""
    t, i = 0.0, 0
    while t < end:
        yield t
        i += 1
        t += step * (1 + jitter * (i % 2))
    yield end


def run_day(seed: int, step: float, jitter: float = 0.0) -> tuple[DevchainServer, dict[str, int]]:
    """One simulated day from midnight, returning the transactions made in each phase."""
    chain = Chain(seed=seed, genesis_time=1_700_000_000)
    server = DevchainServer(chain, tps=MEAN_TPS, traffic=Traffic(PLATFORM_DAY, DAY_SECONDS, start_hour=0))
    boundaries = {h: DAY_SECONDS * h / 24 for h in (6, 12, 18, 24)}
    at: dict[int, int] = {0: 0}
    pending = sorted(boundaries.items())
    for now in ticks(step, DAY_SECONDS, jitter):
        while pending and pending[0][1] <= now:
            hour, when = pending.pop(0)
            server.tick(when)
            at[hour] = made(chain)
        server.tick(now)
    per_phase = {name: at[end] - at[start] for name, (start, end) in PHASES.items()}
    return server, per_phase


def test_shape_is_smooth_between_night_and_evening_and_averages_one() -> None:
    shape = PLATFORM_DAY
    assert shape.factor(4) == pytest.approx(0.25) and shape.factor(20) == pytest.approx(1.75)
    assert shape.integral(0, 24) == pytest.approx(24) and shape.integral(7.5, 31.5) == pytest.approx(24)
    # Smooth: no step anywhere, including where the halves meet and at midnight.
    steps = [abs(shape.factor(h / 60) - shape.factor((h + 1) / 60)) for h in range(0, 48 * 60)]
    assert max(steps) < 0.01
    # The integral is the sum of the curve (so transactions due follow the curve exactly).
    riemann = sum(shape.factor(h / 100 + 0.005) for h in range(600, 1300)) / 100
    assert shape.integral(6, 13) == pytest.approx(riemann, rel=1e-4)


def test_a_compressed_day_is_quiet_at_night_busy_in_the_evening_with_tps_as_the_mean() -> None:
    server, phases = run_day(seed=11, step=0.1)
    total = sum(phases.values())
    # --tps is the mean: a whole day makes tps x day_seconds transactions.
    assert abs(total - MEAN_TPS * DAY_SECONDS) <= 1, phases
    traffic = server.traffic
    for name, (start, end) in PHASES.items():
        expected = MEAN_TPS * traffic.weight(DAY_SECONDS * start / 24, DAY_SECONDS * end / 24)
        assert abs(phases[name] - expected) <= 1, (name, phases[name], expected)
    assert phases["night"] < phases["morning"] < phases["afternoon"] < phases["evening"], phases
    assert phases["evening"] > 3 * phases["night"], phases
    # The server's per-hour tally (its /_state) agrees with the chain and peaks at 20:00.
    by_hour = server.produced_by_hour
    assert sum(by_hour) == total
    assert by_hour.index(max(by_hour)) in (19, 20, 21) and by_hour.index(min(by_hour)) in (3, 4, 5)
    assert by_hour[20] > 5 * by_hour[4]


def test_same_seed_same_day_however_often_the_clock_is_read() -> None:
    a, phases_a = run_day(seed=4, step=0.1)
    b, phases_b = run_day(seed=4, step=0.37, jitter=1.5)
    assert phases_a == phases_b
    assert a.chain.state()["events"] == b.chain.state()["events"]
    _, phases_c = run_day(seed=5, step=0.1)
    assert phases_c == phases_a  # the schedule is the shape's, not the seed's ...
    assert run_day(seed=5, step=0.1)[0].chain.state()["events"] != a.chain.state()["events"]  # ... the mix is


def test_state_reports_the_simulated_hour_and_rate() -> None:
    now = [100.0]
    traffic = Traffic(PLATFORM_DAY, day_seconds=240, start_hour=12)
    server = DevchainServer(Chain(seed=1, genesis_time=0), tps=4, traffic=traffic, clock=lambda: now[0])
    server.tick(now[0])
    now[0] += 80  # 8 simulated hours later: 20:00, the evening peak
    server.tick(now[0])
    state = server.traffic_state()
    assert state["hour"] == pytest.approx(20) and state["day"] == 0
    assert state["tps_now"] == pytest.approx(4 * 1.75)
    assert sum(state["produced_by_hour"]) == made(server.chain) > 0


def test_constant_profiles_keep_a_flat_rate() -> None:
    server = DevchainServer(Chain(seed=1, genesis_time=0), tps=3)
    server.tick(0)
    server.tick(10)
    assert made(server.chain) == 30 and server.traffic_state()["tps_now"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--day-seconds", "0"), "argument --day-seconds: '0': must be a finite number > 0"),
        (("--day-seconds", "nan"), "argument --day-seconds: 'nan': must be a finite number >= 0"),
        (("--day-start", "24"), "argument --day-start: '24': must be an hour of the day, from 0 to 23:59"),
        (
            ("--day-start", "noon"),
            "argument --day-start: expected an hour of the day (20 or 20:30), got 'noon'",
        ),
    ],
)
def test_cli_rejects_a_day_that_cannot_be(args: tuple[str, str], message: str) -> None:
    out = devchain_cli("--listen", f"127.0.0.1:{free_port()}", *args)
    assert_fails(out, 2, message)


def test_shape_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        DailyShape(low=2, high=1)
    with pytest.raises(ValueError, match="day_seconds"):
        Traffic(PLATFORM_DAY, day_seconds=math.inf)
