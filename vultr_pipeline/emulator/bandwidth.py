"""Account bandwidth periods with epoch-second string bounds, as `/account/bandwidth` has them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from vultr_pipeline.emulator.billing import MonthBill
from vultr_pipeline.emulator.ids import IdSource
from vultr_pipeline.emulator.timeline import epoch_text, month_start

_FREE_CREDITS_GB = 2048
_OVERAGE_GB_PRICE = Decimal("0.01")
_COMPUTE_PRODUCTS = {"Vultr Cloud Compute", "Cloud GPU"}


def build_bandwidth(
    ids: IdSource, bills: list[MonthBill], pending: list[dict[str, Any]], now: dt.datetime
) -> dict[str, Any]:
    """Build the three bandwidth periods.

    The previous month carries the overage GB and cost of the last invoice, and its instance
    hours are the compute hours billed in it.
    """
    current = month_start(now.year, now.month)
    following = month_start(now.year, now.month + 1)
    previous_start = month_start(now.year, now.month - 1)
    if bills:
        last = bills[-1]
        previous = _period(ids, previous_start, current, last.items, last.overage_gb)
        previous["overage_cost"] = last.overage_cost
    else:
        previous = _period(ids, previous_start, current, [], 0)

    to_date = _period(ids, current, now, pending, 0)
    elapsed = (now - current) / (following - current)
    projected = dict(to_date, timestamp_end=epoch_text(following))
    for key in ("gb_in", "gb_out", "total_instance_hours"):
        projected[key] = int(to_date[key] / elapsed)
    return {
        "previous_month": previous,
        "current_month_to_date": to_date,
        "current_month_projected": projected,
    }


def _period(
    ids: IdSource,
    start: dt.datetime,
    end: dt.datetime,
    items: list[dict[str, Any]],
    overage_gb: int,
) -> dict[str, Any]:
    compute = [item for item in items if item["product"] in _COMPUTE_PRODUCTS]
    instance_credits = ids.rng.randint(1_000, 20_000)
    allowance = instance_credits + _FREE_CREDITS_GB
    return {
        "timestamp_start": epoch_text(start),
        "timestamp_end": epoch_text(end),
        "gb_in": ids.rng.randint(10, 900),
        "gb_out": allowance + overage_gb if overage_gb else ids.rng.randint(0, allowance),
        "total_instance_hours": sum(item["units"] for item in compute),
        "total_instance_count": len(compute),
        "instance_bandwidth_credits": instance_credits,
        "free_bandwidth_credits": _FREE_CREDITS_GB,
        "purchased_bandwidth_credits": 0,
        "overage": overage_gb,
        "overage_unit_cost": _OVERAGE_GB_PRICE,
        "overage_cost": _overage_cost(overage_gb),
    }


def _overage_cost(overage_gb: int) -> Decimal:
    """Return the USD cost of overage GB."""
    return (_OVERAGE_GB_PRICE * overage_gb).quantize(Decimal("0.01"))
