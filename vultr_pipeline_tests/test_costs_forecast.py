"""Month-end forecast on hand-built pending lines, with both hour caps reached."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from vultr_pipeline.clickhouse.engine import ClickHouseSettings
from vultr_pipeline.costs.forecast import (
    RESOURCE_COLUMNS,
    SUMMARY_COLUMNS,
    BillingMonth,
    catalogue_monthly_prices,
    forecast_lines,
    remaining_hours,
    summarize_forecast,
)
from vultr_pipeline.emulator import EmulatorServer
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY
from vultr_pipeline_tests.pipeline_runs import (
    configure,
    invoice_months,
    query,
    run_daily,
    run_months,
)

UTC = dt.UTC
# 2026-10-20 00:00: 19 days (456 hours) of October are billed, 12 days (288 hours) remain.
AS_OF = dt.datetime(2026, 10, 20, tzinfo=UTC)
OCTOBER = dt.date(2026, 10, 1)
KEY_VARIABLE = "TEST_VULTR_API_KEY"

pytest_plugins = ["vultr_pipeline_tests.pipeline_runs"]


def _line(
    line_number: int,
    resource_id: str | None,
    category: str,
    start: str,
    end: str,
    units: str,
    unit_price: str,
    amount: str,
    *,
    unit_type: str = "hours",
    is_gpu: bool = False,
    source: str = "pending",
    billing_month: dt.date = OCTOBER,
) -> dict[str, object]:
    return {
        "account_id": "main",
        "line_id": f"{source}:2026-10:{line_number}",
        "source": source,
        "invoice_id": None,
        "line_number": line_number,
        "billing_month": billing_month,
        "charge_period_start": pd.Timestamp(start, tz="UTC"),
        "charge_period_end": pd.Timestamp(end, tz="UTC"),
        "product": category,
        "description": f"line {line_number}",
        "units": Decimal(units),
        "unit_type": unit_type,
        "unit_price": Decimal(unit_price),
        "amount": Decimal(amount),
        "service_category": category,
        "resource_id": resource_id,
        "resource_type": None,
        "resource_label": resource_id,
        "region": "ewr",
        "plan": None,
        "tags": [],
        "is_gpu": is_gpu,
        "match_confidence": "exact" if resource_id else "none",
    }


def _line_items() -> pd.DataFrame:
    month, now = "2026-10-01", "2026-10-20"
    rows = [
        # GPU at 2.0000 an hour: 456 h × 2 = 912.00 so far.
        _line(1, "i-gpu", "gpu", month, now, "456", "2.0000", "912.00", is_gpu=True),
        # Cloud Compute at 0.0298: 456 h × 0.0298 = 13.5888, billed 13.59.
        _line(2, "i-web", "compute", month, now, "456", "0.0298", "13.59"),
        # Its backups at 0.0060: 456 h × 0.006 = 2.736, billed 2.74.
        _line(3, "i-web", "backup", month, now, "456", "0.0060", "2.74"),
        # Load balancer at 0.0149: 456 h × 0.0149 = 6.7944, billed 6.79.
        _line(4, "lb-1", "load_balancer", month, now, "456", "0.0149", "6.79"),
        # Created on the 15th: 120 h × 0.0298 = 3.576, billed 3.58.
        _line(5, "i-new", "compute", "2026-10-15", now, "120", "0.0298", "3.58"),
        # Deleted on the 10th: 216 h × 0.0298 = 6.4368, billed 6.44; no longer accruing.
        _line(6, "i-old", "compute", month, "2026-10-10", "216", "0.0298", "6.44"),
        # Snapshot billed per GB-month, 25.5 GB × 0.05 = 1.275, billed 1.28.
        _line(7, "s-1", "snapshot", month, now, "25.5", "0.05", "1.28", unit_type="GB"),
        # Unattributed reserved IP at 0.0045: 456 h × 0.0045 = 2.052, billed 2.05.
        _line(8, None, "reserved_ip", month, now, "456", "0.0045", "2.05"),
        # Closed months never enter the forecast.
        _line(9, "i-web", "compute", "2026-09-01", "2026-10-01", "720", "0.0298", "20.00",
              source="invoice", billing_month=dt.date(2026, 9, 1)),
        # September's full month of the load balancer, 720 h capped at 10.00.
        _line(10, "lb-1", "load_balancer", "2026-09-01", "2026-10-01", "720", "0.0149",
              "10.00", source="invoice", billing_month=dt.date(2026, 9, 1)),
    ]  # fmt: skip
    return pd.DataFrame(rows)


MONTHLY_PRICES = {
    # i-gpu has no catalogue price, so 730 h × its hourly price caps it.
    "i-web": Decimal("20.00"),
    "i-new": Decimal("20.00"),
    "i-old": Decimal("20.00"),
}


@pytest.fixture
def lines() -> pd.DataFrame:
    return forecast_lines(_line_items(), MONTHLY_PRICES, AS_OF)


def _by_number(lines: pd.DataFrame, line_number: int) -> dict[str, object]:
    rows = lines[lines["line_id"] == f"pending:2026-10:{line_number}"]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


def test_forecast_lines_columns(lines: pd.DataFrame) -> None:
    assert list(lines.columns) == RESOURCE_COLUMNS
    assert len(lines) == 8


def test_gpu_line_hits_730_hour_cap(lines: pd.DataFrame) -> None:
    row = _by_number(lines, 1)
    # 912.00 + 2 × 288 = 1488.00 exceeds 730 × 2.0000 = 1460.00.
    assert row["hour_cap"] == 730
    assert row["monthly_cap"] == Decimal("1460.00")
    assert row["cap_source"] == "hour_cap"
    assert row["is_capped"]
    assert row["projected_total"] == Decimal("1460.00")
    assert row["projected_additional"] == Decimal("548.00")


def test_compute_line_hits_monthly_price(lines: pd.DataFrame) -> None:
    row = _by_number(lines, 2)
    # 13.59 + 0.0298 × 288 = 22.1724 → 22.17, above the catalogue price 20.00 (which 672 h
    # × 0.0298 = 20.0256 would overstate by 3 cents).
    assert row["hour_cap"] == 672
    assert row["monthly_cap"] == Decimal("20.00")
    assert row["cap_source"] == "catalogue"
    assert row["projected_total"] == Decimal("20.00")
    assert row["projected_additional"] == Decimal("6.41")


def test_line_capped_at_last_full_month(lines: pd.DataFrame) -> None:
    row = _by_number(lines, 4)
    # 6.79 + 0.0149 × 288 = 11.0812 → 11.08, above September's full month of 10.00.
    assert row["monthly_cap"] == Decimal("10.00")
    assert row["cap_source"] == "invoice_history"
    assert row["projected_total"] == Decimal("10.00")
    assert row["projected_additional"] == Decimal("3.21")


def test_backup_line_capped_at_fifth_of_plan(lines: pd.DataFrame) -> None:
    row = _by_number(lines, 3)
    # Cap 20 % × 20.00 = 4.00 (672 × 0.0060 = 4.03 is higher); 2.74 + 1.728 = 4.47 → 4.00.
    assert row["monthly_cap"] == Decimal("4.00")
    assert row["projected_total"] == Decimal("4.00")
    assert row["projected_additional"] == Decimal("1.26")


def test_new_instance_stays_below_cap(lines: pd.DataFrame) -> None:
    row = _by_number(lines, 5)
    # 3.58 + 0.0298 × 288 = 12.1624 → 12.16, below 20.00.
    assert not row["is_capped"]
    assert row["projected_total"] == Decimal("12.16")
    assert row["projected_additional"] == Decimal("8.58")


@pytest.mark.parametrize(
    ("line_number", "amount"),
    [pytest.param(6, "6.44", id="deleted"), pytest.param(7, "1.28", id="snapshot-gb")],
)
def test_lines_not_running_keep_amount(lines: pd.DataFrame, line_number: int, amount: str) -> None:
    row = _by_number(lines, line_number)
    assert not row["is_running"]
    assert row["projected_total"] == Decimal(amount)
    assert row["projected_additional"] == Decimal("0")
    assert row["remaining_hours"] == 0


def test_unattributed_line_is_projected(lines: pd.DataFrame) -> None:
    row = _by_number(lines, 8)
    # 2.05 + 0.0045 × 288 = 3.346 → 3.35, above the 672-hour cap 672 × 0.0045 = 3.024 → 3.02.
    assert pd.isna(row["resource_id"])
    assert row["hour_cap"] == 672
    assert row["cap_source"] == "hour_cap"
    assert row["projected_total"] == Decimal("3.02")
    assert row["projected_additional"] == Decimal("0.97")


def test_summary_adds_up_lines(lines: pd.DataFrame) -> None:
    summary = summarize_forecast(lines, ["main", "empty"], AS_OF)
    assert list(summary.columns) == SUMMARY_COLUMNS
    main = summary[summary["account_id"] == "main"].iloc[0]
    # 912.00 + 13.59 + 2.74 + 6.79 + 3.58 + 6.44 + 1.28 + 2.05 = 948.47
    assert main["month_to_date"] == Decimal("948.47")
    # 548.00 + 6.41 + 1.26 + 3.21 + 8.58 + 0 + 0 + 0.97 = 568.43
    assert main["projected_additional"] == Decimal("568.43")
    # 948.47 + 568.43 = 1516.90
    assert main["projected_total"] == Decimal("1516.90")
    # i-gpu, i-web (compute and backup lines), lb-1, i-new and the unattributed line.
    assert main["running_resources"] == 5
    assert main["running_lines"] == 6
    assert main["capped_lines"] == 5
    assert main["month_start"] == dt.date(2026, 10, 1)
    assert main["month_end"] == dt.date(2026, 10, 31)


def test_summary_account_without_lines(lines: pd.DataFrame) -> None:
    summary = summarize_forecast(lines, ["main", "empty"], AS_OF)
    empty = summary[summary["account_id"] == "empty"].iloc[0]
    assert empty["month_to_date"] == Decimal(0)
    assert empty["projected_total"] == Decimal(0)
    assert empty["running_resources"] == 0


def test_forecast_of_no_line_items() -> None:
    empty = pd.DataFrame(columns=_line_items().columns)
    lines = forecast_lines(empty, {}, AS_OF)
    assert lines.empty
    assert list(lines.columns) == RESOURCE_COLUMNS


def test_remaining_hours_drops_started_hour() -> None:
    month_end = dt.datetime(2026, 11, 1, tzinfo=UTC)
    assert remaining_hours(dt.datetime(2026, 10, 31, 22, 30, tzinfo=UTC), month_end) == 1
    assert remaining_hours(AS_OF, month_end) == 288
    assert remaining_hours(month_end, month_end) == 0


def test_billing_month_of_december() -> None:
    month = BillingMonth.containing(dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert month.start == dt.datetime(2026, 12, 1, tzinfo=UTC)
    assert month.end == dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert month.last_day == dt.date(2026, 12, 31)


def test_catalogue_prices_from_inventory() -> None:
    metadata = pd.DataFrame({"resource_id": ["i-1", "i-2"], "monthly_cost": [Decimal(20), None]})
    blocks = pd.DataFrame({"id": ["b-1"], "cost": [Decimal("2.5")]})
    storage = pd.DataFrame({"id": ["o-1"], "tier_price": [Decimal(6)]})
    prices = catalogue_monthly_prices(metadata, blocks, storage)
    assert prices == {"i-1": Decimal(20), "b-1": Decimal("2.5"), "o-1": Decimal(6)}


def _query(data_directory: Path, sql: str) -> list[dict]:
    return query(data_directory, sql)


def _materialize_graph(emulator: EmulatorServer, data_directory: Path) -> bool:
    """Run today's partition, the invoice months, then today's partition again."""
    months = invoice_months(emulator)
    first = run_daily().success
    monthly = run_months(months[0], months[-1]).success
    return first and monthly and run_daily().success


def test_insight_assets_materialize(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_directory = tmp_path / "clickhouse"
    settings = ClickHouseSettings(path=str(data_directory))
    configure(monkeypatch, emulator, EMULATOR_API_KEY, settings)
    account = emulator.account

    assert _materialize_graph(emulator, data_directory)

    forecast = _query(data_directory, "SELECT * FROM vultr_costs.month_end_forecast")
    assert len(forecast) == 1
    row = forecast[0]
    pending_total = sum((item["total"] for item in account.pending_charges), Decimal(0))
    assert row["month_to_date"] == pending_total
    assert row["as_of"] == dt.datetime(2026, 11, 18, 12, tzinfo=UTC)
    assert row["month_end"] == dt.date(2026, 11, 30)
    assert row["projected_total"] == row["month_to_date"] + row["projected_additional"]
    assert row["projected_additional"] > 0
    assert row["running_resources"] > 0
    lines = _query(
        data_directory,
        "SELECT sum(projected_total) AS total FROM vultr_costs.month_end_forecast_lines",
    )
    assert lines[0]["total"] == row["projected_total"]

    first = _query(
        data_directory,
        "SELECT recommendation_id, kind, resource_id, estimated_monthly_saving "
        "FROM vultr_costs.cost_recommendations ORDER BY recommendation_id",
    )
    kinds = {finding["kind"] for finding in first}
    # The sample account always has an idle last load balancer, an unattached third block
    # and third reserved IP, and snapshots older than a year.
    assert {
        "idle_load_balancer",
        "unattached_block",
        "unattached_reserved_ip",
        "old_snapshot",
    } <= kinds
    assert _query(data_directory, "SELECT count() AS n FROM vultr_costs.cost_anomalies")

    assert _materialize_graph(emulator, data_directory)
    second = _query(
        data_directory,
        "SELECT recommendation_id, kind, resource_id, estimated_monthly_saving "
        "FROM vultr_costs.cost_recommendations ORDER BY recommendation_id",
    )
    assert second == first
