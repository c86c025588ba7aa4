"""Daily spend per service category, and the days on which it departs from its recent history.

Daily spend comes from `cost_line_items`. Each line's amount is spread over the UTC days of its
charge period in proportion to the time it covers on each day, as in `cost_breakdown`'s day
rows (`vultr_pipeline.costs.proration`), so the day amounts of a line add up to its amount
exactly.

The statistic: for a day `d` and a service category, the baseline is the category's daily
spend over the `window_days` days before `d` (days without spend count as zero). With `mean`
and `std` (population standard deviation) of that window, `d` is an anomaly when all of these
hold:

- `|actual - mean| > threshold_std × std`;
- `|actual - mean| >= min_abs_change` (USD), so cent-level noise on a flat series is ignored;
- `|actual - mean| / mean >= min_change_pct / 100` when `mean > 0`. The default of 20 % stays
  above the step that month length alone causes: a charge capped at a monthly price spreads
  over 28 to 31 days, so its daily amount moves by up to 31/28 - 1 = 10.7 % at a month
  boundary, and a flat series has a standard deviation of zero.

Only complete days are tested: the day that contains `as_of` is still accruing, and a day needs
a full window of history from the first day the account has any spend.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from vultr_pipeline.costs.proration import split_by_day

CENT = Decimal("0.01")

DEFAULT_WINDOW_DAYS = 28
DEFAULT_THRESHOLD_STD = Decimal(3)
DEFAULT_MIN_ABS_CHANGE = Decimal("1.00")
DEFAULT_MIN_CHANGE_PCT = Decimal(20)

DAILY_SPEND_COLUMNS = ["account_id", "day", "service_category", "amount"]
ANOMALY_COLUMNS = [
    "account_id",
    "anomaly_id",
    "day",
    "service_category",
    "direction",
    "actual",
    "expected",
    "change",
    "change_pct",
    "baseline_std",
    "window_days",
    "as_of",
]


def to_cents(value: Decimal) -> Decimal:
    """Round a USD amount to the cent, halves away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def prorate_by_day(
    amount: Decimal, start: datetime | None, end: datetime | None, fallback_day: date
) -> dict[date, Decimal]:
    """Spread one line's amount over the UTC days of its charge period, exact to the cent.

    A line without a usable period (missing bounds, or an end not after the start) is booked
    whole on its start day, or on `fallback_day` when it has no start.
    """
    if start is None or pd.isna(start):
        return {fallback_day: amount}
    if end is None or pd.isna(end) or end <= start:
        return {_utc_date(start): amount}
    return dict(split_by_day(amount, _utc(start), _utc(end)))


def daily_service_spend(line_items: pd.DataFrame) -> pd.DataFrame:
    """Sum the prorated line amounts per account, UTC day and service category.

    Args:
        line_items: Rows of `cost_line_items`.

    Returns:
        Columns `account_id`, `day` (`datetime.date`), `service_category`, `amount` (Decimal),
        sorted by those keys. Day amounts of one line add up to its `amount` exactly.
    """
    totals: dict[tuple[str, date, str], Decimal] = defaultdict(Decimal)
    for row in line_items.itertuples(index=False):
        fallback_day = _as_date(row.billing_month)
        day_amounts = prorate_by_day(
            row.amount, row.charge_period_start, row.charge_period_end, fallback_day
        )
        for day, part in day_amounts.items():
            totals[(row.account_id, day, row.service_category)] += part

    rows = [(*key, amount) for key, amount in sorted(totals.items())]
    return pd.DataFrame(rows, columns=DAILY_SPEND_COLUMNS)


@dataclass(frozen=True)
class AnomalySettings:
    """Parameters of the anomaly rule; the module docstring defines each one."""

    window_days: int = DEFAULT_WINDOW_DAYS
    threshold_std: Decimal = DEFAULT_THRESHOLD_STD
    min_abs_change: Decimal = DEFAULT_MIN_ABS_CHANGE
    min_change_pct: Decimal = DEFAULT_MIN_CHANGE_PCT

    def __post_init__(self) -> None:
        if self.window_days < 2:
            raise ValueError(
                f"Invalid anomaly window_days {self.window_days}: a standard deviation needs "
                "at least 2 days. Use a window of 2 days or more (the default is 28)."
            )
        for name in ("threshold_std", "min_abs_change", "min_change_pct"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"Invalid anomaly {name} {getattr(self, name)}: it must not be negative."
                )


def find_anomalies(
    daily_spend: pd.DataFrame, as_of: datetime, settings: AnomalySettings | None = None
) -> pd.DataFrame:
    """Find the complete days on which a category's spend departs from its trailing window.

    Args:
        daily_spend: Output of `daily_service_spend`.
        as_of: The instant the data describes; its own day and later days are not tested.
        settings: Window and thresholds; defaults as in `AnomalySettings`.

    Returns:
        One row per anomaly with the columns `ANOMALY_COLUMNS`. `expected` (the window mean)
        and `baseline_std` are rounded half up to the cent, `change` is `actual - expected`,
        and `change_pct` is `change / expected × 100` rounded half up to 0.01, or None when
        `expected` is zero.
    """
    settings = settings or AnomalySettings()
    last_complete_day = _utc(as_of).date() - timedelta(days=1)
    rows = []
    for account_id, account_spend in daily_spend.groupby("account_id", sort=True):
        first_day = min(account_spend["day"])
        for category, spend in account_spend.groupby("service_category", sort=True):
            series = dict(zip(spend["day"], spend["amount"], strict=True))
            for day, stats in _tested_days(series, first_day, last_complete_day, settings):
                row = _anomaly_row(str(account_id), str(category), day, stats, settings, as_of)
                if row is not None:
                    rows.append(row)
    return pd.DataFrame(rows, columns=ANOMALY_COLUMNS)


@dataclass(frozen=True)
class _DayStats:
    actual: Decimal
    mean: Decimal
    std: Decimal


def _tested_days(
    series: dict[date, Decimal], first_day: date, last_day: date, settings: AnomalySettings
) -> Iterable[tuple[date, _DayStats]]:
    window = settings.window_days
    day = first_day + timedelta(days=window)
    while day <= last_day:
        history = [
            series.get(day - timedelta(days=back), Decimal(0)) for back in range(1, window + 1)
        ]
        mean = sum(history, Decimal(0)) / window
        variance = sum(((value - mean) ** 2 for value in history), Decimal(0)) / window
        yield day, _DayStats(series.get(day, Decimal(0)), mean, variance.sqrt())
        day += timedelta(days=1)


def _anomaly_row(
    account_id: str,
    category: str,
    day: date,
    stats: _DayStats,
    settings: AnomalySettings,
    as_of: datetime,
) -> dict[str, object] | None:
    change_exact = stats.actual - stats.mean
    if abs(change_exact) <= settings.threshold_std * stats.std:
        return None
    if abs(change_exact) < settings.min_abs_change:
        return None
    if stats.mean > 0 and abs(change_exact) / stats.mean * 100 < settings.min_change_pct:
        return None

    expected = to_cents(stats.mean)
    change = stats.actual - expected
    change_pct = None
    if expected != 0:
        change_pct = (change / expected * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return {
        "account_id": account_id,
        "anomaly_id": anomaly_id(account_id, category, day),
        "day": day,
        "service_category": category,
        "direction": "spike" if change_exact > 0 else "drop",
        "actual": stats.actual,
        "expected": expected,
        "change": change,
        "change_pct": change_pct,
        "baseline_std": to_cents(stats.std),
        "window_days": settings.window_days,
        "as_of": as_of,
    }


def anomaly_id(account_id: str, service_category: str, day: date) -> str:
    """Return a stable id for an anomaly: a hash of account, category and day."""
    key = "\x1f".join((account_id, service_category, day.isoformat()))
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _utc(moment: datetime) -> datetime:
    return pd.Timestamp(moment).tz_convert("UTC").to_pydatetime()


def _utc_date(moment: datetime) -> date:
    return _utc(moment).date()


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()
