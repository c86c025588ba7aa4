"""Decimal price arithmetic shared by the catalogue and billing generators."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HOURLY_STEP = Decimal("0.0001")

# Vultr caps an hourly-billed resource at 672 hours (28 days) a month.
BILLABLE_HOURS_CAP = 672


def to_cents(value: Decimal) -> Decimal:
    """Round a USD amount to the cent, halves away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def hourly_rate(monthly: Decimal) -> Decimal:
    """Return the hourly price of a monthly price, at four decimals as invoices show it."""
    return (monthly / BILLABLE_HOURS_CAP).quantize(HOURLY_STEP, rounding=ROUND_HALF_UP)
