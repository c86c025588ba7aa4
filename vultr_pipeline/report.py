"""`vultr-pipeline report`: a month's Vultr spend, forecast and savings, read from ClickHouse.

The report reads three tables that the daily job (or `vultr-pipeline demo`) writes:
`vultr_costs.cost_line_items`, `vultr_costs.month_end_forecast` and
`vultr_costs.cost_recommendations`. Money is summed exactly as Decimal and rounded half up to
cents only for presentation; JSON output carries it as strings such as "715.84".
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TextIO

import pandas as pd

from vultr_pipeline.clickhouse.engine import ClickHouseEngine, open_engine
from vultr_pipeline.clickhouse.tables import read_table
from vultr_pipeline.settings import clickhouse_settings_from_env

COSTS_DATABASE = "vultr_costs"
LINE_ITEMS_TABLE = "cost_line_items"
FORECAST_TABLE = "month_end_forecast"
RECOMMENDATIONS_TABLE = "cost_recommendations"
REQUIRED_TABLES = (LINE_ITEMS_TABLE, FORECAST_TABLE, RECOMMENDATIONS_TABLE)

LINE_ITEM_COLUMNS = [
    "account_id",
    "billing_month",
    "amount",
    "service_category",
    "region",
    "resource_id",
    "resource_type",
    "resource_label",
]
FORECAST_COLUMNS = [
    "account_id",
    "snapshot_date",
    "as_of",
    "month_start",
    "month_to_date",
    "projected_additional",
    "projected_total",
    "running_resources",
]
RECOMMENDATION_COLUMNS = [
    "account_id",
    "snapshot_date",
    "kind",
    "resource_id",
    "resource_type",
    "resource_label",
    "region",
    "evidence",
    "estimated_monthly_saving",
    "confidence",
]

CENT = Decimal("0.01")
UNATTRIBUTED = "unattributed"
DEFAULT_TOP = 5
_MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
_EXISTING_TABLES_SQL = (
    "SELECT name FROM system.tables "
    "WHERE database = {database:String} AND name IN {names:Array(String)}"
)


class ReportError(Exception):
    """The report cannot be built from what ClickHouse contains, or its options are invalid."""


def parse_month(text: str) -> dt.date:
    """Parse `YYYY-MM` into the first day of that month, for argparse.

    Raises:
        argparse.ArgumentTypeError: The text is not a valid `YYYY-MM` month.
    """
    match = _MONTH_PATTERN.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise argparse.ArgumentTypeError(f"invalid month {text!r}: use YYYY-MM, e.g. 2026-11")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `report` options to `parser`."""
    parser.add_argument(
        "--month",
        type=parse_month,
        default=None,
        help="Billing month to report, as YYYY-MM (default: the latest month with charges).",
    )
    parser.add_argument(
        "--account",
        default=None,
        help="Account name (the account_id column) to report (default: all accounts together).",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="Output format (default: table).",
    )
    parser.add_argument(
        "--top",
        type=int,
        default=DEFAULT_TOP,
        help=f"Rows in each top list (default: {DEFAULT_TOP}).",
    )


def cents(value: Decimal) -> Decimal:
    """Round an amount half up to cents, for presentation."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def previous_month(month: dt.date) -> dt.date:
    """Return the first day of the month before `month`."""
    return (month - dt.timedelta(days=1)).replace(day=1)


def _month_key(value: Any) -> dt.date:
    return pd.Timestamp(value).date().replace(day=1)


def latest_snapshot(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep each account's rows of its latest `snapshot_date`.

    The forecast and recommendation tables keep one snapshot per day, and only the latest
    describes the present. A frame without the column is returned as it is.
    """
    if frame.empty or "snapshot_date" not in frame.columns:
        return frame
    days = pd.to_datetime(frame["snapshot_date"])
    latest = days.groupby(frame["account_id"]).transform("max")
    return frame[days == latest]


def _total(values: Iterable[Any]) -> Decimal:
    return sum((value for value in values if value is not None), Decimal(0))


@dataclass(frozen=True)
class Ranked:
    """One entry of a top list: a name, an optional detail, and its amount."""

    name: str
    detail: str
    amount: Decimal


def _text(value: Any, fallback: str = "") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return fallback
    return str(value) or fallback


def rank_by(frame: pd.DataFrame, column: str, top: int) -> list[Ranked]:
    """Sum `amount` per value of `column` (missing values as `unattributed`), largest first."""
    totals: dict[str, Decimal] = {}
    for key, amount in zip(frame[column], frame["amount"], strict=True):
        name = _text(key, UNATTRIBUTED)
        totals[name] = totals.get(name, Decimal(0)) + amount
    ordered = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [Ranked(name, "", amount) for name, amount in ordered[:top]]


def rank_resources(frame: pd.DataFrame, top: int) -> list[Ranked]:
    """Sum `amount` per attributed resource, largest first; unattributed lines are left out."""
    totals: dict[str, Decimal] = {}
    details: dict[str, str] = {}
    for row in frame.itertuples(index=False):
        resource_id = _text(row.resource_id)
        if not resource_id:
            continue
        totals[resource_id] = totals.get(resource_id, Decimal(0)) + row.amount
        label = _text(row.resource_label, resource_id)
        details[resource_id] = f"{label} ({_text(row.resource_type, 'resource')})"
    ordered = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [Ranked(name, details[name], amount) for name, amount in ordered[:top]]


def _forecast_summary(forecast: pd.DataFrame, month: dt.date) -> dict[str, Any] | None:
    rows = forecast[[_month_key(value) == month for value in forecast["month_start"]]]
    if rows.empty:
        return None
    as_of = pd.to_datetime(rows["as_of"], utc=True).max()
    return {
        "as_of": as_of.isoformat().replace("+00:00", "Z"),
        "month_to_date": cents(_total(rows["month_to_date"])),
        "projected_additional": cents(_total(rows["projected_additional"])),
        "projected_total": cents(_total(rows["projected_total"])),
        "running_resources": int(sum(int(value) for value in rows["running_resources"])),
    }


def _change(current: Decimal, previous: Decimal, basis: str) -> dict[str, Any]:
    change = cents(current) - cents(previous)
    percent = None
    if previous != 0:
        percent = (change / cents(previous) * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return {"basis": basis, "amount": change, "percent": percent}


def _recommendations(recommendations: pd.DataFrame, top: int) -> dict[str, Any]:
    rows = recommendations.to_dict(orient="records")
    rows.sort(key=lambda row: (-row["estimated_monthly_saving"], _text(row["resource_id"])))
    entries = [
        {
            "kind": row["kind"],
            "resource_id": _text(row["resource_id"]) or None,
            "resource_label": _text(row["resource_label"]) or None,
            "region": _text(row["region"]) or None,
            "estimated_monthly_saving": cents(row["estimated_monthly_saving"]),
            "confidence": row["confidence"],
            "evidence": row["evidence"],
        }
        for row in rows[:top]
    ]
    as_of = None
    if not recommendations.empty and "snapshot_date" in recommendations.columns:
        as_of = pd.to_datetime(recommendations["snapshot_date"]).max().strftime("%Y-%m-%d")
    return {
        "count": len(rows),
        "total_monthly_saving": cents(distinct_saving(recommendations)),
        # Recommendations describe the latest snapshot, whatever month the report covers.
        "as_of": as_of,
        "top": entries,
    }


def distinct_saving(recommendations: pd.DataFrame) -> Decimal:
    """Add up the savings, counting each resource once, at its largest saving.

    Recommendations for one resource overlap: destroying an idle instance also ends its
    backups, so adding both savings would promise money that cannot be saved twice.
    Recommendations without a resource count in full.
    """
    best: dict[str, Decimal] = {}
    unattributed = Decimal(0)
    for row in recommendations.to_dict(orient="records"):
        saving = row["estimated_monthly_saving"]
        resource = _text(row["resource_id"])
        if resource:
            best[resource] = max(best.get(resource, saving), saving)
        else:
            unattributed += saving
    return sum(best.values(), unattributed)


def _no_data_message(month: dt.date, months: list[dt.date], account: str | None) -> str:
    which = f" of account {account!r}" if account is not None else ""
    key = month.strftime("%Y-%m")
    return (
        f"no cost lines{which} for {key} in {COSTS_DATABASE}.{LINE_ITEMS_TABLE}; months with "
        f"data: {min(months):%Y-%m} to {max(months):%Y-%m}. Pick one of them with --month, or "
        f"load {key} first with `vultr-pipeline backfill --from {key} --to {key}`."
    )


def build_report(
    line_items: pd.DataFrame,
    forecast: pd.DataFrame,
    recommendations: pd.DataFrame,
    month: dt.date | None = None,
    account: str | None = None,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """Build the report as a dict of plain values, with money as Decimal cents.

    The change from last month compares the forecast month-end total with last month's spend
    when a forecast exists for the month, and the month's spend otherwise. The `basis` field
    names the figure used.

    Only the latest daily snapshot of the forecast and recommendations counts.

    Raises:
        ReportError: There are no line items, none for `account`, or none for `month`. A
            month without lines would otherwise show zero spend and today's
            recommendations, which belong to no past month.
    """
    forecast = latest_snapshot(forecast)
    recommendations = latest_snapshot(recommendations)
    if account is not None:
        known = sorted(set(line_items["account_id"]))
        line_items = line_items[line_items["account_id"] == account]
        forecast = forecast[forecast["account_id"] == account]
        recommendations = recommendations[recommendations["account_id"] == account]
        if line_items.empty:
            raise ReportError(
                f"account {account!r} has no rows in {COSTS_DATABASE}.{LINE_ITEMS_TABLE}; "
                f"known accounts: {', '.join(known) or 'none'}. Pass one of them to --account."
            )
    if line_items.empty:
        raise ReportError(
            f"{COSTS_DATABASE}.{LINE_ITEMS_TABLE} is empty. Run `vultr-pipeline demo` or the "
            "daily job first."
        )
    months = [_month_key(value) for value in line_items["billing_month"]]
    if month is not None and month not in months:
        raise ReportError(_no_data_message(month, months, account))
    month = month or max(months)
    last = previous_month(month)
    current = line_items[[value == month for value in months]]
    before = line_items[[value == last for value in months]]

    spend = _total(current["amount"])
    last_spend = _total(before["amount"])
    forecast_summary = _forecast_summary(forecast, month)
    if forecast_summary is not None:
        change = _change(forecast_summary["projected_total"], last_spend, "forecast")
    else:
        change = _change(spend, last_spend, "spend")
    return {
        "month": month.strftime("%Y-%m"),
        "account": account or "all",
        "currency": "USD",
        "spend": cents(spend),
        "last_month": last.strftime("%Y-%m"),
        "last_month_spend": cents(last_spend),
        "forecast": forecast_summary,
        "change_from_last_month": change,
        "top_services": rank_by(current, "service_category", top),
        "top_regions": rank_by(current, "region", top),
        "top_resources": rank_resources(current, top),
        "recommendations": _recommendations(recommendations, top),
    }


def _plain(value: Any) -> Any:
    """Convert report values for JSON: Decimal to a string, ranked entries to objects."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Ranked):
        entry = {"name": value.name, "amount": str(cents(value.amount))}
        if value.detail:
            entry["detail"] = value.detail
        return entry
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def write_json(report: dict[str, Any], out: TextIO) -> None:
    """Write the report as one JSON object, with money as strings."""
    json.dump(_plain(report), out, indent=2)
    out.write("\n")


def _csv_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = [
        ["summary", "spend", report["month"], str(report["spend"])],
        ["summary", "last_month_spend", report["last_month"], str(report["last_month_spend"])],
    ]
    change = report["change_from_last_month"]
    rows.append(["summary", "change", change["basis"], str(change["amount"])])
    if report["forecast"] is not None:
        for key in ("month_to_date", "projected_additional", "projected_total"):
            rows.append(
                ["forecast", key, report["forecast"]["as_of"], str(report["forecast"][key])]
            )
    for section, key in (("service", "top_services"), ("region", "top_regions")):
        rows += [[section, entry.name, "", str(cents(entry.amount))] for entry in report[key]]
    rows += [
        ["resource", entry.name, entry.detail, str(cents(entry.amount))]
        for entry in report["top_resources"]
    ]
    for entry in report["recommendations"]["top"]:
        target = entry["resource_label"] or entry["resource_id"] or ""
        rows.append(
            ["recommendation", entry["kind"], target, str(entry["estimated_monthly_saving"])]
        )
    return rows


def write_csv(report: dict[str, Any], out: TextIO) -> None:
    """Write the report as CSV rows of section, name, detail and amount."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "name", "detail", "amount"])
    writer.writerows(_csv_rows(report))


def _ranked_lines(title: str, entries: list[Ranked], total: Decimal) -> list[str]:
    lines = ["", title]
    if not entries:
        return [*lines, "  (none)"]
    width = max(len(entry.name) for entry in entries)
    for entry in entries:
        share = ""
        if total:
            percent = (entry.amount / total * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            share = f"  {percent:>5} %"
        detail = f"  {entry.detail}" if entry.detail else ""
        lines.append(f"  {entry.name:<{width}}  {cents(entry.amount):>12}{share}{detail}")
    return lines


def write_table(report: dict[str, Any], out: TextIO) -> None:
    """Write the report as readable text sections."""
    change = report["change_from_last_month"]
    percent = "n/a" if change["percent"] is None else f"{change['percent']:+} %"
    if change["basis"] == "forecast":
        basis = "forecast"
    elif report["month"] < dt.datetime.now(dt.UTC).strftime("%Y-%m"):
        basis = "month's spend"
    else:
        basis = "spend so far"
    lines = [
        f"Vultr costs for {report['month']} (account: {report['account']}, USD)",
        f"  Spend in {report['month']}:        {report['spend']:>12}",
        f"  Spend in {report['last_month']}:        {report['last_month_spend']:>12}",
    ]
    forecast = report["forecast"]
    if forecast is not None:
        lines.append(f"  Forecast month end:      {forecast['projected_total']:>12}")
        lines.append(f"  Forecast as of:          {forecast['as_of']}")
    lines.append(f"  Change from last month:  {change['amount']:>+12} ({percent}, {basis})")
    spend = report["spend"]
    lines += _ranked_lines("Top services", report["top_services"], spend)
    lines += _ranked_lines("Top regions", report["top_regions"], spend)
    lines += _ranked_lines("Top resources", report["top_resources"], spend)

    savings = report["recommendations"]
    as_of = f" as of {savings['as_of']}" if savings["as_of"] else ""
    lines += ["", f"Top recommendations{as_of} ({savings['count']} in all, saving "
              f"{savings['total_monthly_saving']} a month)"]  # fmt: skip
    for entry in savings["top"]:
        target = entry["resource_label"] or entry["resource_id"] or "-"
        lines.append(
            f"  {entry['estimated_monthly_saving']:>10}  {entry['kind']}  {target}  "
            f"({entry['confidence']}): {entry['evidence']}"
        )
    if not savings["top"]:
        lines.append("  (none)")
    out.write("\n".join(lines) + "\n")


def missing_tables(engine: ClickHouseEngine) -> list[str]:
    """Return the report's input tables that do not exist yet."""
    result = engine.query_arrow(
        _EXISTING_TABLES_SQL, {"database": COSTS_DATABASE, "names": list(REQUIRED_TABLES)}
    )
    present = {row["name"] for row in result.to_pylist()}
    return [name for name in REQUIRED_TABLES if name not in present]


def load_tables(engine: ClickHouseEngine) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read the line items, forecast and recommendations with exact Decimal money.

    Raises:
        ReportError: A table does not exist yet.
    """
    missing = missing_tables(engine)
    if missing:
        names = ", ".join(f"{COSTS_DATABASE}.{name}" for name in missing)
        raise ReportError(
            f"missing tables {names}. Run `vultr-pipeline demo` or the daily job first."
        )
    return (
        read_table(engine, COSTS_DATABASE, LINE_ITEMS_TABLE, LINE_ITEM_COLUMNS),
        read_table(engine, COSTS_DATABASE, FORECAST_TABLE, FORECAST_COLUMNS),
        read_table(engine, COSTS_DATABASE, RECOMMENDATIONS_TABLE, RECOMMENDATION_COLUMNS),
    )


WRITERS = {"json": write_json, "csv": write_csv, "table": write_table}


def run_report(args: argparse.Namespace) -> int:
    """Print the report for `args.month` and `args.account` in `args.format`; return the exit code.

    A report that cannot be built (missing tables, an unknown account) prints one line on stderr
    and returns 2.
    """
    if args.top < 1:
        print("vultr-pipeline report: --top must be at least 1", file=sys.stderr)
        return 2
    try:
        engine = open_engine(clickhouse_settings_from_env())
        try:
            line_items, forecast, recommendations = load_tables(engine)
        finally:
            engine.close()
        report = build_report(
            line_items, forecast, recommendations, args.month, args.account, args.top
        )
    except ReportError as error:
        print(f"vultr-pipeline report: {error}", file=sys.stderr)
        return 2
    WRITERS[args.format](report, sys.stdout)
    return 0
