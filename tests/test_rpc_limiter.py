"""The per-endpoint token bucket, on a fake clock (no wall-clock timing)."""

from __future__ import annotations

import pytest

from exporter.rpc.limiter import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_steady_rate(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=10, clock=clock.monotonic, sleep=clock.sleep)
    for _ in range(30):  # 10 from the full bucket, 20 more at 10/s
        await bucket.acquire()
    assert clock.slept == pytest.approx(2.0)


async def test_batch_larger_than_the_bucket_is_charged_in_full(clock: FakeClock) -> None:
    """A batch of 50 calls at 10 req/s: sent at once, then the next request waits it off."""
    bucket = TokenBucket(rate=10, clock=clock.monotonic, sleep=clock.sleep)
    await bucket.acquire(50)
    assert clock.slept == 0
    await bucket.acquire(1)
    # 50 spent from 10 available leaves a debt of 40; one more token needs 4.1 s of refill.
    assert clock.slept == pytest.approx(4.1)
