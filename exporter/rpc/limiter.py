"""Token-bucket rate limit per endpoint: providers meter requests per second, so do we."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until ``tokens`` may be spent (a batch of N requests costs N).

        A cost above the bucket's capacity is still charged in full: the bucket goes into debt and
        later requests wait it off, so the average rate never exceeds ``rate``.
        """
        need = min(tokens, self.capacity)
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= need:
                    self._tokens -= tokens
                    return
                # At least a millisecond: float rounding must not turn the wait into a busy loop.
                await self._sleep(max(0.001, (need - self._tokens) / self.rate))
