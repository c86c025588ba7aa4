"""Tests of ClickHouse type parsing and exact DataFrame-Arrow conversion."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest

from vultr_pipeline.clickhouse.column_types import (
    arrow_to_frame,
    frame_to_arrow,
    parse_column_type,
)
from vultr_pipeline.clickhouse.errors import ClickHouseDataError, ClickHouseSchemaError


@pytest.mark.parametrize(
    ("type_name", "canonical", "arrow_type", "nullable"),
    [
        ("String", "String", pa.string(), False),
        ("LowCardinality(String)", "LowCardinality(String)", pa.string(), False),
        (
            "LowCardinality(Nullable(String))",
            "LowCardinality(Nullable(String))",
            pa.string(),
            True,
        ),
        ("Decimal(38,10)", "Decimal(38, 10)", pa.decimal128(38, 10), False),
        ("Nullable(Decimal(38, 10))", "Nullable(Decimal(38, 10))", pa.decimal128(38, 10), True),
        ("Decimal(50, 4)", "Decimal(50, 4)", pa.decimal256(50, 4), False),
        ("DateTime64(3, 'UTC')", "DateTime64(3, 'UTC')", pa.timestamp("ms", tz="UTC"), False),
        ("DateTime64(6,'UTC')", "DateTime64(6, 'UTC')", pa.timestamp("us", tz="UTC"), False),
        ("Date", "Date", pa.date32(), False),
        ("Bool", "Bool", pa.bool_(), False),
        ("UInt32", "UInt32", pa.uint32(), False),
        ("Float64", "Float64", pa.float64(), False),
    ],
)
def test_parse_known_types(
    type_name: str, canonical: str, arrow_type: pa.DataType, nullable: bool
) -> None:
    column = parse_column_type(type_name)

    assert column.name == canonical
    assert column.arrow_type == arrow_type
    assert column.nullable is nullable


def test_parse_array_of_nullable() -> None:
    column = parse_column_type("Array(Nullable(String))")

    assert column.name == "Array(Nullable(String))"
    assert column.element is not None
    assert column.element.nullable is True
    assert column.nullable is False


@pytest.mark.parametrize(
    "type_name",
    ["Map(String, String)", "Nullable(Array(String))", "Decimal(80, 2)", "JSON", "Strin"],
)
def test_parse_rejects_unsupported(type_name: str) -> None:
    with pytest.raises(ClickHouseSchemaError, match="type"):
        parse_column_type(type_name)


def columns(**types: str) -> list[tuple[str, object]]:
    return [(name, parse_column_type(type_name)) for name, type_name in types.items()]


def test_aware_datetimes_become_utc() -> None:
    berlin = dt.datetime(2024, 6, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    frame = pd.DataFrame({"at": [berlin]})

    table = frame_to_arrow(frame, columns(at="DateTime64(3, 'UTC')"), "db.t")

    assert table.column("at")[0].as_py() == dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)


def test_sub_millisecond_time_is_rejected() -> None:
    frame = pd.DataFrame({"at": [pd.Timestamp("2024-01-01 00:00:00.000100", tz="UTC")]})

    with pytest.raises(ClickHouseDataError, match="db.t.at"):
        frame_to_arrow(frame, columns(at="DateTime64(3, 'UTC')"), "db.t")


def test_error_names_index_label() -> None:
    frame = pd.DataFrame({"amount": [Decimal("1"), Decimal("0.00000000001")]}, index=[10, 20])

    with pytest.raises(ClickHouseDataError) as raised:
        frame_to_arrow(frame, columns(amount="Decimal(38, 10)"), "db.t")

    message = str(raised.value)
    assert "db.t.amount" in message
    assert "row 1" in message
    assert "index 20" in message
    assert "Decimal('1E-11')" in message


def test_integer_column_becomes_decimal() -> None:
    frame = pd.DataFrame({"amount": [1, 2]})

    table = frame_to_arrow(frame, columns(amount="Decimal(38, 10)"), "db.t")

    assert table.column("amount").to_pylist() == [Decimal("1"), Decimal("2")]


def test_float_column_is_rejected_for_decimal() -> None:
    frame = pd.DataFrame({"amount": [0.1, 0.2]})

    with pytest.raises(ClickHouseDataError, match="float64"):
        frame_to_arrow(frame, columns(amount="Decimal(38, 10)"), "db.t")


def test_too_many_integer_digits_rejected() -> None:
    frame = pd.DataFrame({"amount": [Decimal("1" * 29)]})

    with pytest.raises(ClickHouseDataError, match="row 0"):
        frame_to_arrow(frame, columns(amount="Decimal(38, 10)"), "db.t")


def test_read_keeps_nullable_integers() -> None:
    table = pa.table({"n": pa.array([None, 2**62], pa.int64())})

    frame = arrow_to_frame(table, columns(n="Nullable(Int64)"))

    assert str(frame["n"].dtype) == "Int64"
    assert frame["n"][1] == 2**62
    assert frame["n"].isna().tolist() == [True, False]


def test_read_converts_decimals_and_lists() -> None:
    table = pa.table(
        {
            "amount": pa.array([Decimal("0.1"), None], pa.decimal128(38, 10)),
            "tags": pa.array([["a"], []], pa.list_(pa.string())),
        }
    )

    frame = arrow_to_frame(table, columns(amount="Nullable(Decimal(38, 10))", tags="Array(String)"))

    assert frame["amount"].tolist() == [Decimal("0.1"), None]
    assert frame["tags"].tolist() == [["a"], []]
