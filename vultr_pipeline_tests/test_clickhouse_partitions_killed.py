"""Tests that a writer killed in the middle of a partition write loses nothing.

A second process writes a large partition and is killed with SIGKILL once its insert
into the staging table has started. A hook in that process stops it after the insert,
so it never reaches ``REPLACE PARTITION`` whether the kill lands during the insert or
just after it. The test process then checks that the partition keeps its previous
rows, and that the next write succeeds and drops the staging table left behind.
"""

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from vultr_pipeline.clickhouse.engine import (
    ChdbEngine,
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
    start_chdb_http,
    stop_process,
)

PARTITION = "a|2024-01-01"
OTHER_PARTITION = "b|2024-01-01"
# Enough rows that converting and sending them takes a noticeable part of a second.
LARGE_ROWS = 400_000
PASSWORD_VARIABLE = "KILLED_WRITER_PASSWORD"
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# Generous bound for the writer to start, import Dagster and reach its insert.
_WRITER_START_TIMEOUT_SECONDS = 180

WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from vultr_pipeline_tests.test_clickhouse_partitions_killed import run_paused_writer
    run_paused_writer(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    """
)


def partition_asset(rows: int, amount: str) -> dg.AssetsDefinition:
    """Build an account × month asset that returns `rows` rows for each of its partitions."""

    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=ACCOUNT_MONTH,
        metadata={
            "dagster/column_schema": ACCOUNT_MONTH_SCHEMA,
            "partition_expr": {"account": "account_id", "month": "billing_month"},
        },
    )
    def things(context: dg.AssetExecutionContext) -> pd.DataFrame:
        dimensions = ACCOUNT_MONTH.get_partition_key_from_str(
            context.partition_key
        ).keys_by_dimension
        return pd.DataFrame(
            {
                "account_id": [dimensions["account"]] * rows,
                "billing_month": [dt.date.fromisoformat(dimensions["month"])] * rows,
                "id": [f"{index:07d}" for index in range(rows)],
                "amount": [Decimal(amount)] * rows,
            }
        )

    return things


def io_manager_for(settings: ClickHouseSettings) -> ClickHouseIOManager:
    if settings.host:
        return ClickHouseIOManager(
            host=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            compress=settings.compress,
        )
    return ClickHouseIOManager(path=settings.path)


def write(settings: ClickHouseSettings, partition: str, rows: int, amount: str) -> None:
    result = dg.materialize(
        [partition_asset(rows, amount)],
        resources={"io_manager": io_manager_for(settings)},
        partition_key=partition,
    )
    assert result.success


def run_paused_writer(settings_json: str, partition: str, rows: int) -> None:
    """Write `partition`, announcing the staging insert and stopping after it.

    Runs in the writer process. The test kills the process after "inserting".
    """

    def pause_after(original: Any) -> Any:
        def insert_arrow(self: Any, database: str, table: str, data: Any) -> None:
            print("inserting", flush=True)
            original(self, database, table, data)
            print("staged", flush=True)
            time.sleep(_WRITER_START_TIMEOUT_SECONDS)
            raise AssertionError("The writer was not killed after its staging insert.")

        return insert_arrow

    ChdbEngine.insert_arrow = pause_after(ChdbEngine.insert_arrow)  # type: ignore[method-assign]
    ServerEngine.insert_arrow = pause_after(ServerEngine.insert_arrow)  # type: ignore[method-assign]
    values = json.loads(settings_json)
    settings = ClickHouseSettings(**values, password=os.environ.get(PASSWORD_VARIABLE))
    write(settings, partition, rows, "9")


def kill_writer_during_insert(settings: ClickHouseSettings) -> None:
    """Start the writer process, wait for its staging insert to begin, and SIGKILL it."""
    values = {
        "path": settings.path,
        "host": settings.host,
        "port": settings.port,
        "username": settings.username,
        "compress": settings.compress,
    }
    environment = dict(os.environ, **{PASSWORD_VARIABLE: settings.password or ""})
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, json.dumps(values), PARTITION, str(LARGE_ROWS)],
        stdout=subprocess.PIPE,
        env=environment,
        text=True,
        # `python -c` imports from the working directory, which contains vultr_pipeline_tests.
        cwd=REPOSITORY_ROOT,
    )
    try:
        assert writer.stdout is not None
        line = writer.stdout.readline()
        assert line.strip() == "inserting", f"writer exited early: {line!r}"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=_WRITER_START_TIMEOUT_SECONDS)
        if writer.stdout is not None:
            writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL


def partition_summary(engine: ClickHouseEngine) -> dict[str, tuple[int, Decimal]]:
    rows = engine.query_arrow(
        "SELECT account_id, count() AS n, sum(amount) AS total FROM test_raw.things "
        "GROUP BY account_id ORDER BY account_id"
    ).to_pylist()
    return {row["account_id"]: (row["n"], row["total"]) for row in rows}


@pytest.fixture(params=["chdb", "server"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClickHouseSettings]:
    """Settings for a chDB directory, or for a chDB HTTP endpoint that outlives the writer.

    The chDB engine is opened only briefly by each step, because the writer process
    needs the directory's lock.
    """
    if request.param == "chdb":
        yield ClickHouseSettings(path=str(tmp_path / "chdb"))
        return
    server = start_chdb_http(tmp_path / "chdb_http")
    try:
        yield server.settings()
        assert server.process.poll() is None, "the chDB HTTP endpoint stopped"
    finally:
        stop_process(server.process)


def test_killed_writer_keeps_previous_rows(
    storage: ClickHouseSettings, caplog: pytest.LogCaptureFixture
) -> None:
    write(storage, PARTITION, 2, "1")
    write(storage, OTHER_PARTITION, 3, "1")

    kill_writer_during_insert(storage)

    # For chDB this open also proves that the killed process released the directory.
    engine = open_engine(storage)
    try:
        assert partition_summary(engine) == {"a": (2, Decimal("2")), "b": (3, Decimal("3"))}
        [leftover] = staging_tables(engine, "test_raw", "things")
    finally:
        engine.close()

    with caplog.at_level(logging.WARNING, logger="vultr_pipeline.clickhouse.tables"):
        write(storage, PARTITION, 4, "5")

    engine = open_engine(storage)
    try:
        assert partition_summary(engine) == {"a": (4, Decimal("20")), "b": (3, Decimal("3"))}
        assert staging_tables(engine, "test_raw", "things") == []
    finally:
        engine.close()
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1
    assert leftover in warnings[0]
    assert "interrupted write of test_raw.things" in warnings[0]
