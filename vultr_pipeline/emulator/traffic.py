"""Request accounting: the per-second rate limit and the request log tests read."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass


class SlidingWindowLimiter:
    """Allows at most `rate` requests in any one-second window, across threads."""

    def __init__(self, rate: int) -> None:
        if rate < 1:
            raise ValueError(f"rate limit must be at least 1 request per second, got {rate}")
        self.rate = rate
        self._lock = threading.Lock()
        self._times: deque[float] = deque()

    def admit(self) -> int | None:
        """Count a request if the window has room; else return the seconds to wait (at least 1)."""
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] >= 1.0:
                self._times.popleft()
            if len(self._times) < self.rate:
                self._times.append(now)
                return None
            wait = 1.0 - (now - self._times[0])
        return max(1, math.ceil(wait))


@dataclass(frozen=True)
class RequestRecord:
    """One request and the status the emulator replied with (0 for a dropped connection)."""

    method: str
    path: str
    query: dict[str, str]
    status: int


class RequestLog:
    """Thread-safe log of requests; paths are stored without the `/v2` prefix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def record(self, entry: RequestRecord) -> None:
        """Append one request."""
        with self._lock:
            self._records.append(entry)

    def records(self, path: str | None = None) -> list[RequestRecord]:
        """Return a copy of the log, optionally only the requests for one path."""
        wanted = None if path is None else _normalize(path)
        with self._lock:
            return [entry for entry in self._records if wanted is None or entry.path == wanted]

    def count(self, path: str | None = None) -> int:
        """Return how many requests reached a path, or all paths when None."""
        return len(self.records(path))

    def counts(self) -> Counter[str]:
        """Return the number of requests per path."""
        return Counter(entry.path for entry in self.records())

    def clear(self) -> None:
        """Forget every logged request."""
        with self._lock:
            self._records.clear()


def _normalize(path: str) -> str:
    return path.removeprefix("/v2") if path.startswith("/v2/") else path
