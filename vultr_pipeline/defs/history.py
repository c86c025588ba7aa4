"""Pick rows of one account and one partition out of frames loaded across partitions.

An asset run can cover a range of partitions, and an input of another cadence arrives with
every partition the mapping selects, so each asset slices its inputs per account and per
day or month with these helpers.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from vultr_pipeline.costs.line_items import next_month


def as_dates(values: pd.Series) -> list[dt.date | None]:
    """Return a Date column as `datetime.date` values (None for null)."""
    return [None if pd.isna(value) else pd.Timestamp(value).date() for value in values]


def account_rows(frame: pd.DataFrame, account: str) -> pd.DataFrame:
    """Return the rows of `account`."""
    if frame.empty:
        return frame
    return frame[frame["account_id"] == account]


def rows_on(frame: pd.DataFrame, column: str, day: dt.date | None) -> pd.DataFrame:
    """Return the rows whose Date column `column` equals `day` (none when `day` is None)."""
    if frame.empty or day is None:
        return frame.iloc[0:0]
    return frame[[value == day for value in as_dates(frame[column])]]


def month_rows(frame: pd.DataFrame, account: str, month: dt.date) -> pd.DataFrame:
    """Return the rows of `account` whose `billing_month` is `month`."""
    return rows_on(account_rows(frame, account), "billing_month", month)


def latest_snapshot_day(
    frame: pd.DataFrame, account: str, before: dt.date | None = None
) -> dt.date | None:
    """Return the last `snapshot_date` of `account` before `before`, else its first one.

    The fallback gives months older than every snapshot the earliest inventory known.
    """
    days = sorted({day for day in as_dates(account_rows(frame, account)["snapshot_date"]) if day})
    if not days:
        return None
    earlier = [day for day in days if before is None or day < before]
    return earlier[-1] if earlier else days[0]


def snapshot(frame: pd.DataFrame, account: str, day: dt.date | None) -> pd.DataFrame:
    """Return the rows of `account` in the snapshot of `day`, without `snapshot_date`."""
    rows = rows_on(account_rows(frame, account), "snapshot_date", day)
    return rows.drop(columns=["snapshot_date"]).reset_index(drop=True)


def snapshot_for_month(frame: pd.DataFrame, account: str, month: dt.date) -> pd.DataFrame:
    """Return the account's last snapshot taken before the end of `month`, else its first."""
    return snapshot(frame, account, latest_snapshot_day(frame, account, next_month(month)))


def with_partition_column(frame: pd.DataFrame, column: str, value: dt.date) -> pd.DataFrame:
    """Return `frame` with Date column `column` set to `value`, right after `account_id`."""
    frame = frame.reset_index(drop=True).copy()
    if column in frame.columns:
        frame = frame.drop(columns=[column])
    frame.insert(1, column, pd.Series([value] * len(frame), dtype=object))
    return frame


def concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Concatenate frames with the same columns; no frames give an empty frame."""
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in columns})
    if len(frames) == 1:
        return frames[0][columns].reset_index(drop=True)
    return pd.concat([frame[columns] for frame in frames], ignore_index=True)
