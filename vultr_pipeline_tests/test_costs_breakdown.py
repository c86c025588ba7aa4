"""Tests of the cost breakdown: month totals by dimension and exact day proration."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from vultr_pipeline.costs.breakdown import (
    breakdown_mismatches,
    build_cost_breakdown,
    prorate_by_day,
)
from vultr_pipeline.costs.proration import allocate

ACCOUNT = "main"
OCTOBER = dt.date(2026, 10, 1)
OCTOBER_PERIOD = ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")


def _line(number, category, amount, *, gpu=False, region=None, plan=None, tags=(), period=None):
    start, end = period or OCTOBER_PERIOD
    return {
        "account_id": ACCOUNT,
        "line_id": f"invoice:1:{number}",
        "billing_month": OCTOBER,
        "charge_period_start": pd.Timestamp(start),
        "charge_period_end": pd.Timestamp(end),
        "amount": Decimal(amount),
        "service_category": category,
        "region": region,
        "plan": plan,
        "tags": list(tags),
        "is_gpu": gpu,
    }


def _october_lines() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _line(1, "compute", "10.00", region="ewr", plan="vc2-1c-1gb", tags=["env:prod"]),
            _line(2, "compute", "5.25", region="ams", plan="vc2-1c-1gb"),
            _line(3, "gpu", "100.00", gpu=True, region="ewr", plan="vcg-a100", tags=["team:ml"]),
            _line(4, "backup", "20.00", gpu=True, region="ewr", tags=["env:prod", "team:ml"]),
            _line(5, "bare_metal", "120.00", region="fra", plan="vbm-4c-32gb"),
            _line(6, "block_storage", "2.50", region="fra"),
            _line(7, "other", "-3.00"),
        ]
    )


def _rows(breakdown: pd.DataFrame, grain: str, dimension: str) -> dict[str, Decimal]:
    selected = breakdown[(breakdown["grain"] == grain) & (breakdown["dimension"] == dimension)]
    return dict(zip(selected["dimension_value"], selected["amount"], strict=True))


def test_month_by_service_category():
    breakdown = build_cost_breakdown(_october_lines())

    by_service = _rows(breakdown, "month", "service_category")

    # compute: 10.00 + 5.25 = 15.25; the discount stays a negative "other".
    assert by_service == {
        "backup": Decimal("20.00"),
        "bare_metal": Decimal("120.00"),
        "block_storage": Decimal("2.50"),
        "compute": Decimal("15.25"),
        "gpu": Decimal("100.00"),
        "other": Decimal("-3.00"),
    }
    # 15.25 + 100.00 + 20.00 + 120.00 + 2.50 - 3.00 = 254.75
    assert sum(by_service.values()) == Decimal("254.75")
    month = breakdown[breakdown["grain"] == "month"]
    assert set(month["period_start"]) == {OCTOBER}
    compute = month[month["dimension_value"] == "compute"]
    assert list(compute["line_count"]) == [2]


def test_gpu_vs_cpu_split():
    breakdown = build_cost_breakdown(_october_lines())

    split = _rows(breakdown, "month", "gpu_vs_cpu")

    # gpu: GPU instance 100.00 + its backups 20.00 = 120.00
    # cpu: compute 10.00 + 5.25 + bare metal 120.00 = 135.25
    # other: block 2.50 - discount 3.00 = -0.50
    assert split == {
        "gpu": Decimal("120.00"),
        "cpu": Decimal("135.25"),
        "other": Decimal("-0.50"),
    }
    assert sum(split.values()) == Decimal("254.75")


def test_region_plan_and_tag_values():
    breakdown = build_cost_breakdown(_october_lines())

    regions = _rows(breakdown, "month", "region")
    plans = _rows(breakdown, "month", "plan")
    tags = _rows(breakdown, "month", "tag")

    # ewr: 10.00 + 100.00 + 20.00 = 130.00; fra: 120.00 + 2.50 = 122.50
    assert regions == {
        "ewr": Decimal("130.00"),
        "ams": Decimal("5.25"),
        "fra": Decimal("122.50"),
        "unknown": Decimal("-3.00"),
    }
    # vc2-1c-1gb: 10.00 + 5.25; lines without a plan: 20.00 + 2.50 - 3.00 = 19.50
    assert plans["vc2-1c-1gb"] == Decimal("15.25")
    assert plans["none"] == Decimal("19.50")
    assert sum(plans.values()) == Decimal("254.75")
    # Line 4 carries both tags, so it counts in each: env:prod 10.00 + 20.00,
    # team:ml 100.00 + 20.00; untagged: 5.25 + 120.00 + 2.50 - 3.00 = 124.75.
    assert tags == {
        "env:prod": Decimal("30.00"),
        "team:ml": Decimal("120.00"),
        "untagged": Decimal("124.75"),
    }
    # 30.00 + 120.00 + 124.75 = 274.75, which is 254.75 plus line 4's 20.00 counted twice.
    assert sum(tags.values()) == Decimal("274.75")


def test_day_proration_by_hours():
    # 48 hours from Oct 1 12:00 to Oct 3 12:00: 12 h, 24 h and 12 h of 48.
    line = _line(1, "compute", "10.00", period=("2026-10-01T12:00:00Z", "2026-10-03T12:00:00Z"))

    days = prorate_by_day(line)

    # 10.00 × 12/48 = 2.50, × 24/48 = 5.00, × 12/48 = 2.50
    assert days == [
        (dt.date(2026, 10, 1), Decimal("2.50")),
        (dt.date(2026, 10, 2), Decimal("5.00")),
        (dt.date(2026, 10, 3), Decimal("2.50")),
    ]


def test_day_proration_largest_remainder():
    # 1.00 over three full days: 100 cents / 3 = 33 each, remainder 1 cent to the first day.
    line = _line(1, "compute", "1.00", period=("2026-10-01T00:00:00Z", "2026-10-04T00:00:00Z"))
    discount = _line(2, "other", "-1.00", period=("2026-10-01T00:00:00Z", "2026-10-04T00:00:00Z"))

    amounts = [amount for _, amount in prorate_by_day(line)]
    discounts = [amount for _, amount in prorate_by_day(discount)]

    assert amounts == [Decimal("0.34"), Decimal("0.33"), Decimal("0.33")]
    assert discounts == [Decimal("-0.34"), Decimal("-0.33"), Decimal("-0.33")]


def test_day_proration_october_month_sums():
    # A 31-day month: 20.00 = 2000 cents, 2000 / 31 = 64 rem 16, so 16 days get 65 cents.
    line = _line(1, "compute", "20.00")

    amounts = [amount for _, amount in prorate_by_day(line)]

    assert len(amounts) == 31
    assert amounts.count(Decimal("0.65")) == 16
    assert amounts.count(Decimal("0.64")) == 15
    assert sum(amounts) == Decimal("20.00")


def test_day_proration_empty_period():
    line = _line(1, "compute", "0.01", period=("2026-11-18T11:56:00Z", "2026-11-18T11:56:00Z"))

    assert prorate_by_day(line) == [(dt.date(2026, 11, 18), Decimal("0.01"))]


def test_day_rows_add_up_to_lines():
    lines = _october_lines()
    lines.loc[0, "charge_period_start"] = pd.Timestamp("2026-10-17T05:13:00Z")

    breakdown = build_cost_breakdown(lines)

    day = breakdown[breakdown["grain"] == "day"]
    for dimension in ("service_category", "region", "plan", "gpu_vs_cpu"):
        rows = day[day["dimension"] == dimension]
        assert sum(rows["amount"]) == Decimal("254.75"), dimension
    assert breakdown_mismatches(breakdown, lines) == []
    first_day = day[(day["period_start"] == OCTOBER) & (day["dimension"] == "service_category")]
    # Line 1 starts on Oct 17, so only line 2 is compute on Oct 1.
    assert list(first_day[first_day["dimension_value"] == "compute"]["line_count"]) == [1]


def test_mismatch_reported():
    lines = _october_lines()
    breakdown = build_cost_breakdown(lines)
    month_gpu = (
        (breakdown["grain"] == "month")
        & (breakdown["dimension"] == "service_category")
        & (breakdown["dimension_value"] == "gpu")
    )
    breakdown.loc[month_gpu, "amount"] = Decimal("99.99")

    problems = breakdown_mismatches(breakdown, lines)

    assert problems == [
        "main 2026-10 service_category: rows add up to 254.74, line items to 254.75, "
        "difference -0.01",
    ]


def test_allocate_sub_cent_amount():
    # 0.125 has a tenth-of-a-cent digit, so it is split in 0.001 steps: 125 / 2 = 62 rem 1.
    assert allocate(Decimal("0.125"), [1, 1]) == [Decimal("0.063"), Decimal("0.062")]


def test_allocate_rejects_zero_weights():
    with pytest.raises(ValueError, match="positive sum"):
        allocate(Decimal("1.00"), [0, 0])
