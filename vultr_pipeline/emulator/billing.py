"""Closed monthly invoices, their items and the open month's pending charges.

Every invoice amount is the exact Decimal sum of its item totals, and the pending charges sum
to the account's `pending_charges`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from vultr_pipeline.emulator.charges import Charge, line_item
from vultr_pipeline.emulator.context import GenerationContext
from vultr_pipeline.emulator.money import to_cents
from vultr_pipeline.emulator.timeline import iso

_OVERAGE_GB_PRICE = Decimal("0.01")
_DISCOUNT_SHARE = Decimal("0.10")
_DISCOUNT_LIMIT = Decimal("25")


@dataclass(frozen=True)
class MonthBill:
    """One closed month: its invoice items and the bandwidth overage billed in it."""

    start: dt.datetime
    end: dt.datetime
    items: list[dict[str, Any]]
    amount: Decimal
    overage_gb: int
    overage_cost: Decimal


def bill_months(
    ctx: GenerationContext, months: list[tuple[dt.datetime, dt.datetime]]
) -> list[MonthBill]:
    """Build the invoice items of each closed month, oldest first."""
    bills = []
    for index, (start, end) in enumerate(months):
        items = [item for item in _period_items(ctx.charges, start, end)]
        overage_gb = ctx.ids.rng.choice((0, 0, ctx.ids.rng.randint(10, 400)))
        overage_cost = Decimal(0)
        if overage_gb:
            overage = line_item(
                Charge(
                    description=f"Bandwidth Overage {overage_gb} GB",
                    product="Bandwidth",
                    unit_price=_OVERAGE_GB_PRICE,
                    start=start,
                    unit_type="overage",
                    units_per_month=Decimal(overage_gb),
                ),
                start,
                end,
            )
            assert overage is not None
            overage_cost = overage["total"]
            items.append(overage)
        if index % 4 == 0:
            _append_discount(items, start, end)
        amount = sum((item["total"] for item in items), Decimal(0))
        bills.append(MonthBill(start, end, items, amount, overage_gb, overage_cost))
    return bills


def pending_items(ctx: GenerationContext) -> list[dict[str, Any]]:
    """Build the invoice-item-shaped charges of the open month up to now."""
    month_start = ctx.now.replace(day=1, hour=0)
    return list(_period_items(ctx.charges, month_start, ctx.now))


def pending_by_resource(ctx: GenerationContext) -> dict[str, Decimal]:
    """Return month-to-date charges summed per resource id."""
    month_start = ctx.now.replace(day=1, hour=0)
    totals: dict[str, Decimal] = {}
    for charge in ctx.charges:
        item = line_item(charge, month_start, ctx.now)
        if item is not None and charge.resource_id:
            totals[charge.resource_id] = totals.get(charge.resource_id, Decimal(0)) + item["total"]
    return totals


def _period_items(charges: list[Charge], start: dt.datetime, end: dt.datetime):
    for charge in charges:
        item = line_item(charge, start, end)
        if item is not None:
            yield item


def _append_discount(items: list[dict[str, Any]], start: dt.datetime, end: dt.datetime) -> None:
    subtotal = sum((item["total"] for item in items), Decimal(0))
    discount = min(_DISCOUNT_LIMIT, to_cents(subtotal * _DISCOUNT_SHARE))
    if discount <= 0:
        return
    items.append(
        {
            "description": "Promotional Discount",
            "product": "Discount",
            "start_date": iso(start),
            "end_date": iso(end),
            "units": 1,
            "unit_type": "discount",
            "unit_price": -discount,
            "total": -discount,
        }
    )
