"""Parsers from Vultr JSON values to typed Python values, and exact JSON text output.

Every parser returns None for a missing value (None, or an empty string where noted) and raises
``TypeError`` or ``ValueError`` naming the value otherwise. Money never passes through a float:
the parsers reject float input because the client parses JSON with ``parse_float=Decimal``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

# re.ASCII keeps \d to the digits 0-9, so digits of other scripts are rejected.
_NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_DIGITS = re.compile(r"\d+", re.ASCII)
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?", re.ASCII
)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TRUE_TEXT = frozenset({"true", "yes", "1"})
_FALSE_TEXT = frozenset({"false", "no", "0"})
_EXCERPT_CHARS = 60
# 9999-12-31T23:59:59Z; larger epoch values cannot become a datetime.
_MAX_EPOCH_SECONDS = 253_402_300_799
# Integers land in Int64 columns, and int() of a number such as 1E+999999999999 would try to
# build all of its digits, so magnitudes from 2**64 on are rejected here. Values between
# 2**63 and 2**64 pass and fail later, at the insert, with the column named.
_MAX_INTEGER = 2**64


def excerpt(value: object) -> str:
    """Return a short ``repr`` of a value for error messages."""
    text = repr(value)
    if len(text) > _EXCERPT_CHARS:
        return text[: _EXCERPT_CHARS - 3] + "..."
    return text


def _reject_float_and_bool(value: object, what: str) -> None:
    if isinstance(value, bool):
        raise TypeError(f"Invalid {what} {value!r}: a bool is not a number.")
    if isinstance(value, float):
        raise TypeError(
            f"Invalid {what} {value!r}: float input is not accepted because it may already "
            f"have lost digits; parse the JSON with parse_float=decimal.Decimal."
        )


def parse_decimal(value: object, *, what: str = "number") -> Decimal | None:
    """Parse an exact number from an int, a Decimal or a numeric string.

    Returns None for None and the empty string.

    Raises:
        TypeError: The value is a float, a bool or another non-numeric type.
        ValueError: The string is not a number, or the number is NaN or infinite.
    """
    if value is None:
        return None
    _reject_float_and_bool(value, what)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if not _NUMBER_TEXT.fullmatch(text):
            raise ValueError(f"Invalid {what} {excerpt(value)}: expected digits such as '12.34'.")
        try:
            number = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(
                f"Invalid {what} {excerpt(value)}: its exponent is out of the range of Decimal."
            ) from exc
    else:
        raise TypeError(
            f"Invalid {what} {excerpt(value)}: expected an int, a Decimal or a numeric string, "
            f"got {type(value).__name__}."
        )
    if not number.is_finite():
        raise ValueError(f"Invalid {what} {excerpt(value)}: expected a finite number.")
    return number


def parse_money(value: object) -> Decimal | None:
    """Parse a US-dollar amount, exactly, from an int, a Decimal or a numeric string.

    Raises:
        TypeError: The value is a float, a bool or another non-numeric type.
        ValueError: The string is not a number, or the number is NaN or infinite.
    """
    return parse_decimal(value, what="money amount")


def parse_int(value: object) -> int | None:
    """Parse a whole number from an int, an integral Decimal or a string of digits.

    Returns None for None and the empty string.

    Raises:
        TypeError: The value is a float, a bool or another non-numeric type.
        ValueError: The value is not a whole number, or its magnitude is 2**64 or more.
    """
    number = parse_decimal(value, what="integer")
    if number is None:
        return None
    # copy_abs, unlike abs(), applies no context, so a huge exponent does not overflow.
    if number.copy_abs() >= _MAX_INTEGER:
        raise ValueError(f"Invalid integer {excerpt(value)}: it is outside the 64-bit range.")
    if number != number.to_integral_value():
        raise ValueError(f"Invalid integer {excerpt(value)}: it has a fractional part.")
    return int(number)


def parse_datetime(value: object) -> datetime | None:
    """Parse a Vultr timestamp into a timezone-aware UTC datetime.

    Accepted forms, tried in this order: ISO-8601 with an offset or ``Z`` (``T`` or space
    between date and time), ``YYYY-MM-DD HH:MM:SS``, ``YYYY-MM-DD HH:MM``, ``YYYY-MM-DD``, and
    Unix epoch seconds as an int or a string of digits. A value without an offset is UTC.
    Returns None for None and the empty string. A datetime is converted to UTC, and a naive
    one is taken as UTC.

    Raises:
        TypeError: The value is a float, a bool or another type.
        ValueError: The text matches no accepted form, names an impossible date, or names a
            moment whose UTC date is before year 1 or after year 9999.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return _as_utc(value, value)
    _reject_float_and_bool(value, "timestamp")
    if isinstance(value, int):
        return _from_epoch(value, value)
    if not isinstance(value, str):
        raise TypeError(
            f"Invalid timestamp {excerpt(value)}: expected a string or epoch seconds, got "
            f"{type(value).__name__}."
        )
    text = value.strip()
    if not text:
        return None
    if _ISO_DATETIME.fullmatch(text) or _DATE_ONLY.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"Invalid timestamp {excerpt(value)}: {exc}.") from exc
        return _as_utc(moment, value)
    if _DIGITS.fullmatch(text):
        # int() rejects text of more than 4300 digits, and no epoch needs more than 12.
        digits = text.lstrip("0") or "0"
        seconds = int(digits) if len(digits) <= len(str(_MAX_EPOCH_SECONDS)) else -1
        return _from_epoch(seconds, value)
    raise ValueError(
        f"Invalid timestamp {excerpt(value)}: expected ISO-8601 such as "
        f"'2020-10-10T01:56:20+00:00', 'YYYY-MM-DD HH:MM:SS', 'YYYY-MM-DD HH:MM', 'YYYY-MM-DD' "
        f"or epoch seconds."
    )


def _as_utc(moment: datetime, original: object) -> datetime:
    # Vultr sends some timestamps without an offset, such as database `date_created`
    # ("2022-05-09 10:13:31"). They are read as UTC, the offset of all its other timestamps.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(
            f"Invalid timestamp {excerpt(original)}: in UTC it falls outside the years 1 to 9999."
        ) from exc


def _from_epoch(seconds: int, original: object) -> datetime:
    if not 0 <= seconds <= _MAX_EPOCH_SECONDS:
        raise ValueError(
            f"Invalid timestamp {excerpt(original)}: epoch seconds must be between 0 and "
            f"{_MAX_EPOCH_SECONDS}."
        )
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def parse_bool(value: object) -> bool | None:
    """Parse a bool, 0 or 1, or the strings true/false/yes/no/1/0 (any case).

    Returns None for None and the empty string.

    Raises:
        ValueError: The value is not one of the accepted forms.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE_TEXT:
            return True
        if text in _FALSE_TEXT:
            return False
    raise ValueError(
        f"Invalid boolean {excerpt(value)}: expected true/false, yes/no, 1/0 or a JSON bool."
    )


def parse_str_list(value: object) -> list[str]:
    """Parse a JSON array of strings; None becomes an empty list.

    Raises:
        ValueError: The value is not a list, or an element is not a string.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"Invalid string list {excerpt(value)}: expected a JSON array.")
    for item in value:
        if not isinstance(item, str):
            raise ValueError(
                f"Invalid string list {excerpt(value)}: element {excerpt(item)} is not a string."
            )
    return list(value)


def parse_str(value: object) -> str | None:
    """Parse text, writing an int or a Decimal in its exact digits (a port 16751 -> "16751").

    Raises:
        ValueError: The value is a bool, a float, an object or an array.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)
    raise ValueError(f"Invalid text {excerpt(value)}: expected a string or a number.")


def to_json_text(value: Any) -> str:
    """Serialize a JSON value compactly with sorted keys, writing each Decimal exactly.

    Raises:
        TypeError: The value contains a float or a type JSON cannot represent.
        ValueError: A Decimal is NaN or infinite.
    """
    parts: list[str] = []
    _write_json(value, parts)
    return "".join(parts)


def _write_json(value: Any, parts: list[str]) -> None:
    if value is None or isinstance(value, (bool, str, int)):
        parts.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"Cannot write {value!r} as JSON: it is not a finite number.")
        parts.append(str(value))
    elif isinstance(value, Mapping):
        _write_object(value, parts)
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write_json(item, parts)
        parts.append("]")
    else:
        raise TypeError(
            f"Cannot write a {type(value).__name__} as exact JSON: expected None, bool, str, "
            f"int, Decimal, a mapping or a sequence."
        )


def _write_object(value: Mapping[Any, Any], parts: list[str]) -> None:
    parts.append("{")
    for index, key in enumerate(sorted(value)):
        if not isinstance(key, str):
            raise TypeError(f"Cannot write JSON object key {key!r}: keys must be strings.")
        if index:
            parts.append(",")
        parts.append(json.dumps(key, ensure_ascii=False))
        parts.append(":")
        _write_json(value[key], parts)
    parts.append("}")
