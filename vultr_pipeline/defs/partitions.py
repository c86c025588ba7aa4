"""Partitions of the assets: account × billing month, and account × day of collection.

Dimension `account` lists the names in the accounts file. Dimension `month` has one monthly
partition per billing month from $VULTR_HISTORY_START (`YYYY-MM`, default 2020-01) to the
open month. Dimension `day` has one daily partition per UTC day from $VULTR_DAILY_START
(`YYYY-MM-DD`, default 2026-01-01) to today. Both are in UTC whatever time zone the
scheduler uses, so a partition's boundaries never move with daylight saving time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import dagster as dg

from vultr_pipeline.accounts import Account, load_accounts

ACCOUNT_DIMENSION = "account"
MONTH_DIMENSION = "month"
DAY_DIMENSION = "day"
HISTORY_START_ENV = "VULTR_HISTORY_START"
DAILY_START_ENV = "VULTR_DAILY_START"
DEFAULT_HISTORY_START = "2020-01"
DEFAULT_DAILY_START = "2026-01-01"
PARTITION_TIMEZONE = "UTC"
MONTH_KEY_FORMAT = "%Y-%m"
DAY_KEY_FORMAT = "%Y-%m-%d"


class PartitionConfigError(Exception):
    """A partition setting in the environment is invalid."""


@dataclass(frozen=True)
class Partitions:
    """The partitions definitions shared by every asset of one code location.

    Attributes:
        accounts: The accounts of the `account` dimension, in file order.
        monthly: Account × billing month, for invoices and monthly cost tables.
        daily: Account × UTC day, for snapshots of the API's present state.
    """

    accounts: tuple[Account, ...]
    monthly: dg.MultiPartitionsDefinition
    daily: dg.MultiPartitionsDefinition

    @property
    def account_names(self) -> list[str]:
        """Return the account names in file order."""
        return [account.name for account in self.accounts]


def _start_from_env(variable: str, default: str, key_format: str, example: str) -> dt.datetime:
    text = os.environ.get(variable, "").strip() or default
    try:
        return dt.datetime.strptime(text, key_format)
    except ValueError as error:
        raise PartitionConfigError(
            f"Invalid {variable} {text!r}: use the form {example}, or unset it for the "
            f"default {default}."
        ) from error


def history_start() -> dt.datetime:
    """Return the first billing month, from $VULTR_HISTORY_START.

    Raises:
        PartitionConfigError: The variable is not a `YYYY-MM` month.
    """
    return _start_from_env(HISTORY_START_ENV, DEFAULT_HISTORY_START, MONTH_KEY_FORMAT, "2024-01")


def daily_start() -> dt.datetime:
    """Return the first day of daily snapshots, from $VULTR_DAILY_START.

    Raises:
        PartitionConfigError: The variable is not a `YYYY-MM-DD` date.
    """
    return _start_from_env(DAILY_START_ENV, DEFAULT_DAILY_START, DAY_KEY_FORMAT, "2026-01-01")


def build_partitions(accounts: tuple[Account, ...] | None = None) -> Partitions:
    """Build the partitions definitions from the accounts file and the environment.

    Raises:
        AccountsConfigError: The accounts file is missing or invalid.
        PartitionConfigError: $VULTR_HISTORY_START or $VULTR_DAILY_START is invalid.
    """
    accounts = load_accounts() if accounts is None else accounts
    account_partitions = dg.StaticPartitionsDefinition([account.name for account in accounts])
    # end_offset=1 adds the window in progress: the open month, and today.
    months = dg.MonthlyPartitionsDefinition(
        start_date=history_start(),
        timezone=PARTITION_TIMEZONE,
        fmt=MONTH_KEY_FORMAT,
        end_offset=1,
    )
    days = dg.DailyPartitionsDefinition(
        start_date=daily_start(),
        timezone=PARTITION_TIMEZONE,
        fmt=DAY_KEY_FORMAT,
        end_offset=1,
    )
    return Partitions(
        accounts=accounts,
        monthly=dg.MultiPartitionsDefinition(
            {ACCOUNT_DIMENSION: account_partitions, MONTH_DIMENSION: months}
        ),
        daily=dg.MultiPartitionsDefinition(
            {ACCOUNT_DIMENSION: account_partitions, DAY_DIMENSION: days}
        ),
    )


def month_key(month: dt.date) -> str:
    """Return the partition key of the billing month that starts on `month`."""
    return month.strftime(MONTH_KEY_FORMAT)


def day_key(day: dt.date) -> str:
    """Return the partition key of UTC day `day`."""
    return day.strftime(DAY_KEY_FORMAT)


def monthly_key(account: str, month: dt.date) -> dg.MultiPartitionKey:
    """Return the account × month partition key."""
    return dg.MultiPartitionKey({ACCOUNT_DIMENSION: account, MONTH_DIMENSION: month_key(month)})


def daily_key(account: str, day: dt.date) -> dg.MultiPartitionKey:
    """Return the account × day partition key."""
    return dg.MultiPartitionKey({ACCOUNT_DIMENSION: account, DAY_DIMENSION: day_key(day)})


def split_key(key: str, time_dimension: str) -> tuple[str, dt.date]:
    """Split an account × month or account × day key into its account and window start.

    Dagster joins the dimension keys with `|` in the order of the sorted dimension names, so
    the account comes first; account names cannot contain `|`.
    """
    account, _, time_key = str(key).partition("|")
    time_format = MONTH_KEY_FORMAT if time_dimension == MONTH_DIMENSION else DAY_KEY_FORMAT
    return account, dt.datetime.strptime(time_key, time_format).date()


def utc_today() -> dt.date:
    """Return the current UTC date."""
    return dt.datetime.now(dt.UTC).date()


# Days of monthly history a daily asset reads: at least the two closed months before the
# month of the day, which month-over-month change and the anomaly window need.
HISTORY_DAYS = 92


@contextlib.contextmanager
def _beta_allowed() -> Iterator[None]:
    # NOTE: MultiPartitionMapping and allow_nonexistent_upstream_partitions are beta in
    # Dagster 1.13.28; without this the warning repeats on every load of the code location.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        yield


def _same_account() -> dict[str, dg.DimensionPartitionMapping]:
    return {
        ACCOUNT_DIMENSION: dg.DimensionPartitionMapping(
            dimension_name=ACCOUNT_DIMENSION, partition_mapping=dg.IdentityPartitionMapping()
        )
    }


def days_of_month_mapping() -> dg.MultiPartitionMapping:
    """Map an account × month partition to the account's daily partitions in that month.

    Days outside the daily partitions (before $VULTR_DAILY_START, or after today) are skipped.
    """
    with _beta_allowed():
        days = dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)
        return dg.MultiPartitionMapping(
            {
                **_same_account(),
                DAY_DIMENSION: dg.DimensionPartitionMapping(
                    dimension_name=MONTH_DIMENSION, partition_mapping=days
                ),
            }
        )


def all_days_mapping() -> dg.MultiPartitionMapping:
    """Map a partition to every daily partition of the same account.

    Dagster maps a dimension that a `MultiPartitionMapping` leaves out to all of its
    partitions, so only the account is named.
    """
    with _beta_allowed():
        return dg.MultiPartitionMapping(_same_account())


def recent_months_mapping() -> dg.MultiPartitionMapping:
    """Map an account × day partition to the account's months of the last `HISTORY_DAYS` days.

    The offset counts downstream partitions (days), as Dagster 1.13 defines it for partitions
    definitions of different cadences. Months before $VULTR_HISTORY_START are skipped.
    """
    with _beta_allowed():
        months = dg.TimeWindowPartitionMapping(
            start_offset=-HISTORY_DAYS, allow_nonexistent_upstream_partitions=True
        )
        return dg.MultiPartitionMapping(
            {
                **_same_account(),
                MONTH_DIMENSION: dg.DimensionPartitionMapping(
                    dimension_name=DAY_DIMENSION, partition_mapping=months
                ),
            }
        )


def starts_by_account(partition_keys: Iterable[str], time_dimension: str) -> dict[str, list]:
    """Group partition keys by account, as sorted lists of their window starts."""
    grouped: dict[str, list[dt.date]] = {}
    for key in partition_keys:
        account, start = split_key(key, time_dimension)
        grouped.setdefault(account, []).append(start)
    return {account: sorted(starts) for account, starts in grouped.items()}
