"""Exceptions raised by the ClickHouse engines and the ClickHouse IO manager."""

from __future__ import annotations

import re

_CODE_PATTERN = re.compile(r"Code: (\d+)\.")


class ClickHouseError(Exception):
    """Base class for every error raised by `vultr_pipeline.clickhouse`."""


class ClickHouseConfigError(ClickHouseError):
    """Invalid IO manager or engine configuration, such as a missing data directory."""


class ClickHouseLockedError(ClickHouseError):
    """A chDB data directory is locked by another process."""


class ClickHouseConnectionError(ClickHouseError):
    """A ClickHouse server is unreachable or rejected the connection."""


class ClickHouseAuthenticationError(ClickHouseConnectionError):
    """A ClickHouse server rejected the user name or password."""


class ClickHouseQueryError(ClickHouseError):
    """A statement failed inside ClickHouse.

    Attributes:
        code: The ClickHouse error code parsed from the message (for example 60 for
            UNKNOWN_TABLE), or None when the message carries no code.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code if code is not None else parse_error_code(message)


class ClickHouseSchemaError(ClickHouseError):
    """A declared table schema is invalid or does not match the DataFrame or the table."""


class ClickHouseDataError(ClickHouseError):
    """A DataFrame value does not fit the declared ClickHouse column type."""


def parse_error_code(message: str) -> int | None:
    """Return the number after ``Code:`` in a ClickHouse error message, or None."""
    match = _CODE_PATTERN.search(message)
    return int(match.group(1)) if match else None
