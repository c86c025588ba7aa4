"""Pytest fixtures for the ClickHouse tests: the chDB HTTP endpoint and IO managers.

Import the fixtures into a test module to register them there.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from vultr_pipeline.clickhouse.chdb_http import PASSWORD_ENVIRONMENT_VARIABLE
from vultr_pipeline.clickhouse.engine import ClickHouseEngine, ClickHouseSettings, open_engine
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager

CHDB_HTTP_USER = "pipeline"
CHDB_HTTP_PASSWORD = "endpoint-test-password"
# Generous bound for a cold start of Python, chDB and the server on a slow CI machine.
_STARTUP_TIMEOUT_SECONDS = 120
# A table partitioned by account and billing month, for the partition-replacement tests.
ACCOUNT_MONTH = dg.MultiPartitionsDefinition(
    {
        "account": dg.StaticPartitionsDefinition(["a", "b"]),
        "month": dg.MonthlyPartitionsDefinition(start_date="2024-01-01", end_date="2025-01-01"),
    }
)
ACCOUNT_MONTH_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("account_id", "String"),
        dg.TableColumn("billing_month", "Date"),
        dg.TableColumn("id", "String"),
        dg.TableColumn("amount", "Decimal(38, 10)"),
    ]
)

_STOP_TIMEOUT_SECONDS = 30


@dataclass
class ChdbHttpServer:
    """A running chDB HTTP endpoint process."""

    port: int
    process: subprocess.Popen[str]
    user: str = CHDB_HTTP_USER
    password: str = field(default=CHDB_HTTP_PASSWORD, repr=False)

    def settings(self, **overrides: object) -> ClickHouseSettings:
        """Return engine settings for this endpoint, with compression off."""
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": self.user,
            "password": self.password,
            "compress": False,
        }
        values.update(overrides)
        return ClickHouseSettings(**values)  # type: ignore[arg-type]


def start_chdb_http(path: Path, password: str = CHDB_HTTP_PASSWORD) -> ChdbHttpServer:
    """Start ``python -m vultr_pipeline.clickhouse.chdb_http`` on a free port."""
    environment = dict(os.environ, **{PASSWORD_ENVIRONMENT_VARIABLE: password})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vultr_pipeline.clickhouse.chdb_http",
            "--path",
            str(path),
            "--port",
            "0",
            "--user",
            CHDB_HTTP_USER,
        ],
        stdout=subprocess.PIPE,
        env=environment,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=_STARTUP_TIMEOUT_SECONDS)
    except queue.Empty:
        stop_process(process)
        raise RuntimeError("The chDB HTTP endpoint did not report its port in time") from None
    if not line.startswith("listening on "):
        stop_process(process)
        raise RuntimeError(f"The chDB HTTP endpoint failed to start: {line!r}")
    return ChdbHttpServer(port=int(line.rsplit(":", 1)[1]), process=process, password=password)


def stop_process(process: subprocess.Popen[str]) -> None:
    """Stop a process this module started, waiting for it to exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def chdb_http_server(tmp_path: Path) -> Iterator[ChdbHttpServer]:
    """Run the chDB HTTP endpoint on a data directory in `tmp_path`."""
    server = start_chdb_http(tmp_path / "chdb_http")
    try:
        yield server
    finally:
        stop_process(server.process)


@pytest.fixture(params=["chdb", "server"])
def clickhouse_settings(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[ClickHouseSettings]:
    """Engine settings for embedded chDB in `tmp_path`, then for the HTTP endpoint."""
    if request.param == "chdb":
        yield ClickHouseSettings(path=str(tmp_path / "chdb"))
        return
    server = start_chdb_http(tmp_path / "chdb_http")
    try:
        yield server.settings()
    finally:
        stop_process(server.process)


def io_manager_on(settings: ClickHouseSettings, **fields: object) -> ClickHouseIOManager:
    """Build a ClickHouseIOManager on the engine of `settings`, with extra `fields`."""
    if settings.host:
        return ClickHouseIOManager(
            host=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            compress=settings.compress,
            **fields,
        )
    return ClickHouseIOManager(path=settings.path, **fields)


@pytest.fixture
def clickhouse_io_manager(clickhouse_settings: ClickHouseSettings) -> ClickHouseIOManager:
    """A ClickHouseIOManager on the engine under test."""
    return io_manager_on(clickhouse_settings)


@pytest.fixture
def clickhouse_engine(clickhouse_settings: ClickHouseSettings) -> Iterator[ClickHouseEngine]:
    """An engine on the same storage as `clickhouse_io_manager`, for checking tables."""
    engine = open_engine(clickhouse_settings)
    try:
        yield engine
    finally:
        engine.close()
