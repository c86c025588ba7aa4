"""End-to-end test: raw assets from the emulator, then the cost assets, into chDB."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from vultr_pipeline.clickhouse.engine import ClickHouseSettings, open_engine
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.defs.cost_assets import ASSETS, CHECKS
from vultr_pipeline.defs.raw_assets import build_raw_assets
from vultr_pipeline.defs.resources import VultrResource
from vultr_pipeline.emulator import EmulatorServer
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY

KEY_VARIABLE = "TEST_VULTR_API_KEY"


def _materialize(emulator: EmulatorServer, data_directory: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*build_raw_assets(), *ASSETS, *CHECKS],
        resources={
            "vultr": VultrResource(api_url=emulator.url, api_key_env=KEY_VARIABLE),
            "clickhouse": ClickHouseIOManager(path=str(data_directory)),
        },
    )


def _query(data_directory: Path, sql: str) -> list[dict]:
    engine = open_engine(ClickHouseSettings(path=str(data_directory)))
    try:
        return engine.query_arrow(sql).to_pylist()
    finally:
        engine.close()


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_VARIABLE, EMULATOR_API_KEY)
    return EMULATOR_API_KEY


def test_cost_assets_materialize(emulator, api_key, tmp_path):
    data_directory = tmp_path / "clickhouse"
    account = emulator.account

    result = _materialize(emulator, data_directory)

    assert result.success
    checks = result.get_asset_check_evaluations()
    assert [check.passed for check in checks] == [True]

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
        "SELECT month_to_date_spend, pending_charges, instance_count, metrics_date "
        "FROM vultr_costs.cost_metrics",
    )
    assert len(metrics) == 1
    assert metrics[0]["month_to_date_spend"] == account.account["pending_charges"]
    assert metrics[0]["instance_count"] == len(account.instances)
    assert str(metrics[0]["metrics_date"]) == "2026-11-18"


def test_cost_assets_rerun_identical(emulator, api_key, tmp_path):
    data_directory = tmp_path / "clickhouse"
    dump = "SELECT toString(tuple(*)) AS row FROM vultr_costs.{table} ORDER BY row"
    tables = ("cost_line_items", "cost_breakdown", "cost_metrics", "instance_metadata")

    assert _materialize(emulator, data_directory).success
    first = {table: _query(data_directory, dump.format(table=table)) for table in tables}
    assert _materialize(emulator, data_directory).success
    second = {table: _query(data_directory, dump.format(table=table)) for table in tables}

    assert first == second
