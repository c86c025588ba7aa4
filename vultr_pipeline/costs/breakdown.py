"""Cost breakdown: spend per month and per day along several dimensions, in long format.

Each row is one (account, grain, period, dimension, value) with its amount and line count.
Dimensions:

- `service_category`: the line's service category.
- `region`: the attributed resource's region, `unknown` when the line has none.
- `plan`: the attributed resource's plan, `none` when the line has none.
- `gpu_vs_cpu`: `gpu` for GPU lines (`is_gpu`), `cpu` for other compute and bare-metal
  lines, `other` for everything else.
- `tag`: every tag of the attributed resource, `untagged` for a line without tags. A line
  with several tags counts in full under each of them, so the tag rows of a period add up to
  more than the period's spend. Every other dimension assigns each line exactly one value,
  so its rows add up to the line total exactly.

Grain `month` uses the line's billing month. Grain `day` spreads each line over the UTC days
of its charge period in proportion to the time that falls in each day (the hours billed
that day), allocated to the cent by the largest-remainder method. The day amounts of one
line therefore add up exactly to the line amount, and no figure is rounded twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pandas as pd

from vultr_pipeline.costs import categories
from vultr_pipeline.costs.frames import build_frame, frame_rows, text_list, to_utc
from vultr_pipeline.costs.proration import split_by_day

MONTH = "month"
DAY = "day"

SERVICE_CATEGORY = "service_category"
REGION = "region"
PLAN = "plan"
GPU_VS_CPU = "gpu_vs_cpu"
TAG = "tag"
DIMENSIONS = (SERVICE_CATEGORY, REGION, PLAN, GPU_VS_CPU, TAG)

UNKNOWN_REGION = "unknown"
NO_PLAN = "none"
UNTAGGED = "untagged"
CPU_CATEGORIES = frozenset({categories.COMPUTE, categories.BARE_METAL})

CENT = Decimal("0.01")
BREAKDOWN_COLUMNS = (
    "account_id", "grain", "period_start", "dimension", "dimension_value", "amount", "line_count",
)  # fmt: skip


def gpu_vs_cpu(line: dict[str, Any]) -> str:
    """Return `gpu`, `cpu` or `other` for a line, as the `gpu_vs_cpu` dimension defines."""
    if line.get("is_gpu"):
        return "gpu"
    if line.get("service_category") in CPU_CATEGORIES:
        return "cpu"
    return "other"


def dimension_values(line: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield (dimension, value) for every dimension; `tag` may yield several values."""
    yield SERVICE_CATEGORY, line["service_category"]
    yield REGION, line.get("region") or UNKNOWN_REGION
    yield PLAN, line.get("plan") or NO_PLAN
    yield GPU_VS_CPU, gpu_vs_cpu(line)
    tags = text_list(line.get("tags"))
    for tag in dict.fromkeys(tags) if tags else [UNTAGGED]:
        yield TAG, tag


def prorate_by_day(line: dict[str, Any]) -> list[tuple[dt.date, Decimal]]:
    """Spread a line's amount over the UTC days of its charge period, exact to the cent."""
    start = to_utc(line["charge_period_start"])
    end = to_utc(line["charge_period_end"])
    return split_by_day(line["amount"], start, end)


def _add(totals: dict[tuple, list], key: tuple, amount: Decimal) -> None:
    entry = totals.setdefault(key, [Decimal(0), 0])
    entry[0] += amount
    entry[1] += 1


def build_cost_breakdown(line_items: pd.DataFrame) -> pd.DataFrame:
    """Aggregate cost line items by month and by day along every dimension.

    Returns:
        Rows with the columns of `BREAKDOWN_COLUMNS`, sorted. `line_count` is the number of
        lines with a share in the row; for grain `day` that is the lines whose charge period
        touches the day.
    """
    totals: dict[tuple, list] = {}
    for line in frame_rows(line_items):
        account = line["account_id"]
        values = list(dimension_values(line))
        month = line["billing_month"]
        if isinstance(month, dt.datetime | pd.Timestamp):
            month = month.date()
        for dimension, value in values:
            _add(totals, (account, MONTH, month, dimension, value), line["amount"])
        for day, amount in prorate_by_day(line):
            for dimension, value in values:
                _add(totals, (account, DAY, day, dimension, value), amount)

    rows = [
        dict(zip(BREAKDOWN_COLUMNS, (*key, amount, count), strict=True))
        for key, (amount, count) in sorted(totals.items())
    ]
    return build_frame(rows, BREAKDOWN_COLUMNS, integers=("line_count",))


def breakdown_mismatches(breakdown: pd.DataFrame, line_items: pd.DataFrame) -> list[str]:
    """Return a message for each dimension whose total differs from the line-item total.

    Every dimension except `tag` must add up exactly to the line items: per billing month for
    grain `month`, and over all days for grain `day`. An empty list means they reconcile.
    """
    lines = frame_rows(line_items)
    expected_month: dict[tuple, Decimal] = {}
    expected_all: dict[str, Decimal] = {}
    for line in lines:
        key = (line["account_id"], line["billing_month"])
        expected_month[key] = expected_month.get(key, Decimal(0)) + line["amount"]
        expected_all[line["account_id"]] = (
            expected_all.get(line["account_id"], Decimal(0)) + (line["amount"])
        )

    actual_month: dict[tuple, Decimal] = {}
    actual_all: dict[tuple, Decimal] = {}
    for row in frame_rows(breakdown):
        if row["dimension"] == TAG:
            continue
        if row["grain"] == MONTH:
            key = (row["account_id"], row["period_start"], row["dimension"])
            actual_month[key] = actual_month.get(key, Decimal(0)) + row["amount"]
        else:
            key = (row["account_id"], row["dimension"])
            actual_all[key] = actual_all.get(key, Decimal(0)) + row["amount"]

    problems = []
    for dimension in DIMENSIONS[:-1]:
        for (account, month), total in sorted(expected_month.items()):
            got = actual_month.get((account, month, dimension), Decimal(0))
            if got != total:
                problems.append(
                    f"{account} {month:%Y-%m} {dimension}: rows add up to {got}, "
                    f"line items to {total}, difference {got - total}"
                )
        for account, total in sorted(expected_all.items()):
            got = actual_all.get((account, dimension), Decimal(0))
            if got != total:
                problems.append(
                    f"{account} days {dimension}: rows add up to {got}, "
                    f"line items to {total}, difference {got - total}"
                )
    return problems
