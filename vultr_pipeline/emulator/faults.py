"""Planned faults: bad responses the emulator sends on purpose, for client tests.

Add a fault for a path pattern, and the next matching requests get it instead of the normal
response, `times` requests in all, in the order the faults were added:

    server.faults.add("/billing/invoices", "status", status=503, times=2)
    server.faults.add("/instances", "status", status=429, retry_after=1)
    server.faults.add("/billing/invoices/*/items", "drop")

Kinds:
    status: reply `status` with a JSON error body `{"error": ..., "status": ...}` (or `body`),
        and a `Retry-After` header when `retry_after` is set.
    delay: sleep `delay` seconds, then respond normally.
    drop: close the connection without sending a response.
    truncate: send the normal status and headers with the JSON body cut in half.
    html: send status 200 with an HTML page instead of JSON.
    repeat_cursor: respond normally, but point `meta.links.next` back at the same page.
    invalid_cursor: respond normally, but set `meta.links.next` to a cursor that points at no
        item, so the request for the next page gets HTTP 400 with Vultr's error body.
    missing_list_key: respond normally, but with every key except `meta` removed, so the list
        key (or the object key of a single-object endpoint) is missing.
    mutate: apply `mutate` to a deep copy of the response body dict before sending it; the
        callable may change it in place or return a new dict.

Patterns are matched against the path after `/v2` with `fnmatch` rules, so `*` matches within
and across path segments, and a leading `/v2` in a pattern is ignored.
"""

from __future__ import annotations

import enum
import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

API_PREFIX = "/v2"
ERROR_MESSAGES = {
    429: "rate limit exceeded",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service unavailable.",
}


class FaultKind(enum.StrEnum):
    """What a planned fault does to the response."""

    STATUS = "status"
    DELAY = "delay"
    DROP = "drop"
    TRUNCATE = "truncate"
    HTML = "html"
    REPEAT_CURSOR = "repeat_cursor"
    INVALID_CURSOR = "invalid_cursor"
    MISSING_LIST_KEY = "missing_list_key"
    MUTATE = "mutate"


@dataclass
class Fault:
    """One planned fault and how many more requests it applies to."""

    path: str
    kind: FaultKind
    remaining: int
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    mutate: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    body: dict[str, Any] | str | None = None

    def matches(self, path: str) -> bool:
        """Return whether the fault's pattern matches a path under `/v2`."""
        return fnmatch.fnmatchcase(path, self.path)

    def error_body(self) -> dict[str, Any] | str:
        """Return the body of a status fault: `body` if given, else Vultr's error shape."""
        if self.body is not None:
            return self.body
        assert self.status is not None
        return {"error": ERROR_MESSAGES.get(self.status, "Request failed."), "status": self.status}


class FaultPlan:
    """Thread-safe queue of planned faults, consumed by matching requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        path: str,
        kind: FaultKind | str,
        *,
        times: int = 1,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        mutate: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
        body: dict[str, Any] | str | None = None,
    ) -> Fault:
        """Plan a fault for the next `times` requests whose path matches `path`.

        Raises:
            ValueError: If the kind is unknown, `times` is below 1, or the kind's required
                argument (`status`, `delay` or `mutate`) is missing or invalid.
        """
        try:
            fault_kind = FaultKind(kind)
        except ValueError as error:
            known = ", ".join(member.value for member in FaultKind)
            raise ValueError(f"unknown fault kind {kind!r}; use one of: {known}") from error
        if times < 1:
            raise ValueError(f"fault times must be at least 1, got {times}")
        if fault_kind is FaultKind.STATUS and (status is None or not 100 <= status <= 599):
            raise ValueError(f"a status fault needs an HTTP status 100-599, got {status!r}")
        if fault_kind is FaultKind.DELAY and delay <= 0:
            raise ValueError(f"a delay fault needs delay > 0 seconds, got {delay!r}")
        if fault_kind is FaultKind.MUTATE and not callable(mutate):
            raise ValueError("a mutate fault needs a callable `mutate`")

        pattern = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else path
        fault = Fault(pattern, fault_kind, times, status, retry_after, delay, mutate, body)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """Return the first planned fault matching `path` and count one use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> int:
        """Return how many planned fault uses are left."""
        with self._lock:
            return sum(fault.remaining for fault in self._faults)

    def clear(self) -> None:
        """Drop every planned fault."""
        with self._lock:
            self._faults.clear()
