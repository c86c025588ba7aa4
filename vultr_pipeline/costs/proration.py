"""Exact splitting of money: over weights, and over the UTC days of a charge period.

Every breakdown by day (the `cost_breakdown` day rows, the anomaly baselines, the charts)
uses these functions, so the same line gives the same day amounts everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

CENT = Decimal("0.01")


def allocate(amount: Decimal, weights: Sequence[int]) -> list[Decimal]:
    """Split `amount` in proportion to integer `weights` by the largest-remainder method.

    The shares are whole cents, or whole units of the amount's last digit when the amount
    has sub-cent digits, and they add up exactly to `amount`. Ties in the remainder go to
    the earlier weight. A negative amount is split as its absolute value, then negated.

    Raises:
        ValueError: `weights` is empty, has a negative weight, or adds up to zero.
    """
    weights = list(weights)
    total = sum(weights)
    if not weights or total <= 0 or min(weights) < 0:
        raise ValueError(
            f"Cannot allocate {amount} over weights {weights}: weights must be non-negative "
            "with a positive sum."
        )
    quantum = CENT
    if amount != amount.quantize(CENT):
        quantum = Decimal(1).scaleb(amount.as_tuple().exponent)
    units = int(abs(amount) / quantum)
    sign = -1 if amount < 0 else 1

    products = [units * weight for weight in weights]
    shares = [product // total for product in products]
    left = units - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(products[i] % total), i))
    for position in by_remainder[:left]:
        shares[position] += 1
    return [sign * share * quantum for share in shares]


def day_weights(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.date, int]]:
    """Return each UTC day of [start, end) with the microseconds of the period in it.

    Both bounds must be UTC. A period that ends at or before its start falls wholly on the
    day of its start, with weight 1.
    """
    if end <= start:
        return [(start.date(), 1)]
    weights = []
    cursor = start
    while cursor < end:
        next_midnight = dt.datetime.combine(
            cursor.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
        )
        stop = min(next_midnight, end)
        weights.append((cursor.date(), (stop - cursor) // dt.timedelta(microseconds=1)))
        cursor = stop
    return weights


def split_by_day(
    amount: Decimal, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.date, Decimal]]:
    """Spread `amount` over the UTC days of [start, end) by time, exact to the cent."""
    days = day_weights(start, end)
    amounts = allocate(amount, [weight for _, weight in days])
    return [(day, share) for (day, _), share in zip(days, amounts, strict=True)]
