"""Tests of multi-dimensional partitions, ranges and time zones in ClickHouseIOManager.

Each sequence follows the dagster-duckdb-pandas tests: write partition A, then B, then A
with new values, and check that A is replaced, B is untouched and the row counts are
right. Every test runs on embedded chDB and on the chDB HTTP endpoint.
"""

import datetime as dt
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from vultr_pipeline.clickhouse.column_types import parse_column_type
from vultr_pipeline.clickhouse.engine import ClickHouseEngine
from vultr_pipeline.clickhouse.errors import (
    ClickHouseDataError,
    ClickHouseError,
    ClickHouseSchemaError,
)
from vultr_pipeline.clickhouse.io_manager import (
    ClickHouseIOManager,
    _partition_row_count_metadata,
)
from vultr_pipeline.clickhouse.tables import TableSpec, replace_partitions, staging_tables

pytest_plugins = ["vultr_pipeline_tests.clickhouse_fixtures"]

ACCOUNT_MONTH = dg.MultiPartitionsDefinition(
    {
        "account": dg.StaticPartitionsDefinition(["a", "b", "c"]),
        "month": dg.MonthlyPartitionsDefinition(start_date="2023-01-01", end_date="2025-01-01"),
    }
)
ACCOUNT_MONTH_EXPR = {"account": "account_id", "month": "billing_month"}
MULTI_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("account_id", "LowCardinality(String)"),
        dg.TableColumn("billing_month", "Date"),
        dg.TableColumn("id", "String"),
        dg.TableColumn("amount", "Decimal(38, 10)"),
    ]
)
MULTI_COLUMNS = [column.name for column in MULTI_SCHEMA.columns]

# Amounts (as decimal strings) that an asset returns for one partition key.
AmountsFor = Callable[[str], list[str]]


def fixed_amounts(amounts: dict[str, list[str]]) -> AmountsFor:
    return lambda key: amounts.get(key, [])


def multi_asset(
    amounts_for: AmountsFor,
    key: list[str] | None = None,
    schema: dg.TableSchema = MULTI_SCHEMA,
    extra: Callable[[str], dict[str, Any]] | None = None,
) -> dg.AssetsDefinition:
    """Build an account × month asset whose rows carry each partition's values."""

    @dg.asset(
        key=key or ["test_raw", "things"],
        partitions_def=ACCOUNT_MONTH,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"dagster/column_schema": schema, "partition_expr": ACCOUNT_MONTH_EXPR},
    )
    def things(context: dg.AssetExecutionContext) -> pd.DataFrame:
        rows = []
        for partition_key in context.partition_keys:
            dimensions = ACCOUNT_MONTH.get_partition_key_from_str(partition_key).keys_by_dimension
            for index, amount in enumerate(amounts_for(partition_key)):
                row = {
                    "account_id": dimensions["account"],
                    "billing_month": dt.date.fromisoformat(dimensions["month"]),
                    "id": f"{partition_key}-{index}",
                    "amount": Decimal(amount),
                }
                rows.append({**row, **(extra(partition_key) if extra else {})})
        return pd.DataFrame(rows, columns=[column.name for column in schema.columns])

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


def range_tags(start: str, end: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }


def partition_row_counts(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Return `dagster/partition_row_count` of each materialized partition."""
    return {
        str(event.partition): event.materialization.metadata["dagster/partition_row_count"].value
        for event in result.get_asset_materialization_events()
    }


def row_count(result: dg.ExecuteInProcessResult) -> int:
    [*_, event] = result.get_asset_materialization_events()
    return event.materialization.metadata["dagster/row_count"].value


def table_rows(engine: ClickHouseEngine, table: str = "test_raw.things") -> list[dict[str, Any]]:
    return engine.query_arrow(
        f"SELECT {', '.join(MULTI_COLUMNS)} FROM {table} ORDER BY id"
    ).to_pylist()


def amounts_by_partition(engine: ClickHouseEngine) -> dict[tuple[str, dt.date], list[Decimal]]:
    grouped: dict[tuple[str, dt.date], list[Decimal]] = {}
    for row in table_rows(engine):
        grouped.setdefault((row["account_id"], row["billing_month"]), []).append(row["amount"])
    return grouped


def table_keys(engine: ClickHouseEngine, table: str = "things") -> dict[str, str]:
    [row] = engine.query_arrow(
        "SELECT partition_key, sorting_key FROM system.tables "
        f"WHERE database = 'test_raw' AND name = '{table}'"
    ).to_pylist()
    return row


JAN = dt.date(2024, 1, 1)
FEB = dt.date(2024, 2, 1)


def test_multi_partition_rewrite_replaces_only_it(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    first = materialize(
        [multi_asset(fixed_amounts({"a|2024-01-01": ["1", "2"]}))],
        clickhouse_io_manager,
        partition_key="a|2024-01-01",
    )
    second = materialize(
        [multi_asset(fixed_amounts({"b|2024-01-01": ["3"]}))],
        clickhouse_io_manager,
        partition_key="b|2024-01-01",
    )
    third = materialize(
        [multi_asset(fixed_amounts({"a|2024-01-01": ["10", "20", "30"]}))],
        clickhouse_io_manager,
        partition_key="a|2024-01-01",
    )

    assert amounts_by_partition(clickhouse_engine) == {
        ("a", JAN): [Decimal("10"), Decimal("20"), Decimal("30")],
        ("b", JAN): [Decimal("3")],
    }
    assert partition_row_counts(first) == {"a|2024-01-01": 2}
    assert partition_row_counts(second) == {"b|2024-01-01": 1}
    assert partition_row_counts(third) == {"a|2024-01-01": 3}
    assert row_count(third) == 4
    assert table_keys(clickhouse_engine)["partition_key"] == "(account_id, billing_month)"
    assert staging_tables(clickhouse_engine, "test_raw", "things") == []


def test_multi_partition_same_month_other_account(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    amounts = fixed_amounts({"a|2024-01-01": ["1"], "a|2024-02-01": ["2"], "b|2024-02-01": ["3"]})
    for key in ("a|2024-01-01", "a|2024-02-01", "b|2024-02-01"):
        materialize([multi_asset(amounts)], clickhouse_io_manager, partition_key=key)

    rewrite = fixed_amounts({"a|2024-02-01": ["7", "8"]})
    materialize([multi_asset(rewrite)], clickhouse_io_manager, partition_key="a|2024-02-01")

    assert amounts_by_partition(clickhouse_engine) == {
        ("a", JAN): [Decimal("1")],
        ("a", FEB): [Decimal("7"), Decimal("8")],
        ("b", FEB): [Decimal("3")],
    }


def test_multi_empty_partition_drops_its_rows(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    amounts = fixed_amounts({"a|2024-01-01": ["1"], "b|2024-01-01": ["2"]})
    materialize([multi_asset(amounts)], clickhouse_io_manager, partition_key="a|2024-01-01")
    materialize([multi_asset(amounts)], clickhouse_io_manager, partition_key="b|2024-01-01")

    result = materialize(
        [multi_asset(fixed_amounts({}))], clickhouse_io_manager, partition_key="a|2024-01-01"
    )

    assert amounts_by_partition(clickhouse_engine) == {("b", JAN): [Decimal("2")]}
    assert partition_row_counts(result) == {"a|2024-01-01": 0}


def test_multi_rows_outside_partition_are_rejected(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    materialize(
        [multi_asset(fixed_amounts({"a|2024-01-01": ["1"]}))],
        clickhouse_io_manager,
        partition_key="a|2024-01-01",
    )

    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=ACCOUNT_MONTH,
        metadata={"dagster/column_schema": MULTI_SCHEMA, "partition_expr": ACCOUNT_MONTH_EXPR},
    )
    def things() -> pd.DataFrame:
        return pd.DataFrame(
            {
                "account_id": ["a", "a"],
                "billing_month": [JAN, FEB],
                "id": ["1", "2"],
                "amount": [Decimal(5), Decimal(6)],
            }
        )

    error = materialize_error([things], clickhouse_io_manager, partition_key="a|2024-01-01")

    assert isinstance(error, ClickHouseDataError)
    message = str(error)
    assert "1 rows of test_raw.things" in message
    assert "row 1: account_id='a', billing_month=2024-02-01" in message
    assert "a|2024-01-01 (account_id='a', billing_month=2024-01-01)" in message
    assert amounts_by_partition(clickhouse_engine) == {("a", JAN): [Decimal("1")]}
    assert staging_tables(clickhouse_engine, "test_raw", "things") == []


TWO_STATIC = dg.MultiPartitionsDefinition(
    {
        "account": dg.StaticPartitionsDefinition(["a", "b"]),
        "region": dg.StaticPartitionsDefinition(["ewr", "fra"]),
    }
)
TWO_STATIC_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("region", "String"),
        dg.TableColumn("account_id", "String"),
        dg.TableColumn("count", "Int64"),
    ]
)


def two_static_asset(count: int) -> dg.AssetsDefinition:
    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=TWO_STATIC,
        metadata={
            "dagster/column_schema": TWO_STATIC_SCHEMA,
            "partition_expr": {"region": "region", "account": "account_id"},
        },
    )
    def things(context: dg.AssetExecutionContext) -> pd.DataFrame:
        rows = []
        for key in context.partition_keys:
            dimensions = TWO_STATIC.get_partition_key_from_str(key).keys_by_dimension
            rows.append(
                {
                    "region": dimensions["region"],
                    "account_id": dimensions["account"],
                    "count": count,
                }
            )
        return pd.DataFrame(rows, columns=["region", "account_id", "count"])

    return things


def test_two_static_dimensions(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    materialize([two_static_asset(1)], clickhouse_io_manager, partition_key="a|ewr")
    materialize([two_static_asset(2)], clickhouse_io_manager, partition_key="b|ewr")
    result = materialize([two_static_asset(3)], clickhouse_io_manager, partition_key="a|ewr")

    rows = clickhouse_engine.query_arrow(
        "SELECT account_id, region, count FROM test_raw.things ORDER BY account_id"
    ).to_pylist()
    assert rows == [
        {"account_id": "a", "region": "ewr", "count": 3},
        {"account_id": "b", "region": "ewr", "count": 2},
    ]
    assert partition_row_counts(result) == {"a|ewr": 1}
    # Dimensions sort by name, so the key is (account, region) whatever the dict order.
    assert table_keys(clickhouse_engine)["partition_key"] == "(account_id, region)"


def test_multi_upstream_loads_only_its_partitions(
    clickhouse_io_manager: ClickHouseIOManager,
) -> None:
    loaded: dict[str, pd.DataFrame] = {}
    amounts = fixed_amounts(
        {
            "a|2024-01-01": ["1"],
            "a|2024-02-01": ["2"],
            "b|2024-01-01": ["3"],
            "b|2024-02-01": ["4"],
        }
    )
    upstream = multi_asset(amounts)

    @dg.asset(partitions_def=ACCOUNT_MONTH, ins={"things": dg.AssetIn(key=["test_raw", "things"])})
    def same_partition(things: pd.DataFrame) -> None:
        loaded["same"] = things

    monthly = dg.MonthlyPartitionsDefinition(start_date="2023-01-01", end_date="2025-01-01")

    @dg.asset(partitions_def=monthly, ins={"things": dg.AssetIn(key=["test_raw", "things"])})
    def all_accounts(things: pd.DataFrame) -> None:
        loaded["month"] = things

    materialize([upstream], clickhouse_io_manager, tags=range_tags("a|2024-01-01", "b|2024-02-01"))
    materialize(
        [upstream, same_partition],
        clickhouse_io_manager,
        partition_key="b|2024-02-01",
        selection=[same_partition],
    )
    materialize(
        [upstream, all_accounts],
        clickhouse_io_manager,
        partition_key="2024-02-01",
        selection=[all_accounts],
    )

    assert loaded["same"]["amount"].tolist() == [Decimal("4")]
    assert loaded["same"]["account_id"].tolist() == ["b"]
    assert loaded["same"]["billing_month"].tolist() == [FEB]
    assert sorted(loaded["month"]["amount"].tolist()) == [Decimal("2"), Decimal("4")]
    assert set(loaded["month"]["billing_month"]) == {FEB}


def varying_amounts(key: str) -> list[str]:
    """Give each month a different number of rows (1 to 3) and values from its key."""
    month = dt.date.fromisoformat(key.split("|")[1])
    return [f"{month.month}.{index}" for index in range(month.month % 3 + 1)]


MONTHS_2023_2024 = [f"{year}-{month:02d}-01" for year in (2023, 2024) for month in range(1, 13)]


def test_range_equals_single_runs(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    """A 24-month range in one run gives the same table as 24 single-partition runs."""
    range_asset = multi_asset(varying_amounts, key=["test_raw", "range_run"])
    single_asset = multi_asset(varying_amounts, key=["test_raw", "single_runs"])

    backfill = materialize(
        [range_asset], clickhouse_io_manager, tags=range_tags("a|2023-01-01", "a|2024-12-01")
    )
    for month in MONTHS_2023_2024:
        materialize([single_asset], clickhouse_io_manager, partition_key=f"a|{month}")

    range_rows = table_rows(clickhouse_engine, "test_raw.range_run")
    assert range_rows == table_rows(clickhouse_engine, "test_raw.single_runs")
    assert len(range_rows) == sum(len(varying_amounts(f"a|{m}")) for m in MONTHS_2023_2024)
    expected_counts = {f"a|{m}": len(varying_amounts(f"a|{m}")) for m in MONTHS_2023_2024}
    assert partition_row_counts(backfill) == expected_counts
    partitions = clickhouse_engine.query_arrow(
        "SELECT count(DISTINCT partition) AS n FROM system.parts "
        "WHERE database = 'test_raw' AND table = 'range_run' AND active"
    ).to_pylist()
    assert partitions == [{"n": 24}]
    assert staging_tables(clickhouse_engine, "test_raw", "range_run") == []


def test_multi_range_covers_both_dimensions(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    """A key range over two accounts and two months replaces all four partitions."""
    materialize(
        [multi_asset(fixed_amounts({"a|2024-01-01": ["1"], "c|2024-01-01": ["9"]}))],
        clickhouse_io_manager,
        tags=range_tags("a|2024-01-01", "c|2024-01-01"),
    )
    amounts = {key: ["5", "6"] for key in ("a|2024-01-01", "b|2024-01-01", "a|2024-02-01")}

    result = materialize(
        [multi_asset(fixed_amounts(amounts))],
        clickhouse_io_manager,
        tags=range_tags("a|2024-01-01", "b|2024-02-01"),
    )

    assert amounts_by_partition(clickhouse_engine) == {
        ("a", JAN): [Decimal("5"), Decimal("6")],
        ("a", FEB): [Decimal("5"), Decimal("6")],
        ("b", JAN): [Decimal("5"), Decimal("6")],
        ("c", JAN): [Decimal("9")],
    }
    assert partition_row_counts(result) == {
        "a|2024-01-01": 2,
        "a|2024-02-01": 2,
        "b|2024-01-01": 2,
        "b|2024-02-01": 0,
    }


def test_multi_new_column_keeps_old_rows(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    new_schema = dg.TableSchema(
        columns=[
            *MULTI_SCHEMA.columns,
            dg.TableColumn("note", "String"),
            dg.TableColumn("label", "Nullable(String)"),
        ]
    )
    materialize(
        [multi_asset(fixed_amounts({"a|2024-01-01": ["1"], "b|2024-01-01": ["2"]}))],
        clickhouse_io_manager,
        tags=range_tags("a|2024-01-01", "b|2024-01-01"),
    )

    new_asset = multi_asset(
        fixed_amounts({"b|2024-01-01": ["3"]}),
        schema=new_schema,
        extra=lambda key: {"note": "new", "label": key},
    )
    materialize([new_asset], clickhouse_io_manager, partition_key="b|2024-01-01")

    rows = clickhouse_engine.query_arrow(
        "SELECT account_id, amount, note, label FROM test_raw.things ORDER BY account_id"
    ).to_pylist()
    assert rows == [
        {"account_id": "a", "amount": Decimal("1"), "note": "", "label": None},
        {"account_id": "b", "amount": Decimal("3"), "note": "new", "label": "b|2024-01-01"},
    ]
    assert table_keys(clickhouse_engine)["partition_key"] == "(account_id, billing_month)"


def test_daily_new_column_keeps_old_rows(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-10")
    columns = [dg.TableColumn("day", "Date"), dg.TableColumn("amount", "Decimal(38, 10)")]

    def daily_asset(schema_columns: list[dg.TableColumn]) -> dg.AssetsDefinition:
        @dg.asset(
            key=["test_raw", "things"],
            partitions_def=daily,
            metadata={
                "dagster/column_schema": dg.TableSchema(columns=schema_columns),
                "partition_expr": "day",
            },
        )
        def things(context: dg.AssetExecutionContext) -> pd.DataFrame:
            row: dict[str, Any] = {
                "day": dt.date.fromisoformat(context.partition_key),
                "amount": Decimal(1),
            }
            if len(schema_columns) > len(columns):
                row["units"] = 4
            return pd.DataFrame([row])

        return things

    materialize([daily_asset(columns)], clickhouse_io_manager, partition_key="2024-01-01")
    with_units = [*columns, dg.TableColumn("units", "UInt32")]
    materialize([daily_asset(with_units)], clickhouse_io_manager, partition_key="2024-01-02")

    rows = clickhouse_engine.query_arrow(
        "SELECT day, units FROM test_raw.things ORDER BY day"
    ).to_pylist()
    assert rows == [
        {"day": dt.date(2024, 1, 1), "units": 0},
        {"day": dt.date(2024, 1, 2), "units": 4},
    ]


# Time zones: the partition column contains each window's start as a UTC instant.

NEW_YORK_DAILY = dg.DailyPartitionsDefinition(
    start_date="2024-03-01", end_date="2024-11-30", timezone="America/New_York"
)
INSTANT_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("day_start", "DateTime64(3, 'UTC')"),
        dg.TableColumn("id", "String"),
    ]
)


def new_york_asset(
    schema: dg.TableSchema = INSTANT_SCHEMA,
    start_for: Callable[[str], Any] | None = None,
) -> dg.AssetsDefinition:
    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=NEW_YORK_DAILY,
        metadata={"dagster/column_schema": schema, "partition_expr": "day_start"},
    )
    def things(context: dg.AssetExecutionContext) -> pd.DataFrame:
        rows = []
        for key in context.partition_keys:
            window_start = NEW_YORK_DAILY.time_window_for_partition_key(key).start
            start = start_for(key) if start_for else window_start.astimezone(dt.UTC)
            rows.append({"day_start": start, "id": key})
        return pd.DataFrame(rows, columns=["day_start", "id"])

    return things


@pytest.mark.parametrize(
    ("first", "last", "hours"),
    [
        pytest.param("2024-03-09", "2024-03-11", [5, 5, 4], id="spring-forward"),
        pytest.param("2024-11-02", "2024-11-04", [4, 4, 5], id="fall-back"),
    ],
)
def test_new_york_days_across_dst(
    clickhouse_io_manager: ClickHouseIOManager,
    clickhouse_engine: ClickHouseEngine,
    first: str,
    last: str,
    hours: list[int],
) -> None:
    loaded: dict[str, pd.DataFrame] = {}

    @dg.asset(partitions_def=NEW_YORK_DAILY, ins={"things": dg.AssetIn(key=["test_raw", "things"])})
    def reader(things: pd.DataFrame) -> None:
        loaded["frame"] = things

    result = materialize([new_york_asset()], clickhouse_io_manager, tags=range_tags(first, last))
    middle = (dt.date.fromisoformat(first) + dt.timedelta(days=1)).isoformat()
    materialize(
        [new_york_asset(), reader], clickhouse_io_manager, partition_key=middle, selection=[reader]
    )

    rows = clickhouse_engine.query_arrow(
        "SELECT id, day_start FROM test_raw.things ORDER BY day_start"
    ).to_pylist()
    first_day = dt.date.fromisoformat(first)
    expected_starts = [
        dt.datetime.combine(first_day + dt.timedelta(days=offset), dt.time(hour), dt.UTC)
        for offset, hour in enumerate(hours)
    ]
    assert [row["day_start"] for row in rows] == expected_starts
    assert [row["id"] for row in rows] == [
        (first_day + dt.timedelta(days=offset)).isoformat() for offset in range(3)
    ]
    assert loaded["frame"]["id"].tolist() == [middle]
    assert partition_row_counts(result) == {row["id"]: 1 for row in rows}


def test_new_york_day_rejects_utc_midnight(
    clickhouse_io_manager: ClickHouseIOManager,
) -> None:
    """A row stamped with midnight UTC fits no New York day, and the error names the day."""

    def utc_midnight(key: str) -> dt.datetime:
        return dt.datetime.combine(dt.date.fromisoformat(key), dt.time(0), dt.UTC)

    asset = new_york_asset(start_for=utc_midnight)

    error = materialize_error([asset], clickhouse_io_manager, partition_key="2024-03-10")

    assert isinstance(error, ClickHouseDataError)
    message = str(error)
    assert "row 0: 2024-03-10T00:00:00+00:00" in message
    assert "2024-03-10 (2024-03-10T05:00:00+00:00)" in message
    assert "day_start" in message


def test_new_york_day_in_date_column_is_rejected(
    clickhouse_io_manager: ClickHouseIOManager,
) -> None:
    schema = dg.TableSchema(
        columns=[dg.TableColumn("day_start", "Date"), dg.TableColumn("id", "String")]
    )
    asset = new_york_asset(schema, start_for=dt.date.fromisoformat)

    error = materialize_error([asset], clickhouse_io_manager, partition_key="2024-03-10")

    assert isinstance(error, ClickHouseSchemaError)
    message = str(error)
    assert "2024-03-10T05:00:00+00:00" in message
    assert "timezone='UTC'" in message
    assert "DateTime64(3, 'UTC')" in message


# Declaration errors.


@pytest.mark.parametrize(
    ("partition_expr", "expected"),
    [
        pytest.param("account_id", "must map each dimension to its column", id="string"),
        pytest.param({"account": "account_id"}, "maps ['account']", id="missing-dimension"),
        pytest.param(
            {"account": "account_id", "month": "account_id"},
            "each dimension to its own column",
            id="same-column",
        ),
        pytest.param(
            {"account": "account_id", "month": "month"},
            "schema does not declare",
            id="unknown-column",
        ),
    ],
)
def test_invalid_multi_partition_expr(
    clickhouse_io_manager: ClickHouseIOManager, partition_expr: Any, expected: str
) -> None:
    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=ACCOUNT_MONTH,
        metadata={"dagster/column_schema": MULTI_SCHEMA, "partition_expr": partition_expr},
    )
    def things() -> pd.DataFrame:
        return pd.DataFrame(columns=MULTI_COLUMNS)

    error = materialize_error([things], clickhouse_io_manager, partition_key="a|2024-01-01")

    assert isinstance(error, ClickHouseSchemaError)
    assert expected in str(error)
    assert "test_raw/things" in str(error)


def test_dict_partition_expr_for_one_dimension(
    clickhouse_io_manager: ClickHouseIOManager,
) -> None:
    @dg.asset(
        key=["test_raw", "things"],
        partitions_def=dg.StaticPartitionsDefinition(["a"]),
        metadata={"dagster/column_schema": MULTI_SCHEMA, "partition_expr": {"x": "account_id"}},
    )
    def things() -> pd.DataFrame:
        return pd.DataFrame(columns=MULTI_COLUMNS)

    error = materialize_error([things], clickhouse_io_manager, partition_key="a")

    assert isinstance(error, ClickHouseSchemaError)
    assert "must be the name of the partition column" in str(error)


# Staging tables left by an interrupted write.

STAGING_SPEC = TableSpec(
    database="test_raw",
    table="things",
    columns=tuple((column.name, parse_column_type(column.type)) for column in MULTI_SCHEMA.columns),
    partition_columns=("account_id", "billing_month"),
)


def leave_staging_table(engine: ClickHouseEngine, suffix: str, comment: str) -> str:
    """Create a staging table as an interrupted write of `comment`'s partitions would."""
    name = f"things__staging_{suffix}"
    engine.command(f"CREATE TABLE test_raw.{name} AS test_raw.things COMMENT '{comment}'")
    return name


def partition_frame(account: str, month: dt.date, amount: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [account],
            "billing_month": [month],
            "id": ["1"],
            "amount": [Decimal(amount)],
        }
    )


def test_leftover_staging_for_same_partition_is_dropped(
    clickhouse_engine: ClickHouseEngine, caplog: pytest.LogCaptureFixture
) -> None:
    replace_partitions(
        clickhouse_engine, STAGING_SPEC, partition_frame("a", JAN, "1"), {"a": ("a", JAN)}
    )
    same = leave_staging_table(clickhouse_engine, "same", '{"partitions": [["a", "2024-01-01"]]}')
    other = leave_staging_table(clickhouse_engine, "other", '{"partitions": [["b", "2024-01-01"]]}')
    unknown = leave_staging_table(clickhouse_engine, "unknown", "")

    with caplog.at_level(logging.INFO, logger="vultr_pipeline.clickhouse.tables"):
        counts = replace_partitions(
            clickhouse_engine, STAGING_SPEC, partition_frame("a", JAN, "2"), {"a": ("a", JAN)}
        )

    assert counts == {"a": 1}
    assert staging_tables(clickhouse_engine, "test_raw", "things") == [other]
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 2
    assert any(same in message for message in warnings)
    assert any(unknown in message for message in warnings)
    assert amounts_by_partition(clickhouse_engine) == {("a", JAN): [Decimal("2")]}


def test_leftover_staging_dropped_by_whole_table_write(
    clickhouse_io_manager: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    schema = dg.TableSchema(columns=[dg.TableColumn("id", "String")])

    @dg.asset(key=["test_raw", "things"], metadata={"dagster/column_schema": schema})
    def things() -> pd.DataFrame:
        return pd.DataFrame({"id": ["x"]})

    materialize([things], clickhouse_io_manager)
    leave_staging_table(clickhouse_engine, "old", '{"partitions": null}')

    materialize([things], clickhouse_io_manager)

    assert staging_tables(clickhouse_engine, "test_raw", "things") == []


def test_range_count_without_step_context() -> None:
    """An OutputContext built outside a run gets the range total, as its one metadata dict."""
    context = dg.build_output_context(asset_key=dg.AssetKey(["test_raw", "things"]))

    metadata = _partition_row_count_metadata(context, {"a|2024-01-01": 1, "b|2024-01-01": 2})

    assert metadata == {"dagster/partition_row_count": 3}
