"""Tests of the chDB and server engines behind the ClickHouse IO manager."""

import datetime as dt
import os
import socket
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from vultr_pipeline.clickhouse.engine import (
    ChdbEngine,
    ClickHouseEngine,
    ClickHouseSettings,
    open_engine,
    quote_identifier,
    quote_string,
)
from vultr_pipeline.clickhouse.errors import (
    ClickHouseAuthenticationError,
    ClickHouseConfigError,
    ClickHouseConnectionError,
    ClickHouseLockedError,
    ClickHouseQueryError,
)

pytest_plugins = ["vultr_pipeline_tests.clickhouse_fixtures"]

AMOUNTS_DDL = (
    "CREATE TABLE engine_test.amounts (id String, amount Decimal(38, 10), "
    "at DateTime64(3, 'UTC'), tags Array(String)) ENGINE = MergeTree ORDER BY id"
)


def amounts_table() -> pa.Table:
    schema = pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("amount", pa.decimal128(38, 10), nullable=False),
            pa.field("at", pa.timestamp("ms", tz="UTC"), nullable=False),
            pa.field("tags", pa.list_(pa.string()), nullable=False),
        ]
    )
    at = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)
    rows = [
        {"id": "a", "amount": Decimal("0.1"), "at": at, "tags": ["x"]},
        {"id": "b", "amount": Decimal("0.1"), "at": at, "tags": []},
        {"id": "c", "amount": Decimal("0.1"), "at": at, "tags": ["y", "z"]},
    ]
    return pa.Table.from_pylist(rows, schema=schema)


def test_insert_and_query_keep_decimals(clickhouse_engine: ClickHouseEngine) -> None:
    clickhouse_engine.command("CREATE DATABASE IF NOT EXISTS engine_test")
    clickhouse_engine.command(AMOUNTS_DDL)

    clickhouse_engine.insert_arrow("engine_test", "amounts", amounts_table())

    result = clickhouse_engine.query_arrow(
        "SELECT sum(amount) AS total, count() AS n FROM engine_test.amounts "
        "WHERE id IN {ids:Array(String)} AND at = {at:DateTime64(3, 'UTC')}",
        {"ids": ["a", "b", "c"], "at": "2024-05-01 08:00:00"},
    )
    assert result.schema.field("total").type == pa.decimal128(38, 10)
    assert result.to_pylist() == [{"total": Decimal("0.3"), "n": 3}]
    tags = clickhouse_engine.query_arrow("SELECT tags FROM engine_test.amounts ORDER BY id")
    assert tags.column("tags").to_pylist() == [["x"], [], ["y", "z"]]


def test_string_parameter_is_not_sql(clickhouse_engine: ClickHouseEngine) -> None:
    value = "x'); DROP TABLE t; --"

    result = clickhouse_engine.query_arrow("SELECT {value:String} AS value", {"value": value})

    assert result.to_pylist() == [{"value": value}]


def test_failed_statement_raises_query_error(clickhouse_engine: ClickHouseEngine) -> None:
    with pytest.raises(ClickHouseQueryError) as raised:
        clickhouse_engine.query_arrow("SELECT * FROM engine_test.missing_table")

    assert raised.value.code == 81
    assert "engine_test" in str(raised.value)


def test_identifiers_are_validated() -> None:
    assert quote_identifier("vultr_raw") == "`vultr_raw`"
    with pytest.raises(ClickHouseConfigError, match="bad-name"):
        quote_identifier("bad-name")
    with pytest.raises(ClickHouseConfigError):
        quote_identifier("a`b")


def test_string_literal_escapes_quotes() -> None:
    assert quote_string("it's a \\ path") == "'it\\'s a \\\\ path'"


def test_chdb_sessions_share_one_directory(tmp_path: Path) -> None:
    first = ChdbEngine(str(tmp_path / "data"))
    second = ChdbEngine(str(tmp_path / "data"))
    try:
        first.command("CREATE TABLE default.shared (x Int64) ENGINE = MergeTree ORDER BY x")
        second.command("INSERT INTO default.shared VALUES (1)")
        first.close()

        result = second.query_arrow("SELECT count() AS n FROM default.shared")
    finally:
        first.close()
        second.close()

    assert result.to_pylist() == [{"n": 1}]


def test_chdb_second_directory_is_rejected(tmp_path: Path) -> None:
    engine = ChdbEngine(str(tmp_path / "first"))
    try:
        with pytest.raises(ClickHouseConfigError, match="one data directory per process"):
            ChdbEngine(str(tmp_path / "second"))
    finally:
        engine.close()

    other = ChdbEngine(str(tmp_path / "second"))
    other.close()


def test_chdb_data_survives_reopen(tmp_path: Path) -> None:
    engine = ChdbEngine(str(tmp_path / "data"))
    engine.command("CREATE TABLE default.kept (x Int64) ENGINE = MergeTree ORDER BY x")
    engine.command("INSERT INTO default.kept VALUES (7)")
    engine.close()

    reopened = ChdbEngine(str(tmp_path / "data"))
    try:
        result = reopened.query_arrow("SELECT x FROM default.kept")
    finally:
        reopened.close()

    assert result.to_pylist() == [{"x": 7}]


OPEN_DIRECTORY = textwrap.dedent(
    """
    import sys
    from vultr_pipeline.clickhouse.engine import ChdbEngine
    from vultr_pipeline.clickhouse.errors import ClickHouseLockedError
    try:
        ChdbEngine(sys.argv[1])
    except ClickHouseLockedError as error:
        print(error)
        sys.exit(3)
    """
)


def test_chdb_lock_seen_from_second_process(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    engine = ChdbEngine(str(directory))
    try:
        other = subprocess.run(
            [sys.executable, "-c", OPEN_DIRECTORY, str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "CLICKHOUSE_LOCK_TIMEOUT": "0.5"},
        )
    finally:
        engine.close()

    assert other.returncode == 3
    assert str(directory) in other.stdout
    assert "vultr-pipeline demo" in other.stdout


def test_chdb_lock_raises_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_LOCK_TIMEOUT", "0.5")
    directory = tmp_path / "data"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from vultr_pipeline.clickhouse.engine import ChdbEngine; "
            "e = ChdbEngine(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
            str(directory),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(ClickHouseLockedError, match=str(directory)):
            ChdbEngine(str(directory))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)

    reopened = ChdbEngine(str(directory))
    reopened.close()


def test_open_engine_needs_location() -> None:
    with pytest.raises(ClickHouseConfigError, match="CLICKHOUSE_HOST"):
        open_engine(ClickHouseSettings())


def test_wrong_password_hides_password(chdb_http_server) -> None:
    password = "not-the-right-password"

    with pytest.raises(ClickHouseAuthenticationError) as raised:
        open_engine(chdb_http_server.settings(password=password))

    message = str(raised.value)
    assert "516" in message
    assert f"127.0.0.1:{chdb_http_server.port}" in message
    assert "CLICKHOUSE_PASSWORD" in message
    assert password not in message
    assert password not in repr(raised.value.__cause__)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_names_host() -> None:
    port = unused_port()
    password = "unreachable-secret"

    with pytest.raises(ClickHouseConnectionError) as raised:
        open_engine(ClickHouseSettings(host="127.0.0.1", port=port, password=password))

    message = str(raised.value)
    assert f"127.0.0.1:{port}" in message
    assert "CLICKHOUSE_HOST" in message
    assert "CLICKHOUSE_PORT" in message
    assert password not in message


def test_server_engine_with_compression(chdb_http_server) -> None:
    engine = open_engine(chdb_http_server.settings(compress=True))
    try:
        engine.command("CREATE DATABASE IF NOT EXISTS engine_test")
        engine.command(AMOUNTS_DDL)
        engine.insert_arrow("engine_test", "amounts", amounts_table())
        result = engine.query_arrow("SELECT sum(amount) AS total FROM engine_test.amounts")
    finally:
        engine.close()

    assert result.to_pylist() == [{"total": Decimal("0.3")}]


def test_server_repr_hides_password(chdb_http_server) -> None:
    engine = open_engine(chdb_http_server.settings())
    try:
        assert chdb_http_server.password not in repr(engine)
    finally:
        engine.close()


def test_chdb_lock_waits_for_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_LOCK_TIMEOUT", "60")
    directory = tmp_path / "data"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from vultr_pipeline.clickhouse.engine import ChdbEngine; "
            "e = ChdbEngine(sys.argv[1]); print('ready', flush=True); time.sleep(1); e.close()",
            str(directory),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        engine = ChdbEngine(str(directory))
    finally:
        holder.wait(timeout=60)

    try:
        assert engine.query_arrow("SELECT 1 AS x").to_pylist() == [{"x": 1}]
    finally:
        engine.close()


def test_invalid_lock_timeout_names_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLICKHOUSE_LOCK_TIMEOUT", "soon")

    with pytest.raises(ClickHouseConfigError, match="CLICKHOUSE_LOCK_TIMEOUT"):
        ChdbEngine(str(tmp_path / "data"))
