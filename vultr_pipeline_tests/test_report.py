"""Tests of `vultr-pipeline report` on cost tables written to a real chDB directory."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from vultr_pipeline import cli
from vultr_pipeline.clickhouse.engine import ClickHouseSettings, open_engine
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.defs.partitions import utc_today
from vultr_pipeline.emulator import EmulatorServer
from vultr_pipeline.report import (
    build_report,
    cents,
    distinct_saving,
    parse_month,
    previous_month,
)
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY
from vultr_pipeline_tests.pipeline_runs import (
    configure,
    invoice_months,
    open_month,
    run_daily,
    run_months,
)

TIMESTAMP = "DateTime64(3, 'UTC')"
MONEY = "Decimal(38, 10)"

# Column types of the three input tables, as the cost contract defines them.
LINE_ITEM_COLUMNS = [
    ("account_id", "LowCardinality(String)"),
    ("line_id", "String"),
    ("source", "LowCardinality(String)"),
    ("invoice_id", "Nullable(Int64)"),
    ("line_number", "Int64"),
    ("billing_month", "Date"),
    ("charge_period_start", TIMESTAMP),
    ("charge_period_end", TIMESTAMP),
    ("product", "Nullable(String)"),
    ("description", "Nullable(String)"),
    ("units", f"Nullable({MONEY})"),
    ("unit_type", "Nullable(String)"),
    ("unit_price", f"Nullable({MONEY})"),
    ("amount", MONEY),
    ("service_category", "LowCardinality(String)"),
    ("resource_id", "Nullable(String)"),
    ("resource_type", "Nullable(String)"),
    ("resource_label", "Nullable(String)"),
    ("region", "Nullable(String)"),
    ("plan", "Nullable(String)"),
    ("tags", "Array(String)"),
    ("is_gpu", "Bool"),
    ("match_confidence", "LowCardinality(String)"),
]
FORECAST_COLUMNS = [
    ("account_id", "LowCardinality(String)"),
    ("snapshot_date", "Date"),
    ("as_of", TIMESTAMP),
    ("month_start", "Date"),
    ("month_end", "Date"),
    ("month_to_date", MONEY),
    ("projected_additional", MONEY),
    ("projected_total", MONEY),
    ("running_resources", "Int64"),
]
RECOMMENDATION_COLUMNS = [
    ("account_id", "LowCardinality(String)"),
    ("snapshot_date", "Date"),
    ("recommendation_id", "String"),
    ("kind", "LowCardinality(String)"),
    ("resource_id", "String"),
    ("resource_type", "LowCardinality(String)"),
    ("resource_label", "Nullable(String)"),
    ("region", "Nullable(String)"),
    ("evidence", "String"),
    ("estimated_monthly_saving", MONEY),
    ("confidence", "LowCardinality(String)"),
    ("as_of", TIMESTAMP),
]
AS_OF = pd.Timestamp("2026-11-18T12:00:00Z")

pytest_plugins = ["vultr_pipeline_tests.pipeline_runs"]


def _line(
    account: str,
    number: int,
    month: dt.date,
    category: str,
    amount: str,
    resource: tuple[str, str, str] | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    resource_id, resource_type, label = resource or (None, None, None)
    start = pd.Timestamp(month).tz_localize("UTC")
    return {
        "account_id": account,
        "line_id": f"invoice:1:{number}",
        "source": "invoice",
        "invoice_id": 1,
        "line_number": number,
        "billing_month": month,
        "charge_period_start": start,
        "charge_period_end": start + pd.Timedelta(days=1),
        "product": None,
        "description": None,
        "units": None,
        "unit_type": None,
        "unit_price": None,
        "amount": Decimal(amount),
        "service_category": category,
        "resource_id": resource_id,
        "resource_type": resource_type,
        "resource_label": label,
        "region": region,
        "plan": None,
        "tags": [],
        "is_gpu": category == "gpu",
        "match_confidence": "exact" if resource else "none",
    }


OCTOBER = dt.date(2026, 10, 1)
NOVEMBER = dt.date(2026, 11, 1)
WEB = ("inst-web", "instance", "web-01")
GPU = ("inst-gpu", "instance", "gpu-01")
VOLUME = ("blk-01", "block", "vol-01")


def _line_items() -> pd.DataFrame:
    lines = [
        # October, account main: 100.00 + 20.00 = 120.00.
        _line("main", 1, OCTOBER, "compute", "100.00", WEB, "ewr"),
        _line("main", 2, OCTOBER, "bandwidth", "20.00"),
        # November, account main: 300.00 + 400.00 + 15.84 = 715.84.
        _line("main", 3, NOVEMBER, "compute", "300.00", WEB, "ewr"),
        _line("main", 4, NOVEMBER, "gpu", "400.00", GPU, "ams"),
        _line("main", 5, NOVEMBER, "block_storage", "15.84", VOLUME, "ewr"),
        # November, account side: 50.00.
        _line("side", 6, NOVEMBER, "compute", "50.00", ("inst-side", "instance", "s-1"), "sgp"),
    ]
    return pd.DataFrame(lines, columns=[name for name, _ in LINE_ITEM_COLUMNS])


def _forecast() -> pd.DataFrame:
    rows = [
        ("main", "715.84", "500.16", "1216.00", 2),
        ("side", "50.00", "30.00", "80.00", 1),
    ]
    return pd.DataFrame(
        [
            {
                "account_id": account,
                "snapshot_date": AS_OF.date(),
                "as_of": AS_OF,
                "month_start": NOVEMBER,
                "month_end": dt.date(2026, 11, 30),
                "month_to_date": Decimal(so_far),
                "projected_additional": Decimal(additional),
                "projected_total": Decimal(total),
                "running_resources": running,
            }
            for account, so_far, additional, total, running in rows
        ]
    )


def _recommendations() -> pd.DataFrame:
    rows = [
        ("main", "stopped_instance_billed", GPU, "ams", "400.00", "high"),
        ("main", "unattached_block", VOLUME, "ewr", "15.84", "high"),
        ("side", "old_snapshot", ("snap-1", "snapshot", "old"), "sgp", "1.25", "medium"),
    ]
    return pd.DataFrame(
        [
            {
                "account_id": account,
                "snapshot_date": AS_OF.date(),
                "recommendation_id": f"rec-{resource[0]}",
                "kind": kind,
                "resource_id": resource[0],
                "resource_type": resource[1],
                "resource_label": resource[2],
                "region": region,
                "evidence": f"{resource[2]} could save {saving} USD a month.",
                "estimated_monthly_saving": Decimal(saving),
                "confidence": confidence,
                "as_of": AS_OF,
            }
            for account, kind, resource, region, saving, confidence in rows
        ]
    )


def _table_asset(name: str, columns: list[tuple[str, str]], frame: pd.DataFrame):
    schema = dg.TableSchema(columns=[dg.TableColumn(column, kind) for column, kind in columns])

    @dg.asset(
        key=["vultr_costs", name],
        io_manager_key="clickhouse",
        metadata={"dagster/column_schema": schema, "clickhouse/order_by": ["account_id"]},
    )
    def table() -> pd.DataFrame:
        return frame

    return table


@pytest.fixture
def clickhouse_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "clickhouse"
    monkeypatch.delenv("CLICKHOUSE_HOST", raising=False)
    monkeypatch.setenv("CLICKHOUSE_PATH", str(path))
    return path


@pytest.fixture
def cost_tables(clickhouse_path: Path) -> Path:
    assets = [
        _table_asset("cost_line_items", LINE_ITEM_COLUMNS, _line_items()),
        _table_asset("month_end_forecast", FORECAST_COLUMNS, _forecast()),
        _table_asset("cost_recommendations", RECOMMENDATION_COLUMNS, _recommendations()),
    ]
    result = dg.materialize(
        assets, resources={"clickhouse": ClickHouseIOManager(path=str(clickhouse_path))}
    )
    assert result.success
    return clickhouse_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_json_one_account(cost_tables, capsys):
    code, out, _ = _run(capsys, "--format", "json", "--month", "2026-11", "--account", "main")

    assert code == 0
    report = json.loads(out)
    assert report["month"] == "2026-11"
    assert report["spend"] == "715.84"
    assert report["last_month"] == "2026-10"
    assert report["last_month_spend"] == "120.00"
    assert report["forecast"]["projected_total"] == "1216.00"
    assert report["forecast"]["projected_additional"] == "500.16"
    assert report["forecast"]["running_resources"] == 2
    assert report["forecast"]["as_of"] == "2026-11-18T12:00:00Z"
    # 1216.00 − 120.00 = 1096.00, and 1096.00 / 120.00 × 100 = 913.33 %.
    assert report["change_from_last_month"] == {
        "basis": "forecast",
        "amount": "1096.00",
        "percent": "913.33",
    }


def test_report_json_top_lists(cost_tables, capsys):
    _, out, _ = _run(capsys, "--format", "json", "--month", "2026-11", "--account", "main")
    report = json.loads(out)

    assert report["top_services"] == [
        {"name": "gpu", "amount": "400.00"},
        {"name": "compute", "amount": "300.00"},
        {"name": "block_storage", "amount": "15.84"},
    ]
    # ewr: 300.00 + 15.84 = 315.84.
    assert report["top_regions"] == [
        {"name": "ams", "amount": "400.00"},
        {"name": "ewr", "amount": "315.84"},
    ]
    assert [entry["name"] for entry in report["top_resources"]] == [
        "inst-gpu",
        "inst-web",
        "blk-01",
    ]
    assert report["top_resources"][0]["detail"] == "gpu-01 (instance)"


def test_report_json_recommendations(cost_tables, capsys):
    _, out, _ = _run(capsys, "--format", "json", "--month", "2026-11", "--account", "main")
    recommendations = json.loads(out)["recommendations"]

    assert recommendations["count"] == 2
    assert recommendations["as_of"] == "2026-11-18"
    # 400.00 + 15.84 = 415.84 a month.
    assert recommendations["total_monthly_saving"] == "415.84"
    assert recommendations["top"][0]["kind"] == "stopped_instance_billed"
    assert recommendations["top"][0]["estimated_monthly_saving"] == "400.00"
    assert recommendations["top"][1]["resource_label"] == "vol-01"


def test_report_all_accounts_default_month(cost_tables, capsys):
    code, out, _ = _run(capsys, "--format", "json")

    assert code == 0
    report = json.loads(out)
    assert report["account"] == "all"
    assert report["month"] == "2026-11"
    # 715.84 + 50.00 = 765.84; forecast 1216.00 + 80.00 = 1296.00.
    assert report["spend"] == "765.84"
    assert report["forecast"]["projected_total"] == "1296.00"
    assert report["recommendations"]["count"] == 3
    assert [entry["name"] for entry in report["top_regions"]] == ["ams", "ewr", "sgp"]


def test_report_closed_month_no_forecast(cost_tables, capsys):
    _, out, _ = _run(capsys, "--format", "json", "--month", "2026-10", "--account", "main")
    report = json.loads(out)

    assert report["spend"] == "120.00"
    assert report["forecast"] is None
    # September has no lines, so there is no percentage.
    assert report["change_from_last_month"] == {
        "basis": "spend",
        "amount": "120.00",
        "percent": None,
    }
    assert {"name": "unattributed", "amount": "20.00"} in report["top_regions"]


def test_report_closed_month_text_says_month_spend(cost_tables, capsys):
    _, out, _ = _run(capsys, "--month", "2026-10", "--account", "main")

    assert "(n/a, month's spend)" in out
    assert "spend so far" not in out


def test_report_csv_rows(cost_tables, capsys):
    code, out, _ = _run(capsys, "--format", "csv", "--month", "2026-11", "--account", "main")

    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    summary = {row["name"]: row["amount"] for row in rows if row["section"] == "summary"}
    assert summary == {"spend": "715.84", "last_month_spend": "120.00", "change": "1096.00"}
    services = [(row["name"], row["amount"]) for row in rows if row["section"] == "service"]
    assert services[0] == ("gpu", "400.00")
    assert ["recommendation", "unattached_block", "vol-01", "15.84"] in [
        list(row.values()) for row in rows
    ]


def test_report_table_text(cost_tables, capsys):
    code, out, _ = _run(capsys, "--month", "2026-11", "--account", "main")

    assert code == 0
    assert "Vultr costs for 2026-11 (account: main, USD)" in out
    assert "715.84" in out
    assert "1216.00" in out
    assert "Top recommendations as of 2026-11-18 (2 in all, saving 415.84 a month)" in out


def test_report_missing_tables(clickhouse_path, capsys):
    code, out, err = _run(capsys, "--format", "json")

    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "vultr_costs.cost_line_items" in err
    assert "vultr-pipeline demo" in err


def test_report_unknown_account(cost_tables, capsys):
    code, _, err = _run(capsys, "--account", "nobody")

    assert code == 2
    assert "'nobody'" in err
    assert "main, side" in err


def test_report_invalid_month(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", "--month", "2026-13"])

    assert exit_info.value.code == 2
    assert "invalid month '2026-13'" in capsys.readouterr().err


def test_month_helpers():
    assert parse_month("2026-01") == dt.date(2026, 1, 1)
    assert previous_month(dt.date(2026, 1, 1)) == dt.date(2025, 12, 1)


def test_build_report_rounds_half_up():
    lines = _line_items().iloc[[2]].copy()
    lines["amount"] = [Decimal("0.125")]
    empty_forecast = _forecast().iloc[0:0]

    report = build_report(lines, empty_forecast, _recommendations().iloc[0:0], NOVEMBER)

    assert report["spend"] == Decimal("0.13")


def test_report_after_full_graph(small_account_config, clickhouse_path, monkeypatch, capsys):
    config = dataclasses.replace(small_account_config, today=utc_today())
    with EmulatorServer(config, api_key=EMULATOR_API_KEY) as emulator:
        settings = ClickHouseSettings(path=str(clickhouse_path))
        configure(monkeypatch, emulator, EMULATOR_API_KEY, settings)
        months = invoice_months(emulator)
        runs = [run_daily(), run_months(months[0], open_month()), run_daily()]
    assert all(result.success for result in runs)
    evaluations = [e for result in runs for e in result.get_asset_check_evaluations()]
    assert all(evaluation.passed for evaluation in evaluations)

    code, out, _ = _run(capsys, "--format", "json")

    assert code == 0
    report = json.loads(out)
    account = emulator.account
    newest_invoice = account.invoices[0]
    assert report["month"] == f"{open_month():%Y-%m}"
    assert report["spend"] == str(cents(account.account["pending_charges"]))
    assert report["last_month_spend"] == str(cents(newest_invoice["amount"]))
    assert Decimal(report["forecast"]["projected_total"]) >= Decimal(report["spend"])
    assert report["recommendations"]["count"] > 0
    assert Decimal(report["recommendations"]["total_monthly_saving"]) > 0

    engine = open_engine(ClickHouseSettings(path=str(clickhouse_path)))
    try:
        billed = engine.query_arrow(
            "SELECT InvoiceId, sum(BilledCost) AS billed FROM vultr_costs.focus_costs "
            "GROUP BY InvoiceId"
        ).to_pylist()
    finally:
        engine.close()
    by_invoice = {row["InvoiceId"]: row["billed"] for row in billed}
    # FOCUS: BilledCost summed per InvoiceId equals the invoice amount; pending rows have none.
    assert by_invoice.pop(None) == account.account["pending_charges"]
    assert by_invoice == {str(invoice["id"]): invoice["amount"] for invoice in account.invoices}


def test_report_uses_latest_snapshot():
    older = _recommendations().assign(snapshot_date=dt.date(2026, 11, 17))
    newer = _recommendations().iloc[:1]
    forecast = pd.concat([_forecast().assign(snapshot_date=dt.date(2026, 11, 17)), _forecast()])

    report = build_report(_line_items(), forecast, pd.concat([older, newer]), NOVEMBER, "main")

    assert report["recommendations"]["count"] == 1
    assert (
        report["forecast"]["month_to_date"]
        == build_report(_line_items(), _forecast(), _recommendations(), NOVEMBER, "main")[
            "forecast"
        ]["month_to_date"]
    )


def test_saving_counts_each_resource_once():
    recommendations = pd.DataFrame(
        {
            "resource_id": ["gpu-1", "gpu-1", "vol-1", None],
            "estimated_monthly_saving": [
                Decimal("1750.00"),
                Decimal("350.00"),
                Decimal("15.84"),
                Decimal("2.50"),
            ],
        }
    )

    # gpu-1 counts once at 1750.00; 1750.00 + 15.84 + 2.50 = 1768.34.
    assert distinct_saving(recommendations) == Decimal("1768.34")
