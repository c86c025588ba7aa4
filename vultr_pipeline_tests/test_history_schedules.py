"""Tests of the jobs and schedules: run requests per account, in UTC, whatever the time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from vultr_pipeline.definitions import build_definitions
from vultr_pipeline.defs.schedules import (
    DAILY_SCHEDULE_NAME,
    MONTH_CLOSE_SCHEDULE_NAME,
    OPEN_MONTH_SCHEDULE_NAME,
)

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def two_accounts(tmp_path, monkeypatch) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n  - name: prod\n    api_key_env: K1\n  - name: dev\n    api_key_env: K2\n"
    )
    monkeypatch.setenv("VULTR_ACCOUNTS_FILE", str(path))
    monkeypatch.setenv("CLICKHOUSE_PATH", str(tmp_path / "ch"))
    monkeypatch.delenv("CLICKHOUSE_HOST", raising=False)
    monkeypatch.delenv("VULTR_SCHEDULE_CRON", raising=False)
    monkeypatch.delenv("VULTR_SCHEDULE_TIMEZONE", raising=False)


def _requests(definitions: dg.Definitions, name: str, when: dt.datetime) -> list[str]:
    schedule = definitions.resolve_schedule_def(name)
    context = dg.build_schedule_context(
        scheduled_execution_time=when,
        repository_def=definitions.get_repository_def(),
    )
    data = schedule.evaluate_tick(context)
    return sorted(str(request.partition_key) for request in data.run_requests)


def test_schedules_default_stopped(two_accounts):
    definitions = build_definitions()

    for name in (DAILY_SCHEDULE_NAME, OPEN_MONTH_SCHEDULE_NAME, MONTH_CLOSE_SCHEDULE_NAME):
        schedule = definitions.resolve_schedule_def(name)
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert definitions.resolve_schedule_def(DAILY_SCHEDULE_NAME).cron_schedule == "0 2 * * *"
    assert definitions.resolve_schedule_def(MONTH_CLOSE_SCHEDULE_NAME).cron_schedule == "0 3 2 * *"


def test_daily_schedule_one_run_per_account(two_accounts):
    when = dt.datetime(2026, 7, 14, 2, 0, tzinfo=dt.UTC)

    requests = _requests(build_definitions(), DAILY_SCHEDULE_NAME, when)

    assert requests == ["dev|2026-07-14", "prod|2026-07-14"]


def test_daily_schedule_new_york_uses_utc_day(two_accounts, monkeypatch):
    monkeypatch.setenv("VULTR_SCHEDULE_TIMEZONE", "America/New_York")
    monkeypatch.setenv("VULTR_SCHEDULE_CRON", "30 22 * * *")
    definitions = build_definitions()
    # 22:30 on 8 March in New York, the day daylight saving time starts, is 02:30 UTC on 9 March.
    when = dt.datetime(2026, 3, 8, 22, 30, tzinfo=NEW_YORK)

    requests = _requests(definitions, DAILY_SCHEDULE_NAME, when)

    schedule = definitions.resolve_schedule_def(DAILY_SCHEDULE_NAME)
    assert schedule.execution_timezone == "America/New_York"
    assert requests == ["dev|2026-03-09", "prod|2026-03-09"]


def test_open_month_schedule_restates_previous_month_early(two_accounts):
    definitions = build_definitions()

    early = _requests(
        definitions, OPEN_MONTH_SCHEDULE_NAME, dt.datetime(2026, 7, 2, 2, tzinfo=dt.UTC)
    )
    later = _requests(
        definitions, OPEN_MONTH_SCHEDULE_NAME, dt.datetime(2026, 7, 20, 2, tzinfo=dt.UTC)
    )

    assert early == ["dev|2026-06", "dev|2026-07", "prod|2026-06", "prod|2026-07"]
    assert later == ["dev|2026-07", "prod|2026-07"]


def test_open_month_schedule_new_york_month_end(two_accounts, monkeypatch):
    monkeypatch.setenv("VULTR_SCHEDULE_TIMEZONE", "America/New_York")
    # 21:00 on 31 October in New York is 01:00 UTC on 1 November: November is the open month.
    when = dt.datetime(2026, 10, 31, 21, 0, tzinfo=NEW_YORK)

    requests = _requests(build_definitions(), OPEN_MONTH_SCHEDULE_NAME, when)

    assert requests == ["dev|2026-10", "dev|2026-11", "prod|2026-10", "prod|2026-11"]


def test_month_close_schedule_previous_month(two_accounts):
    when = dt.datetime(2026, 1, 2, 3, 0, tzinfo=dt.UTC)

    requests = _requests(build_definitions(), MONTH_CLOSE_SCHEDULE_NAME, when)

    assert requests == ["dev|2025-12", "prod|2025-12"]


def test_jobs_split_by_cadence(two_accounts):
    definitions = build_definitions()

    daily = definitions.resolve_job_def("vultr_daily_job").asset_layer.executable_asset_keys
    monthly = definitions.resolve_job_def("vultr_monthly_job").asset_layer.executable_asset_keys

    assert dg.AssetKey(["vultr_raw", "instances"]) in daily
    assert dg.AssetKey(["vultr_costs", "cost_metrics"]) in daily
    assert dg.AssetKey(["vultr_raw", "invoices"]) in monthly
    assert dg.AssetKey(["vultr_costs", "cost_line_items"]) in monthly
    assert not daily & monthly
