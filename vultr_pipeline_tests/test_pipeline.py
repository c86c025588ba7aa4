"""End-to-end tests: every raw asset from the emulator over HTTP into a real chDB directory.

Each run collects today's daily partition and the monthly partitions of every invoice month.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from vultr_pipeline.clickhouse.engine import ClickHouseSettings
from vultr_pipeline.emulator import EmulatorServer, SampleAccountConfig, generate_account
from vultr_pipeline.vultr.records import RECORD_SPECS
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY
from vultr_pipeline_tests.pipeline_runs import (
    configure,
    invoice_months,
    query,
    run_daily,
    run_months,
)

pytest_plugins = ["vultr_pipeline_tests.pipeline_runs"]


@dataclass
class Runs:
    """The daily run and the monthly run of one `_materialize` call."""

    daily: dg.ExecuteInProcessResult
    monthly: dg.ExecuteInProcessResult

    @property
    def success(self) -> bool:
        """Whether both runs succeeded."""
        return self.daily.success and self.monthly.success


def _materialize(emulator: EmulatorServer, data_directory: Path) -> Runs:
    """Run today's partition, every invoice month, then today again with the month history."""
    months = invoice_months(emulator)
    assert run_daily().success
    monthly = run_months(months[0], months[-1])
    return Runs(run_daily(), monthly)


def _query(data_directory: Path, sql: str) -> list[dict]:
    return query(data_directory, sql)


def _expected_counts(emulator: EmulatorServer) -> dict[str, int]:
    account = emulator.account
    return {
        "account": 1,
        "account_bandwidth": 3,
        "billing_history": len(account.billing_history),
        "invoices": len(account.invoices),
        "invoice_items": sum(len(items) for items in account.invoice_items.values()),
        "pending_charges": len(account.pending_charges),
        "instances": len(account.instances),
        "bare_metals": len(account.bare_metals),
        "plans": len(account.plans),
        "metal_plans": len(account.plans_metal),
        "regions": len(account.regions),
        "snapshots": len(account.snapshots),
        "backups": len(account.backups),
        "blocks": len(account.blocks),
        "load_balancers": len(account.load_balancers),
        "kubernetes_clusters": len(account.vke_clusters),
        "object_storage": len(account.object_storages),
        "reserved_ips": len(account.reserved_ips),
        "databases": len(account.databases),
    }


def _table_counts(data_directory: Path) -> dict[str, int]:
    counts = {}
    for table in RECORD_SPECS:
        rows = _query(data_directory, f"SELECT count() AS n FROM vultr_raw.{table}")
        counts[table] = rows[0]["n"]
    return counts


@pytest.fixture
def api_key(emulator, monkeypatch: pytest.MonkeyPatch, tmp_path) -> str:
    settings = ClickHouseSettings(path=str(tmp_path / "clickhouse"))
    configure(monkeypatch, emulator, EMULATOR_API_KEY, settings)
    return EMULATOR_API_KEY


def test_raw_tables_match_emulator_counts(emulator, api_key, tmp_path):
    result = _materialize(emulator, tmp_path / "clickhouse")

    assert result.success
    expected = _expected_counts(emulator)
    assert set(expected) == set(RECORD_SPECS)
    assert _table_counts(tmp_path / "clickhouse") == expected


def test_rerun_does_not_duplicate_rows(emulator, api_key, tmp_path):
    data_directory = tmp_path / "clickhouse"
    assert _materialize(emulator, data_directory).success
    first = _table_counts(data_directory)

    assert _materialize(emulator, data_directory).success

    assert _table_counts(data_directory) == first


def test_money_lands_exact(emulator, api_key, tmp_path):
    data_directory = tmp_path / "clickhouse"
    assert _materialize(emulator, data_directory).success

    invoices = _query(data_directory, "SELECT id, amount FROM vultr_raw.invoices")
    items = _query(
        data_directory,
        "SELECT invoice_id, sum(total) AS total FROM vultr_raw.invoice_items GROUP BY invoice_id",
    )
    pending = _query(data_directory, "SELECT sum(total) AS total FROM vultr_raw.pending_charges")

    amounts = {row["id"]: row["amount"] for row in invoices}
    assert {row["invoice_id"]: row["total"] for row in items} == amounts
    assert all(isinstance(amount, Decimal) for amount in amounts.values())
    assert pending[0]["total"] == emulator.account.account["pending_charges"]


def test_materialization_metadata(emulator, api_key, tmp_path):
    result = _materialize(emulator, tmp_path / "clickhouse")

    materializations = {
        event.asset_key.to_user_string(): event.metadata
        for event in result.daily.get_asset_materialization_events()
        for event in [event.event_specific_data.materialization]
    }
    instances = materializations["vultr_raw/instances"]
    assert instances["dagster/row_count"].value == len(emulator.account.instances)
    assert instances["dagster/partition_row_count"].value == len(emulator.account.instances)
    columns = [column.name for column in instances["dagster/column_schema"].value.columns]
    assert columns[:2] == ["account_id", "snapshot_date"]
    assert columns[-2:] == ["raw", "collected_at"]
    assert "preview" in instances


def test_missing_key_fails_with_hint(emulator, api_key, monkeypatch, tmp_path):
    monkeypatch.delenv("VULTR_API_KEY")

    result = run_daily(raise_on_error=False)

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    messages = []
    while failure is not None:
        messages.append(failure.message)
        failure = failure.cause
    text = "\n".join(messages)
    assert "account default" in text
    assert "$VULTR_API_KEY" in text
    assert "demo" in text


def _planted_account(config: SampleAccountConfig, planted: dict[str, str]):
    account = generate_account(config)
    account.instances[0]["default_password"] = planted["default_password"]
    account.instances[0]["kvm"] = f"https://console.example/?data={planted['kvm']}"
    account.object_storages[0]["s3_secret_key"] = planted["s3_secret_key"]
    account.object_storages[0]["s3_access_key"] = planted["s3_access_key"]
    account.databases[0]["password"] = planted["password"]
    return account


def test_secrets_stored_nowhere(small_account_config, monkeypatch, tmp_path, caplog):
    planted = {
        name: f"planted-{name}-7f3a9c"
        for name in ("default_password", "kvm", "s3_secret_key", "s3_access_key", "password")
    }
    account = _planted_account(small_account_config, planted)
    data_directory = tmp_path / "clickhouse"
    caplog.set_level(logging.DEBUG)

    with EmulatorServer(account, api_key=EMULATOR_API_KEY) as emulator:
        settings = ClickHouseSettings(path=str(data_directory))
        configure(monkeypatch, emulator, EMULATOR_API_KEY, settings)
        result = _materialize(emulator, data_directory)

    assert result.success
    needles = [EMULATOR_API_KEY, *planted.values()]
    events = [*result.daily.all_events, *result.monthly.all_events]
    logs = caplog.text + "\n".join(str(event) for event in events)
    for needle in needles:
        assert needle not in logs, f"{needle} leaked into logs"
    for table in RECORD_SPECS:
        dump = _query(data_directory, f"SELECT toString(tuple(*)) AS row FROM vultr_raw.{table}")
        text = "\n".join(row["row"] for row in dump)
        for needle in needles:
            assert needle not in text, f"{needle} stored in vultr_raw.{table}"
    for path in data_directory.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for needle in needles:
                assert needle.encode() not in content, f"{needle} found in {path}"


def _cost_tables(data_directory: Path) -> dict[str, list[dict]]:
    names = _query(
        data_directory,
        "SELECT name FROM system.tables WHERE database = 'vultr_costs' ORDER BY name",
    )
    tables = {}
    for row in names:
        table = row["name"]
        tables[table] = _query(
            data_directory, f"SELECT * FROM vultr_costs.{table} ORDER BY tuple(*)"
        )
    return tables


def test_whole_pipeline_twice_identical(emulator, api_key, tmp_path):
    data_directory = tmp_path / "clickhouse"

    first_run = _materialize(emulator, data_directory)
    first = _cost_tables(data_directory)
    second_run = _materialize(emulator, data_directory)
    second = _cost_tables(data_directory)

    assert first_run.success
    assert second_run.success
    assert "cost_recommendations" in first
    assert len(first["cost_recommendations"]) > 0
    assert len(first["focus_costs"]) == len(first["cost_line_items"])
    assert first == second
