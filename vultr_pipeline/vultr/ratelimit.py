"""A thread-safe token bucket that spaces requests to the Vultr API.

Vultr counts requests per source IP address and may respond with 429 above 30 requests per
second, so every client in one process should share one limiter (see ``shared_rate_limiter``).

A bucket that grants exactly ``limit`` calls per second still trips a server that counts
arrivals in a sliding one-second window: two requests that leave the client 1/limit seconds
apart can arrive closer together. ``limit_pacer`` therefore paces a little below the limit,
with a burst of one, so that network and scheduling jitter up to ``headroom / limit`` seconds
keeps every window under the limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

DEFAULT_RATE = 30.0
DEFAULT_BURST = 3
# Share of the limit left unused by `limit_pacer`. At 30 requests per second, 5 % means a
# pace of 28.5, so 30 consecutive requests span 1.05 s and tolerate 52 ms of jitter.
DEFAULT_HEADROOM = 0.05


class RateLimiter:
    """Token bucket: at most ``burst`` calls at once, then ``rate`` calls per second.

    ``acquire`` reserves a token under a lock and sleeps outside it, so waiting threads do not
    block each other and each call waits only as long as its reservation needs.

    Args:
        rate: Sustained calls per second; must be positive.
        burst: Bucket size, the number of calls that may go out back to back after a pause.
            Defaults to ``DEFAULT_BURST``, or 1 when the rate is below one call per second.
        clock: Monotonic clock in seconds; replaceable in tests.
        sleep: Sleep function; replaceable in tests.
    """

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate must be a positive number of calls per second, got {rate!r}")
        if burst is None:
            burst = DEFAULT_BURST if rate >= 1 else 1
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = clock()

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, burst={self.burst})"

    def reserve(self) -> float:
        """Take one token and return how many seconds the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._updated = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until a call is allowed and return the seconds spent waiting."""
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return delay


def limit_pacer(
    limit: float = DEFAULT_RATE, headroom: float = DEFAULT_HEADROOM, burst: int = 1
) -> RateLimiter:
    """Build a limiter that keeps every one-second window under ``limit`` requests.

    A token bucket grants at most ``burst + rate * t`` calls in any ``t`` seconds, so the
    bucket's rate is ``limit * (1 - headroom) - (burst - 1)``.

    Args:
        limit: Requests per second that the server accepts from this address.
        headroom: Share of ``limit`` left unused to absorb jitter, from 0 up to but not
            including 1.
        burst: Bucket size; 1 spaces every call evenly.

    Raises:
        ValueError: The settings leave no positive rate.
    """
    if not 0 <= headroom < 1:
        raise ValueError(f"headroom must be at least 0 and below 1, got {headroom!r}")
    rate = limit * (1 - headroom) - (burst - 1)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(
            f"limit {limit!r} with headroom {headroom!r} and burst {burst!r} leaves no "
            "positive rate; raise the limit or lower the burst."
        )
    return RateLimiter(rate, burst)


_registry: dict[tuple[float, int | None], RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_rate_limiter(limit: float = DEFAULT_RATE, burst: int | None = None) -> RateLimiter:
    """Return the process-wide limiter for ``limit`` and ``burst``, creating it on first use.

    The limiter comes from ``limit_pacer`` (``burst`` None means 1), so it paces 5 % below
    ``limit``. Clients built with the same settings share one bucket, so together they stay
    under the limit that Vultr enforces per source address.
    """
    key = (float(limit), burst)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = limit_pacer(limit, burst=burst or 1)
            _registry[key] = limiter
        return limiter
