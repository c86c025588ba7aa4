"""Conversions between DataFrames loaded from ClickHouse and plain Python rows.

The IO manager loads nullable integers and booleans as pandas nullable dtypes and may load
nullable strings with NaN for null. Cost logic works on dicts whose nulls are always None.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd


def is_missing(value: Any) -> bool:
    """Return whether a cell is null (None, NaN, NaT or pd.NA); lists are never null."""
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict, str)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def frame_rows(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Return the rows of `frame` as dicts, with every null cell as None."""
    if frame is None or frame.empty:
        return []
    rows = frame.to_dict(orient="records")
    return [
        {key: None if is_missing(value) else value for key, value in row.items()} for row in rows
    ]


def to_utc(value: Any) -> dt.datetime | None:
    """Return a timestamp cell as an aware UTC datetime, or None when it is null.

    Raises:
        ValueError: The value is a naive datetime, whose time zone cannot be known.
    """
    if is_missing(value):
        return None
    moment = pd.Timestamp(value)
    if moment.tzinfo is None:
        raise ValueError(f"Timestamp {value!r} has no time zone; cost inputs must be in UTC.")
    return moment.to_pydatetime().astimezone(dt.UTC)


def text_list(value: Any) -> list[str]:
    """Return an Array(String) cell as a list, treating null as empty."""
    if is_missing(value):
        return []
    return [str(item) for item in value]


def rows_by_account(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Group rows by their `account_id`."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["account_id"], []).append(row)
    return grouped


def build_frame(
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    datetimes: tuple[str, ...] = (),
    integers: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Build a DataFrame whose cells keep their Python types (Decimal, list, bool, date).

    Columns start as object dtype, so pandas never turns a Decimal or a nullable integer
    into float. Then `datetimes` become tz-aware UTC datetimes and `integers` the nullable
    Int64 dtype.
    """
    frame = pd.DataFrame(
        {name: pd.Series([row[name] for row in rows], dtype=object) for name in columns},
        columns=list(columns),
    )
    for name in datetimes:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    for name in integers:
        frame[name] = frame[name].astype("Int64")
    return frame
