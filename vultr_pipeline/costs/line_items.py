"""Cost line items: every invoice item and pending charge, categorized and attributed.

One row per billed line, with the columns of `LINE_ITEM_COLUMNS`. Closed months come from
invoice items and the open month from pending charges, so the table contains the whole billed
history that the API returns.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from vultr_pipeline.costs import categories
from vultr_pipeline.costs.attribution import (
    AMBIGUOUS,
    Attribution,
    Indexes,
    InventoryIndex,
    attribute,
)
from vultr_pipeline.costs.clock import data_as_of
from vultr_pipeline.costs.descriptions import parse_description
from vultr_pipeline.costs.frames import build_frame, frame_rows, rows_by_account, to_utc

INVOICE = "invoice"
PENDING = "pending"
CENT = Decimal("0.01")

LINE_ITEM_COLUMNS = (
    "account_id", "line_id", "source", "invoice_id", "line_number", "billing_month",
    "charge_period_start", "charge_period_end", "product", "description", "units", "unit_type",
    "unit_price", "amount", "service_category", "resource_id", "resource_type",
    "resource_label", "region", "plan", "tags", "is_gpu", "match_confidence",
)  # fmt: skip


@dataclass
class LineItemReport:
    """Counts about one build of the line items, for logs and asset metadata.

    Attributes:
        unknown_products: Products with no known category, with their line counts.
        outcomes: Lines per attribution outcome (matched, unmatched, ambiguous, no_resource).
        confidences: Lines per match confidence.
        ambiguous_lines: Ids of lines left unattributed because several resources matched,
            with the number of candidates.
        invoices_without_header: Invoice ids that have items but no row in the invoices table,
            whose billing month falls back to the month of their items' start.
        missing_totals: Lines without `total`, priced as units × unit price instead.
    """

    unknown_products: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    confidences: Counter[str] = field(default_factory=Counter)
    ambiguous_lines: dict[str, int] = field(default_factory=dict)
    invoices_without_header: set[int] = field(default_factory=set)
    missing_totals: int = 0


def month_start(moment: dt.datetime | dt.date) -> dt.date:
    """Return the first day of the month containing `moment`."""
    return dt.date(moment.year, moment.month, 1)


def next_month(day: dt.date) -> dt.date:
    """Return the first day of the month after the month of `day`."""
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def invoice_billing_month(invoice_date: dt.datetime) -> dt.date:
    """Return the month an invoice bills: the month of the day before its date.

    A monthly invoice is dated shortly after midnight on the first day of the next month
    (for example 2026-11-01 00:30 for October), so the day before its date falls in the
    billed month. An invoice dated later in a month, such as a final invoice on closing an
    account, is taken to bill the month it is dated in.

    NOTE: a monthly invoice issued after the first day of the next month would be assigned
    to that next month.
    """
    return month_start(invoice_date - dt.timedelta(days=1))


def accounts_as_of(pending_charges: pd.DataFrame, account: pd.DataFrame) -> dict[str, dt.datetime]:
    """Return the instant each account's figures describe, per `data_as_of`."""
    accounts = set(account["account_id"]) | set(pending_charges["account_id"])
    return {
        name: data_as_of(
            pending_charges[pending_charges["account_id"] == name],
            account[account["account_id"] == name],
        )
        for name in sorted(accounts)
    }


def _amount(item: dict[str, Any], report: LineItemReport) -> Decimal:
    if item.get("total") is not None:
        return item["total"]
    report.missing_totals += 1
    if item.get("units") is None or item.get("unit_price") is None:
        return Decimal(0)
    return (item["units"] * item["unit_price"]).quantize(CENT, rounding=ROUND_HALF_UP)


def _resource_columns(attribution: Attribution) -> dict[str, Any]:
    resource = attribution.resource
    if resource is None:
        return {
            "resource_id": None,
            "resource_type": None,
            "resource_label": None,
            "region": None,
            "plan": None,
            "tags": [],
        }
    return {
        "resource_id": resource.resource_id,
        "resource_type": resource.resource_type,
        "resource_label": resource.resource_label,
        "region": resource.region,
        "plan": resource.plan,
        "tags": list(resource.tags),
    }


def _line(
    item: dict[str, Any],
    header: dict[str, Any],
    index: InventoryIndex,
    report: LineItemReport,
) -> dict[str, Any]:
    """Build one output row from a raw item and its source fields (`header`)."""
    start = to_utc(item.get("start_date")) or header["default_start"]
    end = to_utc(item.get("end_date")) or header["default_end"]
    found = categories.categorize(item.get("product"), item.get("description"))
    attribution = attribute(parse_description(item.get("description")), index, start, end)

    category = found.category
    resource = attribution.resource
    if category == categories.COMPUTE and resource is not None and resource.is_gpu:
        category = categories.GPU
    if not found.known_product:
        report.unknown_products[item.get("product") or ""] += 1
    report.outcomes[attribution.outcome] += 1
    report.confidences[attribution.confidence] += 1
    if attribution.outcome == AMBIGUOUS:
        report.ambiguous_lines[header["line_id"]] = attribution.candidates

    return {
        "account_id": item["account_id"],
        "line_id": header["line_id"],
        "source": header["source"],
        "invoice_id": header["invoice_id"],
        "line_number": int(item["line_number"]),
        "billing_month": header["billing_month"],
        "charge_period_start": start,
        "charge_period_end": end,
        "product": item.get("product"),
        "description": item.get("description"),
        "units": item.get("units"),
        "unit_type": item.get("unit_type"),
        "unit_price": item.get("unit_price"),
        "amount": _amount(item, report),
        "service_category": category,
        **_resource_columns(attribution),
        "is_gpu": category == categories.GPU or bool(resource and resource.is_gpu),
        "match_confidence": attribution.confidence,
    }


def _invoice_header(
    item: dict[str, Any], invoice_dates: dict[tuple[str, int], dt.datetime], report: LineItemReport
) -> dict[str, Any]:
    invoice_id = int(item["invoice_id"])
    invoice_date = invoice_dates.get((item["account_id"], invoice_id))
    if invoice_date is not None:
        billing_month = invoice_billing_month(invoice_date)
    else:
        report.invoices_without_header.add(invoice_id)
        start = to_utc(item.get("start_date"))
        billing_month = month_start(start) if start else dt.date(1970, 1, 1)
    return {
        "line_id": f"invoice:{invoice_id}:{int(item['line_number'])}",
        "source": INVOICE,
        "invoice_id": invoice_id,
        "billing_month": billing_month,
        "default_start": _midnight(billing_month),
        "default_end": _midnight(next_month(billing_month)),
    }


def _pending_header(item: dict[str, Any], as_of: dt.datetime) -> dict[str, Any]:
    billing_month = month_start(as_of)
    return {
        "line_id": f"pending:{billing_month:%Y-%m}:{int(item['line_number'])}",
        "source": PENDING,
        "invoice_id": None,
        "billing_month": billing_month,
        "default_start": _midnight(billing_month),
        "default_end": as_of,
    }


def build_cost_line_items(
    invoices: pd.DataFrame,
    invoice_items: pd.DataFrame,
    pending_charges: pd.DataFrame,
    indexes: Indexes,
    as_of: dict[str, dt.datetime],
) -> tuple[pd.DataFrame, LineItemReport]:
    """Build one categorized, attributed row per invoice item and pending charge.

    Args:
        invoices: Raw invoices; each item's billing month is `invoice_billing_month` of its
            invoice's date.
        invoice_items: Raw invoice items.
        pending_charges: Raw pending charges, billed in the month of the account's `as_of`.
        indexes: Inventory candidates per account, from `attribution.build_indexes`.
        as_of: Instant each account's figures describe, from `accounts_as_of`.

    Returns:
        The rows with the columns of `LINE_ITEM_COLUMNS`, and counts for metadata. A missing
        start or end of an item falls back to the bounds of its billing month (for pending
        charges, the month start and `as_of`).

    Raises:
        ValueError: Pending charges belong to an account missing from `as_of`.
    """
    report = LineItemReport()
    invoice_dates = {
        (row["account_id"], int(row["id"])): to_utc(row["date"]) for row in frame_rows(invoices)
    }
    rows = []
    for item in frame_rows(invoice_items):
        header = _invoice_header(item, invoice_dates, report)
        index = indexes.get(item["account_id"], InventoryIndex())
        rows.append(_line(item, header, index, report))
    for account, items in rows_by_account(frame_rows(pending_charges)).items():
        if account not in as_of:
            raise ValueError(
                f"No as-of instant for account {account!r}, which has pending charges. "
                "Pass the instant from accounts_as_of(pending_charges, account)."
            )
        index = indexes.get(account, InventoryIndex())
        for item in items:
            rows.append(_line(item, _pending_header(item, as_of[account]), index, report))

    rows.sort(
        key=lambda row: (
            row["account_id"],
            row["billing_month"],
            row["source"],
            row["invoice_id"] or 0,
            row["line_number"],
        )
    )
    frame = build_frame(
        rows,
        LINE_ITEM_COLUMNS,
        datetimes=("charge_period_start", "charge_period_end"),
        integers=("invoice_id", "line_number"),
    )
    return frame, report
