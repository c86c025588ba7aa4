"""End-to-end test: raw assets from the emulator, then the cost assets, into chDB.

The emulator's account is as of the real current UTC date here, so today's daily partition
and the open billing month describe the same month as its pending charges.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from vultr_pipeline.clickhouse.engine import ClickHouseSettings
from vultr_pipeline.defs.partitions import utc_today
from vultr_pipeline.emulator import EmulatorServer
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY
from vultr_pipeline_tests.pipeline_runs import (
    configure,
    invoice_months,
    open_month,
    query,
    run_daily,
    run_months,
)

pytest_plugins = ["vultr_pipeline_tests.pipeline_runs"]


@pytest.fixture
def current_emulator(small_account_config) -> Iterator[EmulatorServer]:
    config = dataclasses.replace(small_account_config, today=utc_today())
    with EmulatorServer(config, api_key=EMULATOR_API_KEY) as server:
        yield server


def _materialize(emulator: EmulatorServer) -> list[bool]:
    """Run today's partition, every month up to the open one, then today's partition again."""
    months = invoice_months(emulator)
    first = run_daily()
    monthly = run_months(months[0], open_month())
    second = run_daily()
    checks = [
        check.passed
        for result in (first, monthly, second)
        for check in result.get_asset_check_evaluations()
    ]
    assert first.success
    assert monthly.success
    assert second.success
    return checks


def _query(data_directory: Path, sql: str) -> list[dict]:
    return query(data_directory, sql)


@pytest.fixture
def data_directory(current_emulator, monkeypatch, tmp_path) -> Path:
    path = tmp_path / "clickhouse"
    configure(monkeypatch, current_emulator, EMULATOR_API_KEY, ClickHouseSettings(path=str(path)))
    return path


def test_cost_assets_materialize(current_emulator, data_directory):
    account = current_emulator.account

    checks = _materialize(current_emulator)

    assert checks
    assert all(checks)
    lines = _query(
        data_directory,
        "SELECT source, count() AS n, sum(amount) AS total "
        "FROM vultr_costs.cost_line_items GROUP BY source ORDER BY source",
    )
    invoice_total = sum((invoice["amount"] for invoice in account.invoices), Decimal(0))
    invoice_lines = sum(len(items) for items in account.invoice_items.values())
    assert lines == [
        {"source": "invoice", "n": invoice_lines, "total": invoice_total},
        {
            "source": "pending",
            "n": len(account.pending_charges),
            "total": account.account["pending_charges"],
        },
    ]

    servers = _query(data_directory, "SELECT count() AS n FROM vultr_costs.instance_metadata")
    assert servers == [{"n": len(account.instances) + len(account.bare_metals)}]

    metrics = _query(
        data_directory,
        "SELECT month_to_date_spend, pending_charges, instance_count, metrics_date, "
        "snapshot_date, last_month_spend FROM vultr_costs.cost_metrics",
    )
    last_invoice = max(account.invoices, key=lambda invoice: invoice["date"])
    assert len(metrics) == 1
    assert metrics[0]["month_to_date_spend"] == account.account["pending_charges"]
    assert metrics[0]["instance_count"] == len(account.instances)
    assert metrics[0]["metrics_date"] == utc_today()
    assert metrics[0]["snapshot_date"] == utc_today()
    assert metrics[0]["last_month_spend"] == last_invoice["amount"]


def test_cost_assets_rerun_identical(current_emulator, data_directory):
    dump = "SELECT toString(tuple(*)) AS row FROM vultr_costs.{table} ORDER BY row"
    tables = (
        "cost_line_items",
        "cost_breakdown",
        "cost_metrics",
        "instance_metadata",
        "pending_line_items",
    )

    _materialize(current_emulator)
    first = {table: _query(data_directory, dump.format(table=table)) for table in tables}
    _materialize(current_emulator)
    second = {table: _query(data_directory, dump.format(table=table)) for table in tables}

    assert first == second


def test_breakdown_metadata_per_month_of_range(current_emulator, data_directory):
    closed = invoice_months(current_emulator)[-2:]
    run_daily()

    result = run_months(closed[0], closed[-1])

    assert result.success
    totals = {
        row["billing_month"]: row["total"]
        for row in _query(
            data_directory,
            "SELECT billing_month, sum(amount) AS total FROM vultr_costs.cost_line_items "
            "GROUP BY billing_month",
        )
    }
    metadata = {
        event.partition.split("|")[1]: event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(["vultr_costs", "cost_breakdown"])
    }
    assert sorted(metadata) == [f"{month:%Y-%m}" for month in closed]
    for month in closed:
        own = metadata[f"{month:%Y-%m}"]
        assert Decimal(own["line_total"].value) == totals[month]
        assert f"Daily spend by service category, {month:%Y-%m}" in own["daily_spend_chart"].value
