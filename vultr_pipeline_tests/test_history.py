"""Partitioned history end to end: months replaced alone, ranges, accounts and the backfill CLI.

Every test serves an emulator account over HTTP and writes into real chDB (and, where marked,
a ClickHouse server path through the chDB HTTP endpoint).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from vultr_pipeline import cli
from vultr_pipeline.backfill import first_invoice_month
from vultr_pipeline.clickhouse.engine import ClickHouseSettings, open_engine
from vultr_pipeline.defs.partitions import utc_today
from vultr_pipeline.emulator import EmulatorServer, SampleAccountConfig, generate_account
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY, EMULATOR_TODAY
from vultr_pipeline_tests.pipeline_runs import (
    configure,
    invoice_months,
    query,
    run_daily,
    run_month,
    run_months,
)

pytest_plugins = [
    "vultr_pipeline_tests.clickhouse_fixtures",
    "vultr_pipeline_tests.pipeline_runs",
]

MONTHLY_COST_TABLES = ("cost_line_items", "cost_breakdown", "focus_costs")


def _month_figures(settings: ClickHouseSettings, month: dt.date) -> dict[str, object]:
    where = f"billing_month = '{month.isoformat()}'"
    return {
        "invoices": query(settings, f"SELECT id, amount FROM vultr_raw.invoices WHERE {where}"),
        "items": query(
            settings,
            f"SELECT count() AS n, sum(total) AS total FROM vultr_raw.invoice_items WHERE {where}",
        ),
        "lines": query(
            settings,
            "SELECT count() AS n, uniqExact(line_id) AS ids, sum(amount) AS total "
            f"FROM vultr_costs.cost_line_items WHERE {where}",
        ),
    }


def _edited_account(config: SampleAccountConfig, month_invoice_date: str):
    account = generate_account(config)
    invoice = next(i for i in account.invoices if i["date"].startswith(month_invoice_date))
    invoice["amount"] += Decimal("1.25")
    account.invoice_items[invoice["id"]][0]["total"] += Decimal("1.25")
    return account, invoice


def test_month_rerun_replaces_only_it(
    small_account_config, emulator, clickhouse_settings, monkeypatch
):
    configure(monkeypatch, emulator, EMULATOR_API_KEY, clickhouse_settings)
    month_a, month_b = invoice_months(emulator)[-2:]

    assert run_month(month_a).success
    assert run_month(month_b).success
    before_a = _month_figures(clickhouse_settings, month_a)
    before_b = _month_figures(clickhouse_settings, month_b)

    invoice_date = (month_a.replace(day=28) + dt.timedelta(days=5)).strftime("%Y-%m")
    account, invoice = _edited_account(small_account_config, invoice_date)
    with EmulatorServer(account, api_key=EMULATOR_API_KEY) as changed:
        monkeypatch.setenv("VULTR_API_URL", changed.url)
        assert run_month(month_a).success

    after_a = _month_figures(clickhouse_settings, month_a)
    assert after_a["invoices"] == [{"id": invoice["id"], "amount": invoice["amount"]}]
    assert after_a["items"][0]["n"] == before_a["items"][0]["n"]
    assert after_a["items"][0]["total"] == invoice["amount"]
    assert after_a["lines"][0]["n"] == before_a["lines"][0]["n"]
    assert after_a["lines"][0]["ids"] == after_a["lines"][0]["n"]
    assert after_a["lines"][0]["total"] == invoice["amount"]
    assert before_a["lines"][0]["total"] == invoice["amount"] - Decimal("1.25")
    assert _month_figures(clickhouse_settings, month_b) == before_b


def _table_dump(path: Path, table: str) -> list[dict]:
    columns = query(
        path,
        "SELECT name FROM system.columns WHERE database = "
        f"'{table.split('.')[0]}' AND table = '{table.split('.')[1]}' "
        "AND name != 'collected_at' ORDER BY position",
    )
    names = ", ".join(f"`{row['name']}`" for row in columns)
    return query(path, f"SELECT {names} FROM {table} ORDER BY tuple({names})")


@pytest.fixture
def long_account_config() -> SampleAccountConfig:
    return SampleAccountConfig(
        seed=11, instances=4, gpu_instances=1, bare_metal=1, invoice_months=24, today=EMULATOR_TODAY
    )


def test_range_equals_single_runs(long_account_config, monkeypatch, tmp_path):
    tables = [
        "vultr_raw.invoices",
        "vultr_raw.invoice_items",
        *(f"vultr_costs.{table}" for table in MONTHLY_COST_TABLES),
    ]
    # One directory for both stores, kept open by `keeper` for the whole test: chDB runs one
    # data directory per process, and reopening it for every step of 25 runs is slow.
    data = tmp_path / "clickhouse"
    keeper = open_engine(ClickHouseSettings(path=str(data)))
    try:
        with EmulatorServer(long_account_config, api_key=EMULATOR_API_KEY) as emulator:
            configure(monkeypatch, emulator, EMULATOR_API_KEY, ClickHouseSettings(path=str(data)))
            months = invoice_months(emulator)
            assert len(months) == 24

            assert run_months(months[0], months[-1]).success
            ranged = {table: _table_dump(data, table) for table in tables}
            for database in ("vultr_raw", "vultr_costs"):
                keeper.command(f"DROP DATABASE {database} SYNC")

            for month in months:
                assert run_month(month).success
            single = {table: _table_dump(data, table) for table in tables}
    finally:
        keeper.close()

    for table in tables:
        assert single[table] == ranged[table], table
    assert len(ranged["vultr_raw.invoices"]) == 24


def _accounts_file(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        "  - name: good\n"
        "    api_key_env: TEST_KEY_GOOD\n"
        "  - name: bad\n"
        "    api_key_env: TEST_KEY_BAD\n"
    )
    return path


def test_two_accounts_bad_key_fails_alone(emulator, monkeypatch, tmp_path, capsys):
    configure(
        monkeypatch, emulator, EMULATOR_API_KEY, ClickHouseSettings(path=str(tmp_path / "ch"))
    )
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VULTR_ACCOUNTS_FILE", str(_accounts_file(tmp_path)))
    monkeypatch.setenv("TEST_KEY_GOOD", EMULATOR_API_KEY)
    monkeypatch.setenv("TEST_KEY_BAD", "wrong-key-0000")
    months = invoice_months(emulator)

    code = cli.main(["backfill", "--from", f"{months[0]:%Y-%m}", "--to", f"{months[-1]:%Y-%m}"])

    out = capsys.readouterr().out
    assert code == 1
    assert "Collecting Vultr account bad (API key from $TEST_KEY_BAD) failed" in out
    assert "set TEST_KEY_BAD to a valid key" in out
    assert "Traceback" not in out
    assert "wrong-key-0000" not in out
    accounts = query(
        tmp_path / "ch", "SELECT DISTINCT account_id FROM vultr_raw.invoices ORDER BY account_id"
    )
    assert accounts == [{"account_id": "good"}]
    invoices = query(tmp_path / "ch", "SELECT count() AS n FROM vultr_raw.invoices")
    items = query(tmp_path / "ch", "SELECT count() AS n FROM vultr_raw.invoice_items")
    assert invoices == [{"n": len(emulator.account.invoices)}]
    assert items == [{"n": sum(len(i) for i in emulator.account.invoice_items.values())}]


def test_backfill_24_months(long_account_config, monkeypatch, tmp_path, capsys):
    data = tmp_path / "home" / "clickhouse"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with EmulatorServer(long_account_config, api_key=EMULATOR_API_KEY) as emulator:
        configure(monkeypatch, emulator, EMULATOR_API_KEY, ClickHouseSettings(path=str(data)))
        monkeypatch.delenv("CLICKHOUSE_PATH")
        months = invoice_months(emulator)

        code = cli.main(["backfill", "--from", f"{months[0]:%Y-%m}"])

    out = capsys.readouterr().out
    account = emulator.account
    assert code == 0, out
    for month in months:
        assert f"✓ default  {month:%Y-%m}" in out
    assert "FAILED" not in out
    assert "invoice_items_match_invoices" in out
    assert "cost_breakdown_reconciles" in out
    invoices = query(data, "SELECT count() AS n, sum(amount) AS total FROM vultr_raw.invoices")
    assert invoices == [
        {"n": 24, "total": sum((i["amount"] for i in account.invoices), Decimal(0))}
    ]
    items = query(data, "SELECT count() AS n FROM vultr_raw.invoice_items")
    assert items == [{"n": sum(len(i) for i in account.invoice_items.values())}]
    per_month = query(
        data,
        "SELECT i.billing_month AS month, any(i.amount) AS amount, sum(t.total) AS items "
        "FROM vultr_raw.invoices AS i INNER JOIN vultr_raw.invoice_items AS t "
        "ON t.invoice_id = i.id GROUP BY i.billing_month, i.id",
    )
    assert len(per_month) == 24
    assert all(row["amount"] == row["items"] for row in per_month)


def test_first_invoice_month_from_api(emulator, monkeypatch, tmp_path):
    configure(monkeypatch, emulator, EMULATOR_API_KEY, ClickHouseSettings(path=str(tmp_path)))

    assert first_invoice_month("default") == invoice_months(emulator)[0]


def test_snapshot_of_past_day_rejected(emulator, monkeypatch, tmp_path):
    configure(
        monkeypatch, emulator, EMULATOR_API_KEY, ClickHouseSettings(path=str(tmp_path / "ch"))
    )
    yesterday = utc_today() - dt.timedelta(days=1)

    result = run_daily(day=yesterday, raise_on_error=False)

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    messages = []
    while failure is not None:
        messages.append(failure.message)
        failure = failure.cause
    assert "can only be collected for today" in "\n".join(messages)


def test_daily_then_open_month(monkeypatch, tmp_path):
    config = dataclasses.replace(
        SampleAccountConfig(seed=7, instances=6, gpu_instances=1, invoice_months=3),
        today=utc_today(),
    )
    data = tmp_path / "ch"
    with EmulatorServer(config, api_key=EMULATOR_API_KEY) as emulator:
        configure(monkeypatch, emulator, EMULATOR_API_KEY, ClickHouseSettings(path=str(data)))
        assert run_daily().success
        months = invoice_months(emulator)
        open_month = utc_today().replace(day=1)
        assert run_months(months[0], open_month).success
        pending_total = emulator.account.account["pending_charges"]

    lines = query(
        data,
        "SELECT source, billing_month, sum(amount) AS total FROM vultr_costs.cost_line_items "
        "GROUP BY source, billing_month ORDER BY billing_month",
    )
    assert lines[-1] == {"source": "pending", "billing_month": open_month, "total": pending_total}
    assert [row["source"] for row in lines[:-1]] == ["invoice"] * len(months)
    metrics = query(data, "SELECT snapshot_date, month_to_date_spend FROM vultr_costs.cost_metrics")
    assert metrics == [{"snapshot_date": utc_today(), "month_to_date_spend": pending_total}]
