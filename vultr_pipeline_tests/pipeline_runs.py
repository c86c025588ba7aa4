"""Helpers that run the partitioned jobs of the code location against the emulator.

The code location reads its settings from the environment, so `configure` sets VULTR_* and
CLICKHOUSE_* with `monkeypatch`, and `run_daily`/`run_months` execute the jobs in this process
on an ephemeral Dagster instance. Register this module with
``pytest_plugins = ["vultr_pipeline_tests.pipeline_runs"]`` so that the engine `configure`
keeps open is closed after each test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from vultr_pipeline.backfill import RANGE_END_TAG, RANGE_START_TAG
from vultr_pipeline.clickhouse.engine import ClickHouseEngine, ClickHouseSettings, open_engine
from vultr_pipeline.costs.line_items import invoice_billing_month, month_start
from vultr_pipeline.definitions import build_definitions
from vultr_pipeline.defs.partitions import daily_key, monthly_key, utc_today
from vultr_pipeline.defs.schedules import DAILY_JOB_NAME, MONTHLY_JOB_NAME
from vultr_pipeline.emulator import EmulatorServer
from vultr_pipeline.vultr.parsing import parse_datetime

_SETTINGS = (
    "CLICKHOUSE_HOST",
    "CLICKHOUSE_PORT",
    "CLICKHOUSE_USER",
    "CLICKHOUSE_PASSWORD",
    "CLICKHOUSE_PATH",
    "CLICKHOUSE_SECURE",
    "VULTR_ACCOUNTS_FILE",
    "VULTR_HISTORY_START",
    "VULTR_DAILY_START",
)


# Engines that `configure` keeps open on the test's chDB directory. A run opens and closes an
# engine for every input and output, and with no engine left open each of those starts chDB's
# embedded server again. After some hundreds of restarts in one process, chDB 4.4.0 failed to
# start it ("Error initializing EmbeddedServer") or aborted the process.
_kept_engines: list[ClickHouseEngine] = []


@pytest.fixture(autouse=True)
def _close_kept_engines() -> Iterator[None]:
    yield
    while _kept_engines:
        _kept_engines.pop().close()


def configure(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    api_key: str,
    settings: ClickHouseSettings,
) -> None:
    """Point the code location at `emulator` and at the ClickHouse of `settings`."""
    for name in _SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VULTR_API_URL", emulator.url)
    monkeypatch.setenv("VULTR_API_KEY", api_key)
    if settings.host:
        monkeypatch.setenv("CLICKHOUSE_HOST", settings.host)
        monkeypatch.setenv("CLICKHOUSE_PORT", str(settings.port))
        monkeypatch.setenv("CLICKHOUSE_USER", settings.username)
        monkeypatch.setenv("CLICKHOUSE_PASSWORD", settings.password or "")
    else:
        monkeypatch.setenv("CLICKHOUSE_PATH", str(settings.path))
        while _kept_engines:
            _kept_engines.pop().close()
        _kept_engines.append(open_engine(settings))


def run_daily(
    account: str = "default", day: dt.date | None = None, **options: Any
) -> dg.ExecuteInProcessResult:
    """Run the daily job for one account and day (default today, UTC)."""
    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    key = daily_key(account, day or utc_today())
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), partition_key=key, **options
    )


def run_months(
    first: dt.date, last: dt.date, account: str = "default", **options: Any
) -> dg.ExecuteInProcessResult:
    """Run the monthly job once over the months from `first` to `last` of `account`."""
    job = build_definitions().resolve_job_def(MONTHLY_JOB_NAME)
    tags = {
        RANGE_START_TAG: str(monthly_key(account, first)),
        RANGE_END_TAG: str(monthly_key(account, last)),
    }
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), tags=tags, **options)


def run_month(
    month: dt.date, account: str = "default", **options: Any
) -> dg.ExecuteInProcessResult:
    """Run the monthly job for one month of `account`."""
    job = build_definitions().resolve_job_def(MONTHLY_JOB_NAME)
    key = monthly_key(account, month)
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), partition_key=key, **options
    )


def invoice_months(emulator: EmulatorServer) -> list[dt.date]:
    """Return the billing months of the emulator's invoices, oldest first."""
    return sorted(
        {invoice_billing_month(parse_datetime(i["date"])) for i in emulator.account.invoices}
    )


def open_month() -> dt.date:
    """Return the first day of the current UTC month."""
    return month_start(utc_today())


def query(settings: ClickHouseSettings | Path, sql: str) -> list[dict]:
    """Run `sql` and return its rows as dicts."""
    if isinstance(settings, Path):
        settings = ClickHouseSettings(path=str(settings))
    engine = open_engine(settings)
    try:
        return engine.query_arrow(sql).to_pylist()
    finally:
        engine.close()
