"""Calendar helpers: the account's "now", month boundaries and Vultr's date formats."""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC


def account_now(today: dt.date) -> dt.datetime:
    """Return the instant the account is generated at: noon UTC on `today`."""
    return dt.datetime(today.year, today.month, today.day, 12, tzinfo=UTC)


def month_start(year: int, month: int) -> dt.datetime:
    """Return 00:00 UTC on the first day of a month; months past 12 roll into later years."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return dt.datetime(year, month, 1, tzinfo=UTC)


def closed_months(today: dt.date, count: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """Return the `count` months before the month of `today`, oldest first, as [start, end)."""
    months = []
    for back in range(count, 0, -1):
        start = month_start(today.year, today.month - back)
        end = month_start(today.year, today.month - back + 1)
        months.append((start, end))
    return months


def iso(moment: dt.datetime) -> str:
    """Format as ISO-8601 with offset, the form of most Vultr dates."""
    return moment.isoformat(timespec="seconds")


def naive_text(moment: dt.datetime) -> str:
    """Format as `YYYY-MM-DD HH:MM:SS` without offset, the form of database dates."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def epoch_text(moment: dt.datetime) -> str:
    """Format as Unix epoch seconds in a string, the form of account-bandwidth bounds."""
    return str(int(moment.timestamp()))


def hours_between(start: dt.datetime, end: dt.datetime) -> int:
    """Return the started hours from `start` to `end`, zero when `end` is not later."""
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        return 0
    return int(-(-seconds // 3600))
