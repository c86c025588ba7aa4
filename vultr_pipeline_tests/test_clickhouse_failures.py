"""ClickHouse unreachable or failing in the middle of a write: the run fails, partitions stay whole.

A partition is replaced in one ``REPLACE PARTITION`` from a staging table, so a reader sees
either all of its previous rows or all of its new rows. These tests provoke real failures:
a server address where nothing listens, an output stream that fails after some chunks were
staged, and a server process stopped while a write is under way.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from vultr_pipeline.clickhouse.chunks import DataFrameStream
from vultr_pipeline.clickhouse.engine import (
    ClickHouseEngine,
    ClickHouseSettings,
    ServerEngine,
    open_engine,
)
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.clickhouse.tables import staging_tables
from vultr_pipeline_tests.clickhouse_fixtures import (
    ACCOUNT_MONTH,
    ACCOUNT_MONTH_SCHEMA,
    ChdbHttpServer,
    io_manager_on,
    start_chdb_http,
    stop_process,
)
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY
from vultr_pipeline_tests.pipeline_runs import configure, run_daily

pytest_plugins = [
    "vultr_pipeline_tests.clickhouse_fixtures",
    "vultr_pipeline_tests.pipeline_runs",
]
pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

JANUARY = dt.date(2024, 1, 1)
BOTH_ACCOUNTS = {
    "dagster/asset_partition_range_start": "a|2024-01-01",
    "dagster/asset_partition_range_end": "b|2024-01-01",
}
# The rows that every test writes first, and expects to find after the failed write.
PREVIOUS = {"a": [Decimal("1"), Decimal("2")], "b": [Decimal("3")]}


def unused_port() -> int:
    """Return a 127.0.0.1 port that nothing listens on: bound once, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def frame(account: str, amounts: list[str], first_id: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [account] * len(amounts),
            "billing_month": [JANUARY] * len(amounts),
            "id": [f"{account}-{first_id + index}" for index in range(len(amounts))],
            "amount": [Decimal(amount) for amount in amounts],
        }
    )


def streaming_asset(frames: Any) -> dg.AssetsDefinition:
    """Build an account × month asset that returns `frames()` as a stream of DataFrames."""

    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=ACCOUNT_MONTH,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={
            "dagster/column_schema": ACCOUNT_MONTH_SCHEMA,
            "partition_expr": {"account": "account_id", "month": "billing_month"},
        },
    )
    def things() -> DataFrameStream:
        return DataFrameStream(frames())

    return things


def io_manager_for(settings: ClickHouseSettings) -> ClickHouseIOManager:
    """An IO manager that inserts every row on its own, so a write has many steps."""
    return io_manager_on(settings, chunk_rows=1)


def write(settings: ClickHouseSettings, frames: Any) -> dg.ExecuteInProcessResult:
    """Write both accounts' January partitions in one run, returning the result."""
    return dg.materialize(
        [streaming_asset(frames)],
        resources={"io_manager": io_manager_for(settings)},
        tags=BOTH_ACCOUNTS,
        raise_on_error=False,
    )


def write_previous(settings: ClickHouseSettings) -> None:
    def frames() -> Iterator[pd.DataFrame]:
        yield frame("a", ["1", "2"])
        yield frame("b", ["3"])

    assert write(settings, frames).success


def amounts_by_account(settings: ClickHouseSettings) -> dict[str, list[Decimal]]:
    engine = open_engine(settings)
    try:
        rows = engine.query_arrow(
            "SELECT account_id, amount FROM test_raw.things ORDER BY account_id, id"
        ).to_pylist()
    finally:
        engine.close()
    grouped: dict[str, list[Decimal]] = {}
    for row in rows:
        grouped.setdefault(row["account_id"], []).append(row["amount"])
    return grouped


def staged_rows(engine: ClickHouseEngine) -> int:
    """Count the rows in the staging tables of test_raw.things."""
    total = 0
    for name in staging_tables(engine, "test_raw", "things"):
        result = engine.query_arrow(f"SELECT count() AS n FROM test_raw.`{name}`")
        total += result.column("n")[0].as_py()
    return total


def error_text(event: dg.DagsterEvent) -> str:
    """Return the message of a step failure and the messages of its causes."""
    messages = []
    error = event.step_failure_data.error
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Return the messages of every step failure of `result` and of their causes."""
    return "\n".join(error_text(event) for event in result.get_step_failure_events())


def test_unreachable_server_fails_run(emulator, monkeypatch):
    port = unused_port()
    settings = ClickHouseSettings(host="127.0.0.1", port=port, password="unused-password")
    configure(monkeypatch, emulator, EMULATOR_API_KEY, settings)

    result = run_daily(raise_on_error=False)

    assert not result.success
    failures = result.get_step_failure_events()
    assert failures
    for failure in failures:
        message = error_text(failure)
        assert f"Cannot connect to ClickHouse at 127.0.0.1:{port} (Connection refused)" in message
        assert "CLICKHOUSE_HOST" in message
    assert result.get_asset_materialization_events() == []


def test_stream_failing_midway_keeps_partitions(clickhouse_settings):
    write_previous(clickhouse_settings)
    staged_when_failing: list[int] = []

    def frames() -> Iterator[pd.DataFrame]:
        yield frame("a", ["10"])
        yield frame("a", ["20"], first_id=1)
        yield frame("b", ["30"])
        # The writer pulls one frame ahead of its insert, so two rows are staged by now.
        engine = open_engine(clickhouse_settings)
        try:
            staged_when_failing.append(staged_rows(engine))
        finally:
            engine.close()
        raise RuntimeError("The Vultr API failed on page 4")

    result = write(clickhouse_settings, frames)

    assert not result.success
    assert "failed on page 4" in failure_text(result)
    assert staged_when_failing == [2]
    assert amounts_by_account(clickhouse_settings) == PREVIOUS
    engine = open_engine(clickhouse_settings)
    try:
        assert staging_tables(engine, "test_raw", "things") == []
    finally:
        engine.close()
    assert result.get_asset_materialization_events() == []


@pytest.fixture
def server(tmp_path: Path) -> Iterator[list[ChdbHttpServer]]:
    """A chDB HTTP endpoint; a test may stop it and append its restarted successor."""
    servers = [start_chdb_http(tmp_path / "clickhouse_server")]
    try:
        yield servers
    finally:
        for running in servers:
            stop_process(running.process)


def restart(servers: list[ChdbHttpServer], tmp_path: Path) -> ClickHouseSettings:
    """Start the endpoint again on the same data directory and return its settings."""
    stop_process(servers[-1].process)
    servers.append(start_chdb_http(tmp_path / "clickhouse_server"))
    return servers[-1].settings()


def test_server_stopped_during_insert(server, tmp_path):
    settings = server[0].settings()
    write_previous(settings)

    def frames() -> Iterator[pd.DataFrame]:
        yield frame("a", ["10"])
        yield frame("a", ["20"], first_id=1)
        stop_process(server[0].process)
        yield frame("b", ["30"])

    result = write(settings, frames)

    assert not result.success
    message = failure_text(result)
    assert f"Cannot connect to ClickHouse at 127.0.0.1:{settings.port}" in message
    assert result.get_asset_materialization_events() == []
    settings = restart(server, tmp_path)
    assert amounts_by_account(settings) == PREVIOUS

    def new_frames() -> Iterator[pd.DataFrame]:
        yield frame("a", ["5"])
        yield frame("b", ["6"])

    assert write(settings, new_frames).success
    assert amounts_by_account(settings) == {"a": [Decimal("5")], "b": [Decimal("6")]}
    engine = open_engine(settings)
    try:
        assert staging_tables(engine, "test_raw", "things") == []
    finally:
        engine.close()


def test_server_stopped_between_partitions(server, tmp_path, monkeypatch):
    settings = server[0].settings()
    write_previous(settings)
    original_command = ServerEngine.command
    # Account of each REPLACE PARTITION sent, in order; the server stops before the second.
    replaced: list[str] = []

    def command(self: ServerEngine, sql: str, parameters: Any = None) -> None:
        if "REPLACE PARTITION" in sql:
            replaced.append(parameters["partition_0"])
            if len(replaced) == 2:
                stop_process(server[0].process)
        original_command(self, sql, parameters)

    monkeypatch.setattr(ServerEngine, "command", command)
    new = {"a": [Decimal("10"), Decimal("20"), Decimal("30")], "b": [Decimal("40")]}

    def frames() -> Iterator[pd.DataFrame]:
        yield frame("a", ["10", "20", "30"])
        yield frame("b", ["40"])

    result = write(settings, frames)
    monkeypatch.undo()

    assert not result.success
    assert sorted(replaced) == ["a", "b"]
    assert "Cannot connect to ClickHouse" in failure_text(result)
    settings = restart(server, tmp_path)
    # The partition replaced before the server stopped has its new rows and the other one
    # its previous rows, so neither mixes the two.
    first, second = replaced
    assert amounts_by_account(settings) == {first: new[first], second: PREVIOUS[second]}
