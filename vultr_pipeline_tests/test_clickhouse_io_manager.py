"""Tests of ClickHouseIOManager against embedded chDB and the chDB HTTP endpoint."""

import datetime as dt
import re
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from vultr_pipeline.clickhouse.engine import ClickHouseEngine, ClickHouseSettings, open_engine
from vultr_pipeline.clickhouse.errors import (
    ClickHouseAuthenticationError,
    ClickHouseConfigError,
    ClickHouseDataError,
    ClickHouseError,
    ClickHouseLockedError,
    ClickHouseQueryError,
    ClickHouseSchemaError,
)
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.clickhouse.tables import staging_tables

pytest_plugins = ["vultr_pipeline_tests.clickhouse_fixtures"]

UTC = dt.UTC

ALL_TYPES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("id", "String", description="Row identifier"),
        dg.TableColumn("region", "LowCardinality(String)", description="Region code"),
        dg.TableColumn("label", "Nullable(String)", description="Optional label"),
        dg.TableColumn("count", "Int64"),
        dg.TableColumn("small", "UInt32"),
        dg.TableColumn("maybe_count", "Nullable(Int64)"),
        dg.TableColumn("amount", "Decimal(38, 10)", description="Amount in USD"),
        dg.TableColumn("refund", "Nullable(Decimal(38, 10))"),
        dg.TableColumn("created_at", "DateTime64(3, 'UTC')"),
        dg.TableColumn("deleted_at", "Nullable(DateTime64(3, 'UTC'))"),
        dg.TableColumn("day", "Date"),
        dg.TableColumn("active", "Bool"),
        dg.TableColumn("tags", "Array(String)"),
        dg.TableColumn("ratio", "Float64"),
    ]
)


def all_types_frame() -> pd.DataFrame:
    """Three rows that exercise every supported type, nulls included."""
    created = dt.datetime(2024, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)
    return pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "region": ["ewr", "ewr", "fra"],
            "label": ["first", None, "third"],
            "count": [1, 2, 3],
            "small": [0, 7, 4_000_000_000],
            "maybe_count": pd.array([None, 5, 2**62], dtype="Int64"),
            "amount": [Decimal("0.1"), Decimal("0.1"), Decimal("0.1")],
            "refund": [None, Decimal("-12345678901234567890.0123456789"), Decimal("0")],
            "created_at": [created, pd.Timestamp(created), created + dt.timedelta(days=1)],
            "deleted_at": [None, created, None],
            "day": [dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)],
            "active": [True, False, True],
            "tags": [["x", "y"], [], ["z"]],
            "ratio": [0.5, 1.25, -2.0],
        }
    )


def make_asset(
    frame: pd.DataFrame,
    schema: dg.TableSchema,
    key: list[str] | None = None,
    **metadata: Any,
) -> dg.AssetsDefinition:
    """Build an asset that returns `frame` and declares `schema`."""
    definition_metadata = {"dagster/column_schema": schema, **metadata}

    @dg.asset(key=key or ["test_raw", "things"], metadata=definition_metadata)
    def things() -> pd.DataFrame:
        return frame

    return things


def materialize(
    assets: list[Any], io_manager: ClickHouseIOManager, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources={"io_manager": io_manager}, **kwargs)


def materialize_error(
    assets: list[Any], io_manager: ClickHouseIOManager, **kwargs: Any
) -> BaseException:
    """Run `materialize`, expecting the IO manager to fail, and return its error."""
    with pytest.raises(ClickHouseError) as raised:
        materialize(assets, io_manager, **kwargs)
    return raised.value


def output_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    return {key: value.value for key, value in metadata.items()}


def count_rows(engine: ClickHouseEngine, table: str) -> int:
    return engine.query_arrow(f"SELECT count() AS n FROM {table}").column("n")[0].as_py()


def test_round_trip_keeps_exact_values(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    written = all_types_frame()
    things = make_asset(written, ALL_TYPES_SCHEMA, **{"clickhouse/order_by": ["id"]})
    loaded: dict[str, pd.DataFrame] = {}

    @dg.asset(deps=[], ins={"things": dg.AssetIn(key=["test_raw", "things"])})
    def reader(things: pd.DataFrame) -> None:
        loaded["frame"] = things

    result = materialize([things, reader], clickhouse_io_manager)

    assert result.success
    frame = loaded["frame"]
    assert list(frame.columns) == list(written.columns)
    assert frame["id"].tolist() == ["a", "b", "c"]
    assert frame["region"].tolist() == ["ewr", "ewr", "fra"]
    assert frame["label"].isna().tolist() == [False, True, False]
    assert frame["label"].dropna().tolist() == ["first", "third"]
    assert frame["count"].tolist() == [1, 2, 3]
    assert frame["small"].tolist() == [0, 7, 4_000_000_000]
    assert str(frame["maybe_count"].dtype) == "Int64"
    assert frame["maybe_count"].tolist()[1:] == [5, 2**62]
    assert frame["maybe_count"].isna().tolist() == [True, False, False]
    assert all(isinstance(value, Decimal) for value in frame["amount"])
    assert frame["amount"].tolist() == [Decimal("0.1")] * 3
    assert frame["refund"].tolist() == [
        None,
        Decimal("-12345678901234567890.0123456789"),
        Decimal("0"),
    ]
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert frame["created_at"].tolist() == [pd.Timestamp(value) for value in written.created_at]
    assert frame["deleted_at"].isna().tolist() == [True, False, True]
    assert frame["deleted_at"][1] == pd.Timestamp(written["deleted_at"][1])
    assert frame["day"].tolist() == written["day"].tolist()
    assert frame["active"].tolist() == [True, False, True]
    assert frame["tags"].tolist() == [["x", "y"], [], ["z"]]
    assert frame["ratio"].tolist() == [0.5, 1.25, -2.0]

    total = clickhouse_engine.query_arrow(
        "SELECT sum(amount) AS total, toTypeName(sum(amount)) AS type FROM test_raw.things"
    ).to_pylist()[0]
    assert total["total"] == Decimal("0.3")
    assert total["type"] == "Decimal(38, 10)"


def test_table_created_from_declared_schema(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    things = make_asset(all_types_frame(), ALL_TYPES_SCHEMA, **{"clickhouse/order_by": ["id"]})

    result = materialize([things], clickhouse_io_manager)

    columns = clickhouse_engine.query_arrow(
        "SELECT name, type, comment FROM system.columns "
        "WHERE database = 'test_raw' AND table = 'things' ORDER BY position"
    ).to_pylist()
    assert [(row["name"], row["type"]) for row in columns] == [
        (column.name, column.type) for column in ALL_TYPES_SCHEMA.columns
    ]
    assert columns[0]["comment"] == "Row identifier"
    assert columns[6]["comment"] == "Amount in USD"
    keys = clickhouse_engine.query_arrow(
        "SELECT engine, sorting_key FROM system.tables "
        "WHERE database = 'test_raw' AND name = 'things'"
    ).to_pylist()
    assert keys == [{"engine": "MergeTree", "sorting_key": "(id)"}]

    metadata = output_metadata(result)
    assert metadata["dagster/row_count"] == 3
    assert metadata["dagster/table_name"] == "test_raw.things"
    assert metadata["dagster/column_schema"] == ALL_TYPES_SCHEMA
    assert "dagster/partition_row_count" not in metadata


def test_rerun_replaces_rows(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    things = make_asset(all_types_frame(), ALL_TYPES_SCHEMA)

    materialize([things], clickhouse_io_manager)
    result = materialize([things], clickhouse_io_manager)

    assert result.success
    assert count_rows(clickhouse_engine, "test_raw.things") == 3
    assert staging_tables(clickhouse_engine, "test_raw", "things") == []


def test_single_part_key_uses_default_database(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    things = make_asset(all_types_frame(), ALL_TYPES_SCHEMA, key=["things"])

    materialize([things], clickhouse_io_manager)

    assert count_rows(clickhouse_engine, "default.things") == 3


def test_long_key_joins_database_parts(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    things = make_asset(all_types_frame(), ALL_TYPES_SCHEMA, key=["vultr", "raw", "things"])

    materialize([things], clickhouse_io_manager)

    assert count_rows(clickhouse_engine, "vultr_raw.things") == 3


SIMPLE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("id", "String"),
        dg.TableColumn("amount", "Decimal(38, 10)"),
    ]
)


def simple_frame(amount: str = "1.5") -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b"], "amount": [Decimal(amount), Decimal("2")]})


def test_failed_write_keeps_previous_rows(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    materialize([make_asset(simple_frame(), SIMPLE_SCHEMA)], clickhouse_io_manager)
    too_precise = simple_frame("0.12345678901")
    failing = make_asset(too_precise, SIMPLE_SCHEMA)

    error = materialize_error([failing], clickhouse_io_manager)

    assert isinstance(error, ClickHouseDataError)
    message = str(error)
    assert "test_raw.things.amount" in message
    assert "row 0" in message
    assert "Decimal('0.12345678901')" in message
    frame = read_rows(clickhouse_engine, "test_raw.things")
    assert frame["amount"].tolist() == [Decimal("1.5"), Decimal("2")]
    assert staging_tables(clickhouse_engine, "test_raw", "things") == []


class FailingInsertEngine:
    """Delegates to a real engine, but fails every insert after writing it."""

    def __init__(self, engine: ClickHouseEngine) -> None:
        self._engine = engine

    def command(self, sql: str, parameters: Any = None) -> None:
        self._engine.command(sql, parameters)

    def query_arrow(self, sql: str, parameters: Any = None) -> Any:
        return self._engine.query_arrow(sql, parameters)

    def insert_arrow(self, database: str, table: str, data: Any) -> None:
        self._engine.insert_arrow(database, table, data)
        raise ClickHouseQueryError("Code: 210. DB::Exception: connection lost. (NETWORK_ERROR)")

    def close(self) -> None:
        self._engine.close()


def test_insert_failure_drops_staging_table(
    clickhouse_settings: ClickHouseSettings,
    clickhouse_engine: ClickHouseEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vultr_pipeline.clickhouse import io_manager as io_manager_module

    io_manager = ClickHouseIOManager(
        path=clickhouse_settings.path,
        host=clickhouse_settings.host,
        port=clickhouse_settings.port,
        username=clickhouse_settings.username,
        password=clickhouse_settings.password,
        compress=clickhouse_settings.compress,
    )
    materialize([make_asset(simple_frame(), SIMPLE_SCHEMA)], io_manager)
    monkeypatch.setattr(
        io_manager_module,
        "open_engine",
        lambda settings: FailingInsertEngine(open_engine(settings)),
    )

    error = materialize_error([make_asset(simple_frame("9"), SIMPLE_SCHEMA)], io_manager)

    assert isinstance(error, ClickHouseQueryError)
    assert "connection lost" in str(error)
    frame = read_rows(clickhouse_engine, "test_raw.things")
    assert frame["amount"].tolist() == [Decimal("1.5"), Decimal("2")]
    assert staging_tables(clickhouse_engine, "test_raw", "things") == []


def read_rows(engine: ClickHouseEngine, table: str) -> pd.DataFrame:
    from vultr_pipeline.clickhouse.tables import read_table

    database, name = table.split(".")
    return read_table(engine, database, name, order_by=["id"])


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        pytest.param(
            pd.DataFrame({"id": ["a"]}),
            r"missing \['amount'\], extra \[\]",
            id="missing",
        ),
        pytest.param(
            pd.DataFrame({"id": ["a"], "amount": [Decimal(1)], "note": ["x"]}),
            r"missing \[\], extra \['note'\]",
            id="extra",
        ),
    ],
)
def test_column_mismatch_names_columns(
    clickhouse_io_manager: ClickHouseIOManager, frame: pd.DataFrame, expected: str
) -> None:
    error = materialize_error([make_asset(frame, SIMPLE_SCHEMA)], clickhouse_io_manager)

    assert isinstance(error, ClickHouseSchemaError)
    assert re.search(expected, str(error))
    assert "test_raw/things" in str(error)


@pytest.mark.parametrize(
    ("schema_type", "value", "expected"),
    [
        pytest.param("String", None, "is not Nullable", id="null-in-non-nullable"),
        pytest.param("DateTime64(3, 'UTC')", dt.datetime(2024, 1, 1), "naive datetime", id="naive"),
        pytest.param("Decimal(38, 10)", 0.1, "Decimal object expected", id="float-decimal"),
        pytest.param("UInt32", -1, "row 0", id="negative-unsigned"),
        pytest.param("Array(String)", ["x", None], "not Nullable", id="null-element"),
        pytest.param("Date", dt.datetime(2024, 1, 1, 5), "time of day", id="datetime-date"),
    ],
)
def test_invalid_value_is_rejected(
    clickhouse_io_manager: ClickHouseIOManager, schema_type: str, value: Any, expected: str
) -> None:
    schema = dg.TableSchema(columns=[dg.TableColumn("value", schema_type)])
    frame = pd.DataFrame({"value": pd.Series([value], dtype=object)})

    error = materialize_error([make_asset(frame, schema)], clickhouse_io_manager)

    assert isinstance(error, ClickHouseDataError)
    assert expected in str(error)
    assert "test_raw.things.value" in str(error)


def test_new_column_keeps_old_rows(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    partitions = dg.StaticPartitionsDefinition(["ewr", "fra"])
    old_schema = dg.TableSchema(
        columns=[dg.TableColumn("region", "String"), dg.TableColumn("id", "String")]
    )
    new_schema = dg.TableSchema(
        columns=[*old_schema.columns, dg.TableColumn("label", "Nullable(String)")]
    )

    def partitioned(schema: dg.TableSchema, with_label: bool) -> dg.AssetsDefinition:
        @dg.asset(
            key=["test_raw", "things"],
            partitions_def=partitions,
            metadata={"dagster/column_schema": schema, "partition_expr": "region"},
        )
        def things(context: dg.AssetExecutionContext) -> pd.DataFrame:
            frame = pd.DataFrame({"region": [context.partition_key], "id": ["1"]})
            if with_label:
                frame["label"] = ["new"]
            return frame

        return things

    materialize([partitioned(old_schema, False)], clickhouse_io_manager, partition_key="ewr")
    materialize([partitioned(new_schema, True)], clickhouse_io_manager, partition_key="fra")

    rows = clickhouse_engine.query_arrow(
        "SELECT region, id, label FROM test_raw.things ORDER BY region"
    ).to_pylist()
    assert rows == [
        {"region": "ewr", "id": "1", "label": None},
        {"region": "fra", "id": "1", "label": "new"},
    ]


def test_changed_type_names_column(clickhouse_io_manager: ClickHouseIOManager) -> None:
    materialize([make_asset(simple_frame(), SIMPLE_SCHEMA)], clickhouse_io_manager)
    changed = dg.TableSchema(
        columns=[dg.TableColumn("id", "String"), dg.TableColumn("amount", "Decimal(38, 2)")]
    )

    error = materialize_error([make_asset(simple_frame(), changed)], clickhouse_io_manager)

    assert isinstance(error, ClickHouseSchemaError)
    message = str(error)
    assert "test_raw.things.amount" in message
    assert "Decimal(38, 10)" in message
    assert "Decimal(38, 2)" in message
    assert "DROP TABLE test_raw.things" in message


def test_missing_schema_is_rejected(clickhouse_io_manager: ClickHouseIOManager) -> None:
    @dg.asset(key=["test_raw", "things"])
    def things() -> pd.DataFrame:
        return simple_frame()

    error = materialize_error([things], clickhouse_io_manager)

    assert isinstance(error, ClickHouseSchemaError)
    assert "declares no table schema" in str(error)


def test_invalid_key_names_asset(clickhouse_io_manager: ClickHouseIOManager) -> None:
    things = make_asset(simple_frame(), SIMPLE_SCHEMA, key=["test_raw", "bad-name"])

    error = materialize_error([things], clickhouse_io_manager)

    assert isinstance(error, ClickHouseConfigError)
    assert "test_raw/bad-name" in str(error)


# Partitions: write A, then B, then A with new values, as the dagster-duckdb-pandas
# tests do, and check that A is replaced, B is untouched and the row counts are right.

STATIC_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("region", "LowCardinality(String)"),
        dg.TableColumn("id", "String"),
        dg.TableColumn("amount", "Decimal(38, 10)"),
    ]
)


def static_asset(values: dict[str, list[str]]) -> dg.AssetsDefinition:
    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=dg.StaticPartitionsDefinition(["ewr", "fra", "sjc"]),
        metadata={"dagster/column_schema": STATIC_SCHEMA, "partition_expr": "region"},
    )
    def things(context: dg.AssetExecutionContext) -> pd.DataFrame:
        rows = [
            {"region": key, "id": f"{key}-{index}", "amount": Decimal(value)}
            for key in context.partition_keys
            for index, value in enumerate(values.get(key, []))
        ]
        return pd.DataFrame(rows, columns=["region", "id", "amount"])

    return things


def amounts_by_region(engine: ClickHouseEngine) -> dict[str, list[Decimal]]:
    rows = engine.query_arrow(
        "SELECT region, groupArray(amount) AS amounts FROM "
        "(SELECT region, amount FROM test_raw.things ORDER BY id) GROUP BY region"
    ).to_pylist()
    return {row["region"]: row["amounts"] for row in rows}


def test_static_partition_rewrite_replaces_only_it(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    first = materialize(
        [static_asset({"ewr": ["1", "2"]})], clickhouse_io_manager, partition_key="ewr"
    )
    second = materialize([static_asset({"fra": ["3"]})], clickhouse_io_manager, partition_key="fra")
    third = materialize(
        [static_asset({"ewr": ["10", "20", "30"]})], clickhouse_io_manager, partition_key="ewr"
    )

    assert amounts_by_region(clickhouse_engine) == {
        "ewr": [Decimal("10"), Decimal("20"), Decimal("30")],
        "fra": [Decimal("3")],
    }
    assert output_metadata(first)["dagster/partition_row_count"] == 2
    assert output_metadata(second)["dagster/partition_row_count"] == 1
    assert output_metadata(third)["dagster/partition_row_count"] == 3
    assert output_metadata(third)["dagster/row_count"] == 4
    assert staging_tables(clickhouse_engine, "test_raw", "things") == []
    partition_key = clickhouse_engine.query_arrow(
        "SELECT partition_key FROM system.tables WHERE database = 'test_raw' AND name = 'things'"
    ).to_pylist()
    assert partition_key == [{"partition_key": "region"}]


def test_empty_partition_drops_its_rows(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    materialize([static_asset({"ewr": ["1"]})], clickhouse_io_manager, partition_key="ewr")
    materialize([static_asset({"fra": ["2"]})], clickhouse_io_manager, partition_key="fra")

    result = materialize([static_asset({})], clickhouse_io_manager, partition_key="ewr")

    assert result.success
    assert amounts_by_region(clickhouse_engine) == {"fra": [Decimal("2")]}
    assert output_metadata(result)["dagster/partition_row_count"] == 0


def test_rows_outside_partition_are_rejected(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=dg.StaticPartitionsDefinition(["ewr", "fra"]),
        metadata={"dagster/column_schema": STATIC_SCHEMA, "partition_expr": "region"},
    )
    def things() -> pd.DataFrame:
        return pd.DataFrame({"region": ["ewr", "fra"], "id": ["1", "2"], "amount": [1, 2]})

    error = materialize_error([things], clickhouse_io_manager, partition_key="ewr")

    assert isinstance(error, ClickHouseDataError)
    assert "row 1: 'fra'" in str(error)
    assert staging_tables(clickhouse_engine, "test_raw", "things") == []


DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-10")
DAILY_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("day", "Date"),
        dg.TableColumn("id", "String"),
        dg.TableColumn("amount", "Decimal(38, 10)"),
    ]
)


def daily_asset(amount: str, schema: dg.TableSchema = DAILY_SCHEMA) -> dg.AssetsDefinition:
    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=DAILY,
        metadata={"dagster/column_schema": schema, "partition_expr": "day"},
    )
    def things(context: dg.AssetExecutionContext) -> pd.DataFrame:
        rows = []
        for key in context.partition_keys:
            start = DAILY.time_window_for_partition_key(key).start
            value = start.date() if schema is DAILY_SCHEMA else start
            rows += [{"day": value, "id": f"{key}-{i}", "amount": Decimal(amount)} for i in (1, 2)]
        return pd.DataFrame(rows, columns=["day", "id", "amount"])

    return things


def range_tags(start: str, end: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }


def test_daily_partitions_range_and_rewrite(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    backfill = materialize(
        [daily_asset("1")], clickhouse_io_manager, tags=range_tags("2024-01-01", "2024-01-03")
    )
    rewrite = materialize([daily_asset("5")], clickhouse_io_manager, partition_key="2024-01-02")

    rows = clickhouse_engine.query_arrow(
        "SELECT day, sum(amount) AS total, count() AS n FROM test_raw.things "
        "GROUP BY day ORDER BY day"
    ).to_pylist()
    assert rows == [
        {"day": dt.date(2024, 1, 1), "total": Decimal("2"), "n": 2},
        {"day": dt.date(2024, 1, 2), "total": Decimal("10"), "n": 2},
        {"day": dt.date(2024, 1, 3), "total": Decimal("2"), "n": 2},
    ]
    backfill_events = backfill.get_asset_materialization_events()
    assert [event.partition for event in backfill_events] == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
    ]
    for event in backfill_events:
        assert event.materialization.metadata["dagster/partition_row_count"].value == 2
    assert output_metadata(rewrite)["dagster/partition_row_count"] == 2
    assert output_metadata(rewrite)["dagster/row_count"] == 6


def test_daily_partition_loads_only_its_rows(
    clickhouse_io_manager: ClickHouseIOManager,
) -> None:
    loaded: dict[str, pd.DataFrame] = {}

    @dg.asset(partitions_def=DAILY, ins={"things": dg.AssetIn(key=["test_raw", "things"])})
    def reader(things: pd.DataFrame) -> None:
        loaded["frame"] = things

    materialize(
        [daily_asset("1")], clickhouse_io_manager, tags=range_tags("2024-01-01", "2024-01-03")
    )
    materialize(
        [daily_asset("1"), reader],
        clickhouse_io_manager,
        partition_key="2024-01-02",
        selection=[reader],
    )

    assert loaded["frame"]["day"].tolist() == [dt.date(2024, 1, 2)] * 2


def test_datetime_partition_column(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("day", "DateTime64(3, 'UTC')"),
            dg.TableColumn("id", "String"),
            dg.TableColumn("amount", "Decimal(38, 10)"),
        ]
    )

    materialize([daily_asset("1", schema)], clickhouse_io_manager, partition_key="2024-01-01")
    materialize([daily_asset("2", schema)], clickhouse_io_manager, partition_key="2024-01-02")
    materialize([daily_asset("3", schema)], clickhouse_io_manager, partition_key="2024-01-01")

    rows = clickhouse_engine.query_arrow(
        "SELECT toDate(day) AS date, sum(amount) AS total FROM test_raw.things "
        "GROUP BY date ORDER BY date"
    ).to_pylist()
    assert rows == [
        {"date": dt.date(2024, 1, 1), "total": Decimal("6")},
        {"date": dt.date(2024, 1, 2), "total": Decimal("4")},
    ]


def test_partitioned_asset_needs_partition_expr(
    clickhouse_io_manager: ClickHouseIOManager,
) -> None:
    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=dg.StaticPartitionsDefinition(["ewr"]),
        metadata={"dagster/column_schema": STATIC_SCHEMA},
    )
    def things() -> pd.DataFrame:
        return pd.DataFrame({"region": ["ewr"], "id": ["1"], "amount": [Decimal(1)]})

    error = materialize_error([things], clickhouse_io_manager, partition_key="ewr")

    assert isinstance(error, ClickHouseSchemaError)
    assert "partition_expr" in str(error)


# Errors that belong to one engine.

HOLD_DIRECTORY = textwrap.dedent(
    """
    import sys, time
    from vultr_pipeline.clickhouse.engine import ChdbEngine
    engine = ChdbEngine(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.read()
    """
)


def test_locked_directory_names_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_LOCK_TIMEOUT", "0.5")
    directory = tmp_path / "chdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DIRECTORY, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        things = make_asset(simple_frame(), SIMPLE_SCHEMA)

        error = materialize_error([things], ClickHouseIOManager(path=str(directory)))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)

    assert isinstance(error, ClickHouseLockedError)
    message = str(error)
    assert str(directory) in message
    assert f"PID {holder.pid}" in message
    assert "dagster dev" in message


def test_default_path_needs_dagster_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    with pytest.raises(ClickHouseConfigError, match="DAGSTER_HOME"):
        ClickHouseIOManager().settings()


def test_default_path_under_dagster_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))

    assert ClickHouseIOManager().settings().path == str(tmp_path / "clickhouse")


def test_password_hidden_from_repr() -> None:
    settings = ClickHouseSettings(host="db.example", password="hunter2-secret")
    io_manager = ClickHouseIOManager(host="db.example", password="hunter2-secret")

    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in repr(io_manager)
    assert "hunter2-secret" not in str(io_manager)


def test_wrong_password_fails_materialization(chdb_http_server) -> None:
    password = "materialize-wrong-password"
    io_manager = ClickHouseIOManager(
        host="127.0.0.1",
        port=chdb_http_server.port,
        username=chdb_http_server.user,
        password=password,
        compress=False,
    )

    error = materialize_error([make_asset(simple_frame(), SIMPLE_SCHEMA)], io_manager)

    assert isinstance(error, ClickHouseAuthenticationError)
    assert password not in str(error)
    assert "CLICKHOUSE_PASSWORD" in str(error)


def test_skip_on_load_leaves_column_out_of_inputs(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    schema = dg.TableSchema(
        columns=[*SIMPLE_SCHEMA.columns, dg.TableColumn("raw", "String")],
    )
    frame = simple_frame().assign(raw=['{"id": "a"}', '{"id": "b"}'])
    things = make_asset(frame, schema, **{"clickhouse/skip_on_load": ["raw"]})
    seen: list[list[str]] = []

    @dg.asset(key=["test_raw", "totals"], ins={"things": dg.AssetIn(things.key)})
    def totals(things: pd.DataFrame) -> None:
        seen.append(list(things.columns))

    materialize([things, totals], clickhouse_io_manager)

    assert seen == [["id", "amount"]]
    stored = clickhouse_engine.query_arrow("SELECT raw FROM test_raw.things ORDER BY id")
    assert stored.column("raw").to_pylist() == ['{"id": "a"}', '{"id": "b"}']
