"""Month-end forecast: what the open month will cost if every running resource keeps running.

Vultr bills servers by the started hour up to a monthly cap. Cloud GPU bills up to 730 hours a
month, and every other server type (Cloud Compute, Optimized Cloud Compute, Bare Metal) up to 672
hours (Vultr docs, "How Am I Billed for My Servers?", updated 15 September 2025). The hourly price
is the monthly price divided by the cap hours, rounded to four decimals, so a charge never
costs more than its monthly price in a month. The cap of a line is, in this order:

1. `catalogue`: the monthly price from the inventory (`instance_metadata.monthly_cost`, a
   block's `cost`, an object-storage tier price; a backup line gets `BACKUP_SHARE` of its
   instance's price);
2. `invoice_history`: the amount of the latest closed-month line of the same resource (or the
   same description, for unattributed lines) at the same hourly price that billed at least the
   cap hours, which is the monthly price as billed;
3. `hour_cap`: hourly price × cap hours, an estimate that can differ from the monthly price by
   a few cents because of the rounded hourly price.

Each pending line is one charge stream. A line is still accruing ("running") when its charge
period reaches `as_of` and it is billed in hours; its month-end total is
`max(month_to_date, min(month_to_date + hourly × remaining_hours, cap))`. Lines that are not
billed in hours (snapshot GB-months, bandwidth overage, credits) and lines whose period ended
before `as_of` (deleted resources) keep their month-to-date amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

CENT = Decimal("0.01")

GPU_HOUR_CAP = 730
SERVER_HOUR_CAP = 672
# Automatic backups add 20 % to the instance's monthly price; see the NOTE on the same constant
# in `vultr_pipeline.costs.recommendations`.
BACKUP_SHARE = Decimal("0.20")
_HOURLY_UNIT_TYPES = {"hour", "hours"}
# Line categories whose catalogue price is the resource's own monthly price. Other lines of the
# same resource (DDoS protection, say) cost something else.
_CATALOGUE_CATEGORIES = {
    "compute",
    "gpu",
    "bare_metal",
    "block_storage",
    "object_storage",
}

RESOURCE_COLUMNS = [
    "account_id",
    "line_id",
    "resource_id",
    "resource_type",
    "resource_label",
    "service_category",
    "product",
    "region",
    "is_gpu",
    "is_running",
    "month_to_date",
    "hourly_price",
    "hour_cap",
    "monthly_cap",
    "cap_source",
    "remaining_hours",
    "projected_additional",
    "projected_total",
    "is_capped",
    "as_of",
]
SUMMARY_COLUMNS = [
    "account_id",
    "as_of",
    "month_start",
    "month_end",
    "month_to_date",
    "projected_additional",
    "projected_total",
    "running_resources",
    "running_lines",
    "capped_lines",
]


def to_cents(value: Decimal) -> Decimal:
    """Round a USD amount to the cent, halves away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class BillingMonth:
    """The calendar month that contains `as_of`, as UTC instants; `end` is exclusive."""

    start: datetime
    end: datetime

    @classmethod
    def containing(cls, as_of: datetime) -> BillingMonth:
        """Return the billing month that contains `as_of`."""
        moment = as_of.astimezone(UTC)
        start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        end = (start + timedelta(days=32)).replace(day=1)
        return cls(start, end)

    @property
    def last_day(self) -> date:
        """The last calendar day of the month."""
        return (self.end - timedelta(days=1)).date()


def remaining_hours(as_of: datetime, month_end: datetime) -> int:
    """Return the whole hours from `as_of` to the end of the month.

    The hour in progress at `as_of` is left out because Vultr bills started hours, so the
    pending line already counts it.
    """
    seconds = (month_end - as_of).total_seconds()
    return max(int(seconds // 3600), 0)


def catalogue_monthly_prices(
    instance_metadata: pd.DataFrame, blocks: pd.DataFrame, object_storage: pd.DataFrame
) -> dict[str, Decimal]:
    """Map resource ids to their monthly catalogue price, from the inventory tables."""
    prices: dict[str, Decimal] = {}
    sources = (
        (instance_metadata, "resource_id", "monthly_cost"),
        (blocks, "id", "cost"),
        (object_storage, "id", "tier_price"),
    )
    for frame, id_column, price_column in sources:
        for resource_id, price in zip(frame[id_column], frame[price_column], strict=True):
            if _text(resource_id) and price is not None and not pd.isna(price):
                prices[str(resource_id)] = price
    return prices


def forecast_lines(
    line_items: pd.DataFrame, monthly_prices: Mapping[str, Decimal], as_of: datetime
) -> pd.DataFrame:
    """Project each pending line of the month of `as_of` to the month end.

    Args:
        line_items: Rows of `cost_line_items`; only `source == "pending"` rows of the month that
            contains `as_of` are used.
        monthly_prices: Monthly catalogue price per resource id (see
            `catalogue_monthly_prices`).
        as_of: The instant the pending charges describe.

    Returns:
        One row per pending line, columns `RESOURCE_COLUMNS`, money in Decimal cents.
        For running lines, `monthly_cap` is the cap, `cap_source` names its source
        (`catalogue`, `invoice_history` or `hour_cap`, see the module docstring), and
        `is_capped` whether the projection reached it. Other lines have None there.
    """
    month = BillingMonth.containing(as_of)
    hours_left = remaining_hours(as_of, month.end)
    pending = _pending_lines(line_items, month)
    billed = billed_monthly_prices(line_items)
    rows = [_forecast_line(line, monthly_prices, billed, as_of, hours_left) for line in pending]
    return pd.DataFrame(rows, columns=RESOURCE_COLUMNS)


def billed_monthly_prices(line_items: pd.DataFrame) -> dict[tuple[str, str, Decimal], Decimal]:
    """Map (account, resource or description, hourly price) to a full month's billed amount.

    Only invoice lines billed in hours for at least the cap hours (730 for GPU lines, else 672)
    count, because their amount is the monthly price. The latest such line wins.
    """
    prices: dict[tuple[str, str, Decimal], Decimal] = {}
    if line_items.empty:
        return prices
    invoiced = line_items[line_items["source"] == "invoice"]
    ordered = invoiced.sort_values(["billing_month", "line_id"], kind="stable")
    for line in ordered.to_dict("records"):
        hourly = _hourly_price(line)
        units = line.get("units")
        if hourly is None or units is None or pd.isna(units):
            continue
        if units >= (GPU_HOUR_CAP if line["is_gpu"] else SERVER_HOUR_CAP):
            prices[_billing_key(line, hourly)] = line["amount"]
    return prices


def _billing_key(line: dict, hourly: Decimal) -> tuple[str, str, Decimal]:
    subject = _text(line["resource_id"]) or f"description:{_text(line['description'])}"
    return (line["account_id"], subject, hourly)


def summarize_forecast(
    lines: pd.DataFrame, account_ids: list[str], as_of: datetime
) -> pd.DataFrame:
    """Add up the projected lines into one forecast row per account.

    `running_resources` counts distinct resource ids among running lines, and each running
    line without a resource id as one resource. Accounts without pending lines get zeros.
    """
    month = BillingMonth.containing(as_of)
    rows = []
    for account_id in sorted(set(account_ids) | set(lines["account_id"])):
        own = lines[lines["account_id"] == account_id]
        running = own[own["is_running"]]
        resources = {
            _text(resource_id) or f"line:{line_id}"
            for resource_id, line_id in zip(running["resource_id"], running["line_id"], strict=True)
        }
        rows.append(
            {
                "account_id": account_id,
                "as_of": as_of,
                "month_start": month.start.date(),
                "month_end": month.last_day,
                "month_to_date": sum(own["month_to_date"], Decimal(0)),
                "projected_additional": sum(own["projected_additional"], Decimal(0)),
                "projected_total": sum(own["projected_total"], Decimal(0)),
                "running_resources": len(resources),
                "running_lines": len(running),
                "capped_lines": int(own["is_capped"].sum()),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _pending_lines(line_items: pd.DataFrame, month: BillingMonth) -> list[dict]:
    if line_items.empty:
        return []
    pending = line_items[line_items["source"] == "pending"]
    month_start = month.start.date()
    in_month = [_to_date(value) == month_start for value in pending["billing_month"]]
    selected = pending[in_month].sort_values(["account_id", "line_number"], kind="stable")
    return selected.to_dict("records")


def _forecast_line(
    line: dict,
    monthly_prices: Mapping[str, Decimal],
    billed_prices: Mapping[tuple[str, str, Decimal], Decimal],
    as_of: datetime,
    hours_left: int,
) -> dict[str, object]:
    month_to_date = line["amount"]
    hourly = _hourly_price(line)
    running = hourly is not None and _reaches(line["charge_period_end"], as_of)
    hour_cap = GPU_HOUR_CAP if line["is_gpu"] else SERVER_HOUR_CAP

    monthly_cap = cap_source = None
    projected_total = month_to_date
    capped = False
    if running:
        monthly_cap, cap_source = _monthly_cap(
            line, hourly, hour_cap, monthly_prices, billed_prices
        )
        uncapped = to_cents(month_to_date + hourly * hours_left)
        capped = uncapped > monthly_cap
        projected_total = max(month_to_date, min(uncapped, monthly_cap))

    return {
        "account_id": line["account_id"],
        "line_id": line["line_id"],
        "resource_id": _text(line["resource_id"]),
        "resource_type": _text(line["resource_type"]),
        "resource_label": _text(line["resource_label"]),
        "service_category": line["service_category"],
        "product": _text(line["product"]),
        "region": _text(line["region"]),
        "is_gpu": bool(line["is_gpu"]),
        "is_running": running,
        "month_to_date": month_to_date,
        "hourly_price": hourly if running else None,
        "hour_cap": hour_cap if running else None,
        "monthly_cap": monthly_cap,
        "cap_source": cap_source,
        "remaining_hours": hours_left if running else 0,
        "projected_additional": projected_total - month_to_date,
        "projected_total": projected_total,
        "is_capped": capped,
        "as_of": as_of,
    }


def _monthly_cap(
    line: dict,
    hourly: Decimal,
    hour_cap: int,
    monthly_prices: Mapping[str, Decimal],
    billed_prices: Mapping[tuple[str, str, Decimal], Decimal],
) -> tuple[Decimal, str]:
    """Return the highest total the line can reach this month, and where that figure came from."""
    resource_id = _text(line["resource_id"])
    catalogue = monthly_prices.get(resource_id) if resource_id else None
    if catalogue is not None:
        if line["service_category"] == "backup":
            return to_cents(catalogue * BACKUP_SHARE), "catalogue"
        if line["service_category"] in _CATALOGUE_CATEGORIES:
            return catalogue, "catalogue"
    billed = billed_prices.get(_billing_key(line, hourly))
    if billed is not None:
        return billed, "invoice_history"
    return to_cents(hourly * hour_cap), "hour_cap"


def _hourly_price(line: dict) -> Decimal | None:
    unit_type = (_text(line.get("unit_type")) or "").strip().lower()
    price = line.get("unit_price")
    if unit_type not in _HOURLY_UNIT_TYPES or price is None or pd.isna(price) or price <= 0:
        return None
    return price


def _text(value: object) -> str | None:
    """Return a non-empty string, or None for a null, NaN or empty value."""
    if value is None or value == "" or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def _reaches(period_end: object, as_of: datetime) -> bool:
    if period_end is None or pd.isna(period_end):
        return False
    return pd.Timestamp(period_end) >= pd.Timestamp(as_of)


def _to_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()
