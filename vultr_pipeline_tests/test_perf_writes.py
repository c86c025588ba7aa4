"""Chunked and streamed writes of the ClickHouse IO manager, on embedded chDB."""

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from vultr_pipeline.clickhouse.chunks import DataFrameStream, arrow_chunks
from vultr_pipeline.clickhouse.column_types import parse_column_type
from vultr_pipeline.clickhouse.engine import ClickHouseEngine
from vultr_pipeline.clickhouse.errors import ClickHouseDataError, ClickHouseSchemaError
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.clickhouse.tables import read_table, staging_tables

pytest_plugins = ["vultr_pipeline_tests.clickhouse_fixtures"]

SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("line", "Int64"),
        dg.TableColumn("month", "Date"),
        dg.TableColumn("total", "Nullable(Decimal(38, 10))"),
        dg.TableColumn("at", "DateTime64(3, 'UTC')"),
    ]
)
COLUMNS = [(column.name, parse_column_type(column.type)) for column in SCHEMA.columns]
MONTHS = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", end_date="2024-04-01")


def lines(first: int, count: int, month: dt.date = dt.date(2024, 1, 1)) -> pd.DataFrame:
    """Rows ``first`` to ``first + count - 1``; every seventh total is None."""
    numbers = range(first, first + count)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return pd.DataFrame(
        {
            "line": list(numbers),
            "month": [month] * count,
            "total": [None if n % 7 == 0 else Decimal(n) / Decimal(1000) for n in numbers],
            "at": [start + dt.timedelta(seconds=n) for n in numbers],
        }
    )


def pages(sizes: list[int], month: dt.date = dt.date(2024, 1, 1)) -> Iterator[pd.DataFrame]:
    first = 0
    for size in sizes:
        yield lines(first, size, month)
        first += size


def streaming_asset(
    produce: Any, key: str = "lines", partitions_def: dg.PartitionsDefinition | None = None
) -> dg.AssetsDefinition:
    metadata: dict[str, Any] = {"dagster/column_schema": SCHEMA, "clickhouse/order_by": ["line"]}
    if partitions_def is not None:
        metadata["partition_expr"] = "month"

    @dg.asset(key=["test_stream", key], metadata=metadata, partitions_def=partitions_def)
    def streamed(context: dg.AssetExecutionContext) -> Any:
        output = produce(context)
        return output if isinstance(output, pd.DataFrame) else DataFrameStream(output)

    return streamed


def materialization_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [event] = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def stored(engine: ClickHouseEngine, table: str = "lines") -> pd.DataFrame:
    return read_table(engine, "test_stream", table, order_by=["line"])


@pytest.fixture
def small_chunks(clickhouse_io_manager: ClickHouseIOManager) -> ClickHouseIOManager:
    return clickhouse_io_manager.model_copy(update={"chunk_rows": 100})


def test_arrow_chunks_join_small_pages() -> None:
    chunks = list(arrow_chunks(pages([30, 30, 30, 30, 5]), COLUMNS, "t", chunk_rows=50))
    assert [chunk.num_rows for chunk in chunks] == [60, 60, 5]


def test_arrow_chunks_slice_large_frame() -> None:
    chunks = list(arrow_chunks(lines(0, 250), COLUMNS, "t", chunk_rows=100))
    assert [chunk.num_rows for chunk in chunks] == [100, 100, 50]
    assert chunks[2].column("line")[0].as_py() == 200


def test_arrow_chunks_keep_empty_frame() -> None:
    chunks = list(arrow_chunks(lines(0, 1).iloc[:0], COLUMNS, "t"))
    assert [chunk.num_rows for chunk in chunks] == [0]
    assert list(arrow_chunks(iter([]), COLUMNS, "t")) == []


def test_arrow_chunks_reject_chunk_rows_below_one() -> None:
    with pytest.raises(ValueError, match="chunk_rows"):
        arrow_chunks(lines(0, 1), COLUMNS, "t", chunk_rows=0)


def test_error_counts_rows_across_chunks() -> None:
    frames = [lines(0, 120), lines(120, 120)]
    frames[1]["at"] = frames[1]["at"].astype(object)
    frames[1].loc[5, "at"] = dt.datetime(2024, 1, 1)
    with pytest.raises(ClickHouseDataError) as raised:
        list(arrow_chunks(iter(frames), COLUMNS, "t", chunk_rows=50))
    assert "row 125" in str(raised.value)
    assert "naive" in str(raised.value)


def test_large_frame_written_in_chunks(
    small_chunks: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    frame = lines(0, 1050)
    result = dg.materialize(
        [streaming_asset(lambda _: frame)], resources={"io_manager": small_chunks}
    )

    assert result.success
    assert materialization_metadata(result)["dagster/row_count"] == 1050
    loaded = stored(clickhouse_engine)
    assert loaded["line"].tolist() == list(range(1050))
    assert loaded["total"].tolist() == frame["total"].tolist()


def test_generator_output_streams_pages(
    small_chunks: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    produced: list[int] = []

    def produce(_: dg.AssetExecutionContext) -> Iterator[pd.DataFrame]:
        for frame in pages([40] * 12 + [7]):
            produced.append(len(frame))
            yield frame

    result = dg.materialize([streaming_asset(produce)], resources={"io_manager": small_chunks})

    assert result.success
    assert sum(produced) == 487
    assert materialization_metadata(result)["dagster/row_count"] == 487
    loaded = stored(clickhouse_engine)
    assert loaded["line"].tolist() == list(range(487))
    assert loaded["total"].iloc[1] == Decimal("0.001")
    assert pd.isna(loaded["total"].iloc[7])


def test_generator_rerun_replaces_rows(
    small_chunks: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    resources = {"io_manager": small_chunks}
    dg.materialize([streaming_asset(lambda _: pages([90, 90, 90]))], resources=resources)
    result = dg.materialize([streaming_asset(lambda _: pages([30, 20]))], resources=resources)

    assert result.success
    assert stored(clickhouse_engine)["line"].tolist() == list(range(50))


def test_empty_generator_empties_table(
    small_chunks: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    resources = {"io_manager": small_chunks}
    dg.materialize([streaming_asset(lambda _: pages([10]))], resources=resources)
    result = dg.materialize([streaming_asset(lambda _: iter([]))], resources=resources)

    assert result.success
    assert materialization_metadata(result)["dagster/row_count"] == 0
    assert len(stored(clickhouse_engine)) == 0


def test_failing_generator_keeps_previous_rows(
    small_chunks: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    resources = {"io_manager": small_chunks}
    dg.materialize([streaming_asset(lambda _: pages([25]))], resources=resources)

    def produce(_: dg.AssetExecutionContext) -> Iterator[pd.DataFrame]:
        yield from pages([100, 100, 100])
        raise RuntimeError("the API went away on page 4")

    with pytest.raises(RuntimeError, match="page 4"):
        dg.materialize([streaming_asset(produce)], resources=resources)

    assert stored(clickhouse_engine)["line"].tolist() == list(range(25))
    assert staging_tables(clickhouse_engine, "test_stream", "lines") == []


def test_invalid_value_in_late_chunk_keeps_rows(
    small_chunks: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    resources = {"io_manager": small_chunks}
    dg.materialize([streaming_asset(lambda _: pages([25]))], resources=resources)
    bad = lines(300, 10)
    bad.loc[3, "total"] = Decimal("0.00000000001")
    assert bad["total"].dtype == object

    with pytest.raises(ClickHouseDataError) as raised:
        dg.materialize(
            [streaming_asset(lambda _: iter([*pages([100, 100, 100]), bad]))],
            resources=resources,
        )

    assert "row 303" in str(raised.value)
    assert stored(clickhouse_engine)["line"].tolist() == list(range(25))


def test_generator_item_of_wrong_type_is_rejected(small_chunks: ClickHouseIOManager) -> None:
    asset = streaming_asset(lambda _: iter([lines(0, 3), {"line": 4}]))
    with pytest.raises(ClickHouseSchemaError, match="item 1 is dict"):
        dg.materialize([asset], resources={"io_manager": small_chunks})


def test_generator_item_with_missing_column_is_rejected(
    small_chunks: ClickHouseIOManager,
) -> None:
    asset = streaming_asset(lambda _: iter([lines(0, 3), lines(3, 3).drop(columns=["at"])]))
    with pytest.raises(ClickHouseSchemaError, match=r"missing \['at'\]"):
        dg.materialize([asset], resources={"io_manager": small_chunks})


def test_partitioned_generator_counts_rows(
    small_chunks: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    def produce(context: dg.AssetExecutionContext) -> Iterator[pd.DataFrame]:
        month = context.partition_time_window.start.date()
        return pages([60] * 5, month)

    asset = streaming_asset(produce, key="monthly", partitions_def=MONTHS)
    resources = {"io_manager": small_chunks}
    for key in ("2024-01-01", "2024-02-01", "2024-02-01"):
        result = dg.materialize([asset], resources=resources, partition_key=key)
        assert result.success
        assert materialization_metadata(result)["dagster/partition_row_count"] == 300

    loaded = stored(clickhouse_engine, "monthly")
    assert len(loaded) == 600
    assert sorted(set(loaded["month"])) == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]


def test_partitioned_row_outside_late_chunk_is_rejected(
    small_chunks: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    def produce(_: dg.AssetExecutionContext) -> Iterator[pd.DataFrame]:
        yield from pages([100, 100], dt.date(2024, 1, 1))
        yield lines(200, 5, dt.date(2024, 3, 1))

    asset = streaming_asset(produce, key="monthly", partitions_def=MONTHS)
    with pytest.raises(ClickHouseDataError) as raised:
        dg.materialize([asset], resources={"io_manager": small_chunks}, partition_key="2024-01-01")

    assert "row 200:" in str(raised.value)
    assert staging_tables(clickhouse_engine, "test_stream", "monthly") == []


def test_output_wrapping_generator_is_streamed(
    small_chunks: ClickHouseIOManager, clickhouse_engine: ClickHouseEngine
) -> None:
    @dg.asset(key=["test_stream", "lines"], metadata={"dagster/column_schema": SCHEMA})
    def wrapped() -> dg.Output:
        return dg.Output(pages([150, 150]))

    result = dg.materialize([wrapped], resources={"io_manager": small_chunks})

    assert result.success
    assert len(stored(clickhouse_engine)) == 300
