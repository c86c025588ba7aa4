"""Tests of the daily spend chart: exact amounts, SVG geometry and the markdown that embeds it."""

from __future__ import annotations

import base64
import datetime as dt
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pandas as pd
import pytest

from vultr_pipeline.costs.breakdown import build_cost_breakdown
from vultr_pipeline.defs.charts import (
    BOTTOM,
    HEIGHT,
    TOP,
    DailySpend,
    chart_markdown,
    daily_spend_from_breakdown,
    daily_spend_from_line_items,
    nice_step,
    render_svg,
    stacked_axis,
    svg_data_uri,
)

SVG = "{http://www.w3.org/2000/svg}"
OCTOBER = dt.date(2026, 10, 1)
NOVEMBER = dt.date(2026, 11, 1)


def _line(number, category, amount, start, end, month=OCTOBER, account="main"):
    """Build a line item charged from midnight UTC of day `start` to midnight of day `end`."""
    return {
        "account_id": account,
        "line_id": f"invoice:1:{number}",
        "billing_month": month,
        "charge_period_start": pd.Timestamp(f"{start}T00:00:00Z"),
        "charge_period_end": pd.Timestamp(f"{end}T00:00:00Z"),
        "amount": Decimal(amount),
        "service_category": category,
        "region": "ewr",
        "plan": None,
        "tags": [],
        "is_gpu": category == "gpu",
    }


def _lines() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _line(1, "compute", "31.00", "2026-10-01", "2026-11-01"),
            _line(2, "gpu", "10.01", "2026-10-03", "2026-10-06"),
            _line(3, "other", "-2.00", "2026-10-10", "2026-10-11"),
            _line(4, "compute", "1.00", "2026-10-05", "2026-10-06", account="main2"),
            _line(5, "compute", "7.77", "2026-11-02", "2026-11-03", NOVEMBER),
        ]
    )


def _rects(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]


def _segment(svg: str, day: str, category: str) -> ET.Element:
    for rect in _rects(svg):
        if rect.find(f"{SVG}title").text.startswith(f"{day} {category}:"):
            return rect
    raise AssertionError(f"no bar segment for {day} {category}")


def test_line_items_prorated_exactly():
    spend = daily_spend_from_line_items(_lines(), OCTOBER)
    assert spend.month == OCTOBER
    assert spend.amounts[(dt.date(2026, 10, 1), "compute")] == Decimal("1.00")
    assert spend.amounts[(dt.date(2026, 10, 5), "compute")] == Decimal("2.00")
    gpu_days = [spend.amounts[(dt.date(2026, 10, day), "gpu")] for day in (3, 4, 5)]
    assert sum(gpu_days) == Decimal("10.01")
    assert spend.total == Decimal("40.01")


def test_breakdown_matches_line_items():
    lines = _lines()
    breakdown = build_cost_breakdown(lines)
    from_breakdown = daily_spend_from_breakdown(breakdown, OCTOBER)
    from_lines = daily_spend_from_line_items(lines, OCTOBER)
    assert dict(from_breakdown.amounts) == dict(from_lines.amounts)
    assert from_breakdown.total == Decimal("40.01")


def test_breakdown_billing_month_column():
    breakdown = build_cost_breakdown(_lines())
    breakdown.insert(1, "billing_month", [OCTOBER] * len(breakdown))
    spend = daily_spend_from_breakdown(breakdown)
    assert spend.month == OCTOBER
    assert spend.total == Decimal("47.78")
    assert (dt.date(2026, 11, 2), "compute") in spend.amounts


def test_latest_month_by_default():
    assert daily_spend_from_line_items(_lines()).month == NOVEMBER
    assert daily_spend_from_breakdown(build_cost_breakdown(_lines())).month == NOVEMBER


def test_empty_frames_give_none():
    assert daily_spend_from_line_items(pd.DataFrame()) is None
    breakdown = build_cost_breakdown(_lines())
    month_rows = breakdown[breakdown["grain"] == "month"]
    assert daily_spend_from_breakdown(month_rows) is None
    assert chart_markdown(None) == "_No daily spend to chart._"


def test_category_totals_exact_and_ordered():
    spend = daily_spend_from_line_items(_lines(), OCTOBER)
    totals = spend.category_totals()
    assert list(totals) == ["compute", "gpu", "other"]
    assert totals["compute"] == Decimal("32.00")
    assert totals["other"] == Decimal("-2.00")
    assert all(isinstance(amount, Decimal) for amount in totals.values())


def test_days_cover_month_and_spill():
    spend = DailySpend(
        month=OCTOBER,
        amounts={(dt.date(2026, 9, 30), "compute"): Decimal("1"), (OCTOBER, "gpu"): Decimal("1")},
    )
    days = spend.days()
    assert days[0] == dt.date(2026, 9, 30)
    assert days[-1] == dt.date(2026, 10, 31)
    assert len(days) == 32


@pytest.mark.parametrize(
    ("span", "step"),
    [
        pytest.param(Decimal("100"), Decimal("20"), id="hundred"),
        pytest.param(Decimal("47.5"), Decimal("10"), id="forty-seven"),
        pytest.param(Decimal("0.03"), Decimal("0.01"), id="cents"),
        pytest.param(Decimal("26"), Decimal("10"), id="twenty-six"),
        pytest.param(Decimal("0"), Decimal("1"), id="zero"),
    ],
)
def test_nice_step(span, step):
    assert nice_step(span) == step


def test_axis_covers_stacks_and_credits():
    spend = daily_spend_from_line_items(_lines(), OCTOBER)
    axis = stacked_axis(spend)
    assert axis.high >= Decimal("6.00")
    assert axis.low <= Decimal("-2.00")
    assert axis.low < 0 < axis.high
    assert Decimal(0) in axis.ticks()


def test_svg_segment_heights_proportional():
    spend = daily_spend_from_line_items(_lines(), OCTOBER)
    svg = render_svg(spend)
    axis = stacked_axis(spend)
    pixels_per_dollar = Decimal(HEIGHT - TOP - BOTTOM) / (axis.high - axis.low)
    compute = _segment(svg, "2026-10-05", "compute")
    expected = Decimal("2.00") * pixels_per_dollar
    assert abs(Decimal(compute.get("height")) - expected) <= Decimal("0.01")
    assert len(_rects(svg)) == len(spend.amounts)


def test_svg_credit_below_zero():
    spend = daily_spend_from_line_items(_lines(), OCTOBER)
    svg = render_svg(spend)
    credit = _segment(svg, "2026-10-10", "other")
    compute = _segment(svg, "2026-10-10", "compute")
    zero_line = Decimal(compute.get("y")) + Decimal(compute.get("height"))
    assert Decimal(credit.get("y")) == zero_line
    assert Decimal(credit.get("height")) > 0


def test_svg_escapes_category_names():
    spend = DailySpend(month=OCTOBER, amounts={(OCTOBER, "<odd & name>"): Decimal("3.50")})
    svg = render_svg(spend)
    ET.fromstring(svg)
    assert "<odd" not in svg
    assert "&lt;odd &amp; name&gt;" in svg


def test_markdown_embeds_svg_data_uri():
    spend = daily_spend_from_line_items(_lines(), OCTOBER)
    markdown = chart_markdown(spend)
    match = re.search(r"!\[[^\]]*\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match is not None
    assert base64.b64decode(match.group(1)).decode("utf-8") == render_svg(spend)
    assert "| compute | $32.00 |" in markdown
    assert "| other | -$2.00 |" in markdown
    assert "$40.01 in total" in markdown


def test_data_uri_prefix():
    assert svg_data_uri("<svg/>") == "data:image/svg+xml;base64,PHN2Zy8+"
