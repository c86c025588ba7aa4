"""Billable resources and the invoice-item lines they produce for a billing period."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from vultr_pipeline.emulator.money import to_cents
from vultr_pipeline.emulator.timeline import hours_between, iso


@dataclass(frozen=True, slots=True)
class Charge:
    """A resource as billing sees it: a price, a lifetime and the invoice wording.

    Attributes:
        description: Item description naming the resource, e.g. `"Load Balancer (web)"`.
        product: Vultr product name, e.g. `"Vultr Cloud Compute"`.
        unit_price: USD per unit.
        start: Creation time; nothing is billed before it.
        end: Deletion time, or None while the resource exists.
        monthly_cap: Highest total for one month, or None for no cap.
        unit_type: Item `unit_type`: `"hours"`, `"GB"` or `"overage"`.
        units_per_month: Units billed for any month the resource exists in, or None to bill
            the started hours of the period.
        resource_id: Id of the resource in the inventory, empty when it has none.
    """

    description: str
    product: str
    unit_price: Decimal
    start: dt.datetime
    end: dt.datetime | None = None
    monthly_cap: Decimal | None = None
    unit_type: str = "hours"
    units_per_month: Decimal | None = None
    resource_id: str = ""


def line_item(
    charge: Charge, period_start: dt.datetime, period_end: dt.datetime
) -> dict[str, Any] | None:
    """Return the invoice item of a charge for [period_start, period_end), or None if unused.

    The total is units × unit price rounded half up to the cent, then capped at the monthly cap.
    """
    start = max(charge.start, period_start)
    end = period_end if charge.end is None else min(charge.end, period_end)
    if end <= start:
        return None

    units: int | Decimal
    if charge.units_per_month is None:
        units = hours_between(start, end)
    else:
        units = charge.units_per_month
    total = to_cents(units * charge.unit_price)
    if charge.monthly_cap is not None and total > charge.monthly_cap:
        total = charge.monthly_cap

    return {
        "description": charge.description,
        "product": charge.product,
        "start_date": _iso_cached(start),
        "end_date": _iso_cached(end),
        "units": units,
        "unit_type": charge.unit_type,
        "unit_price": charge.unit_price,
        "total": total,
    }


def period_total(charge: Charge, period_start: dt.datetime, period_end: dt.datetime) -> Decimal:
    """Return what a charge costs over a period, zero when the resource did not exist."""
    item = line_item(charge, period_start, period_end)
    return Decimal(0) if item is None else item["total"]


@lru_cache(maxsize=8192)
def _iso_cached(moment: dt.datetime) -> str:
    # Most items share the month boundaries, so caching saves most of the formatting time.
    return iso(moment)
