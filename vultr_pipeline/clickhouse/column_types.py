"""ClickHouse column types, their Arrow equivalents and exact DataFrame conversion.

The IO manager never infers a type from data. Each column's ClickHouse type string is
parsed here into a `ColumnType`, which gives the Arrow type used to build the insert batch
and to convert query results back into pandas.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vultr_pipeline.clickhouse.errors import ClickHouseDataError, ClickHouseSchemaError

_INTEGER_TYPES: dict[str, pa.DataType] = {
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
}
_SIMPLE_TYPES: dict[str, pa.DataType] = {
    **_INTEGER_TYPES,
    "String": pa.string(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Bool": pa.bool_(),
    "Date": pa.date32(),
    "Date32": pa.date32(),
}
_NULLABLE_PANDAS_TYPES: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}
_WRAPPER_PATTERN = re.compile(r"^(Nullable|LowCardinality|Array)\((.*)\)$", re.DOTALL)
_DECIMAL_PATTERN = re.compile(r"^Decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_DATETIME64_PATTERN = re.compile(r"^DateTime64\(\s*(\d)\s*(?:,\s*'([^']+)'\s*)?\)$")
_DATETIME_PATTERN = re.compile(r"^DateTime(?:\(\s*'([^']+)'\s*\))?$")

# Largest decimal precision each Arrow decimal type holds.
_DECIMAL128_MAX_PRECISION = 38
_DECIMAL256_MAX_PRECISION = 76


@dataclass(frozen=True)
class ColumnType:
    """A parsed ClickHouse column type.

    Attributes:
        name: Canonical ClickHouse spelling, such as ``Nullable(Decimal(38, 10))``.
        arrow_type: Arrow type used for inserts and for reading results.
        nullable: Whether the column accepts NULL.
        base: Type name without wrappers and arguments, such as ``Decimal`` or ``Array``.
        element: Element type of an ``Array``, else None.
    """

    name: str
    arrow_type: pa.DataType
    nullable: bool
    base: str
    element: ColumnType | None = None

    @property
    def partition_type(self) -> str:
        """Return the type used to bind a partition value as a query parameter."""
        name = self.name
        for wrapper in ("Nullable(", "LowCardinality("):
            if name.startswith(wrapper):
                name = name[len(wrapper) : -1]
        return name


def parse_column_type(type_name: str) -> ColumnType:
    """Parse a ClickHouse type string into a `ColumnType`.

    Raises:
        ClickHouseSchemaError: The type is not one the IO manager can convert exactly.
    """
    text = type_name.strip()
    wrapper = _WRAPPER_PATTERN.match(text)
    if wrapper:
        return _parse_wrapper(wrapper.group(1), wrapper.group(2), type_name)

    if text in _SIMPLE_TYPES:
        return ColumnType(text, _SIMPLE_TYPES[text], nullable=False, base=text)

    decimal = _DECIMAL_PATTERN.match(text)
    if decimal:
        return _decimal_type(int(decimal.group(1)), int(decimal.group(2)), type_name)

    datetime64 = _DATETIME64_PATTERN.match(text)
    if datetime64:
        return _datetime64_type(int(datetime64.group(1)), datetime64.group(2))

    datetime = _DATETIME_PATTERN.match(text)
    if datetime:
        timezone = datetime.group(1)
        name = f"DateTime('{timezone}')" if timezone else "DateTime"
        arrow_type = pa.timestamp("s", tz=timezone or "UTC")
        return ColumnType(name, arrow_type, nullable=False, base="DateTime")

    raise ClickHouseSchemaError(
        f"Unsupported ClickHouse column type {type_name!r}. Use one of String, Int8-Int64, "
        "UInt8-UInt64, Float32, Float64, Bool, Date, Date32, Decimal(P, S), DateTime, "
        "DateTime64(P, 'UTC'), wrapped in Nullable, LowCardinality or Array as needed."
    )


def _parse_wrapper(wrapper: str, inner_text: str, type_name: str) -> ColumnType:
    inner = parse_column_type(inner_text)
    if wrapper == "Nullable":
        if inner.nullable or inner.base == "Array":
            raise ClickHouseSchemaError(f"ClickHouse does not allow the type {type_name!r}.")
        return ColumnType(f"Nullable({inner.name})", inner.arrow_type, True, inner.base)
    if wrapper == "LowCardinality":
        return ColumnType(
            f"LowCardinality({inner.name})", inner.arrow_type, inner.nullable, inner.base
        )
    element_field = pa.field("item", inner.arrow_type, nullable=inner.nullable)
    return ColumnType(
        f"Array({inner.name})", pa.list_(element_field), False, "Array", element=inner
    )


def _decimal_type(precision: int, scale: int, type_name: str) -> ColumnType:
    if not 1 <= precision <= _DECIMAL256_MAX_PRECISION or scale > precision:
        raise ClickHouseSchemaError(
            f"Invalid decimal type {type_name!r}: precision must be 1-76 and scale at most "
            "the precision."
        )
    if precision <= _DECIMAL128_MAX_PRECISION:
        arrow_type = pa.decimal128(precision, scale)
    else:
        arrow_type = pa.decimal256(precision, scale)
    return ColumnType(f"Decimal({precision}, {scale})", arrow_type, False, "Decimal")


def _datetime64_type(precision: int, timezone: str | None) -> ColumnType:
    if precision == 0:
        unit = "s"
    elif precision <= 3:
        unit = "ms"
    elif precision <= 6:
        unit = "us"
    else:
        unit = "ns"
    name = f"DateTime64({precision}, '{timezone}')" if timezone else f"DateTime64({precision})"
    arrow_type = pa.timestamp(unit, tz=timezone or "UTC")
    return ColumnType(name, arrow_type, nullable=False, base="DateTime64")


def arrow_schema(columns: Sequence[tuple[str, ColumnType]]) -> pa.Schema:
    """Build the Arrow schema for named ClickHouse columns."""
    return pa.schema(
        [pa.field(name, column.arrow_type, nullable=column.nullable) for name, column in columns]
    )


@dataclass(frozen=True)
class _Place:
    """Location of a converted column, for error messages."""

    table: str
    name: str
    first_row: int = 0


def frame_to_arrow(
    frame: pd.DataFrame,
    columns: Sequence[tuple[str, ColumnType]],
    table: str,
    *,
    first_row: int = 0,
) -> pa.Table:
    """Convert a DataFrame into an Arrow table with exactly the declared column types.

    The conversion runs in Arrow and pandas code, column by column. Python loops over the
    rows run only to find the row to name in an error, for a Date column that contains
    other objects than ``datetime.date``, and for a datetime column of objects in several
    time zones.

    Args:
        frame: Data to insert, with one DataFrame column per declared column.
        columns: Column names and their parsed ClickHouse types, in table order.
        table: ``database.table``, used in error messages.
        first_row: Position of the frame's first row in the whole output, when the frame
            is one chunk of it; error messages count rows from there.

    Raises:
        ClickHouseDataError: A value does not fit its column (too many decimal places, a
            null in a non-Nullable column, a naive datetime, a value of the wrong type).
    """
    arrays = [
        _series_to_arrow(frame[name], column, _Place(table, name, first_row))
        for name, column in columns
    ]
    return pa.Table.from_arrays(arrays, schema=arrow_schema(columns))


def _series_to_arrow(series: pd.Series, column: ColumnType, place: _Place) -> pa.Array:
    if column.base in ("DateTime64", "DateTime"):
        series = _utc_datetimes(series, place)
    elif column.base in ("Date",):
        _reject_times_of_day(series, place)

    if column.base == "Decimal" and series.dtype != object:
        return _numeric_to_decimal(series, column, place)

    values: Any = series
    if series.dtype == object:
        # A NumPy object array keeps pandas from coercing Decimal or list values on the
        # way, and pyarrow converts its elements in C.
        values = series.to_numpy(dtype=object)
    try:
        array = pa.array(values, type=column.arrow_type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
        position, value, reason = _find_invalid_value(series, column.arrow_type, error)
        raise _value_error(place, column, series, position, value, reason) from error

    if not column.nullable and array.null_count:
        position = pc.indices_nonzero(array.is_null())[0].as_py()
        raise _value_error(
            place,
            column,
            series,
            position,
            series.iloc[position],
            "the column is not Nullable; declare it as Nullable(...) or fill the value",
        )
    if column.element is not None and not column.element.nullable:
        _reject_null_elements(array, column, series, place)
    return array


def _reject_null_elements(
    array: pa.Array, column: ColumnType, series: pd.Series, place: _Place
) -> None:
    """Reject a None inside a list, which Arrow accepts even for a non-null item field."""
    element_nulls = pc.list_flatten(array).is_null()
    if not pc.any(element_nulls).as_py():
        return
    first_null = pc.indices_nonzero(element_nulls)[0].as_py()
    position = pc.list_parent_indices(array)[first_null].as_py()
    raise _value_error(
        place,
        column,
        series,
        position,
        series.iloc[position],
        f"the array elements are not Nullable; declare Array(Nullable({column.element.name}))"
        " or remove the None",
    )


def _numeric_to_decimal(series: pd.Series, column: ColumnType, place: _Place) -> pa.Array:
    """Convert an integer column to Decimal exactly, and reject a float column."""
    if not pd.api.types.is_integer_dtype(series.dtype):
        raise ClickHouseDataError(
            f"Invalid column {place.table}.{place.name} ({column.name}): its dtype is "
            f"{series.dtype}, which cannot hold exact decimals. Build the column from "
            "decimal.Decimal objects (for JSON, parse with parse_float=decimal.Decimal)."
        )
    integers = pa.array(series, from_pandas=True)
    try:
        array = integers.cast(column.arrow_type)
    except pa.ArrowInvalid as error:
        position, value, reason = _find_invalid_value(series, column.arrow_type, error)
        raise _value_error(place, column, series, position, value, reason) from error
    if not column.nullable and array.null_count:
        position = pc.indices_nonzero(array.is_null())[0].as_py()
        raise _value_error(place, column, series, position, None, "the column is not Nullable")
    return array


def _utc_datetimes(series: pd.Series, place: _Place) -> pd.Series:
    """Return the series converted to UTC, rejecting naive datetimes."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        position = int(series.notna().to_numpy().argmax()) if series.notna().any() else 0
        raise _naive_error(place, series, position)
    if not series.notna().any():
        return series

    aware = _aware_datetimes(series)
    if aware is not None:
        return aware.dt.tz_convert("UTC")
    for position, value in enumerate(series.tolist()):
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise _naive_error(place, series, position)
    try:
        return pd.to_datetime(series, utc=True)
    except (TypeError, ValueError):
        # The Arrow conversion that follows names the first value of the wrong type.
        return series


def _aware_datetimes(series: pd.Series) -> pd.Series | None:
    """Convert an object column of datetimes that share one time zone, else return None.

    pandas converts such a column in C. Naive values, mixed time zones and other objects
    return None, so that the caller checks the values one by one.
    """
    if pd.api.types.infer_dtype(series, skipna=True) != "datetime":
        return None
    try:
        converted = pd.to_datetime(series)
    except (TypeError, ValueError):
        return None
    return converted if isinstance(converted.dtype, pd.DatetimeTZDtype) else None


def _naive_error(place: _Place, series: pd.Series, position: int) -> ClickHouseDataError:
    value = series.iloc[position] if len(series) else None
    return ClickHouseDataError(
        f"Invalid value in {place.table}.{place.name} at row {place.first_row + position} "
        f"(index {_index_label(series, position)!r}): {value!r} is a naive datetime. "
        "Give a timezone-aware datetime, for example datetime(..., tzinfo=datetime.UTC)."
    )


def _reject_times_of_day(series: pd.Series, place: _Place) -> None:
    """Reject datetimes with a time of day in a Date column, which Arrow would truncate."""
    if pd.api.types.infer_dtype(series, skipna=True) in ("date", "empty"):
        return
    for position, value in enumerate(series.tolist()):
        if isinstance(value, dt.datetime) and value.time() != dt.time(0):
            raise ClickHouseDataError(
                f"Invalid value in {place.table}.{place.name} at row "
                f"{place.first_row + position} (index {_index_label(series, position)!r}): "
                f"{value!r} has a time of day but the column type is Date. Pass a "
                "datetime.date."
            )


def _find_invalid_value(
    series: pd.Series, arrow_type: pa.DataType, error: Exception
) -> tuple[int, Any, str]:
    """Locate the first value that Arrow cannot convert, after a whole-column failure."""
    for position, value in enumerate(series.tolist()):
        try:
            pa.array([value], type=arrow_type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as value_error:
            return position, value, str(value_error)
    return 0, series.iloc[0] if len(series) else None, str(error)


def _value_error(
    place: _Place,
    column: ColumnType,
    series: pd.Series,
    position: int,
    value: Any,
    reason: str,
) -> ClickHouseDataError:
    return ClickHouseDataError(
        f"Invalid value in {place.table}.{place.name} ({column.name}) at row "
        f"{place.first_row + position} (index {_index_label(series, position)!r}): "
        f"{value!r} does not fit: {reason}."
    )


def arrow_to_frame(table: pa.Table, columns: Sequence[tuple[str, ColumnType]]) -> pd.DataFrame:
    """Convert a query result into a DataFrame with the column types the IO manager writes.

    Decimal columns become Python `Decimal` objects, DateTime64 columns tz-aware pandas
    datetimes, Date columns `datetime.date` objects, Array columns Python lists, and
    Nullable integer and Bool columns pandas nullable dtypes, so no value passes through
    float.
    """
    table = table.select([name for name, _ in columns]).cast(arrow_schema(columns))
    data = {name: _arrow_to_series(table.column(name), column) for name, column in columns}
    return pd.DataFrame(data, columns=[name for name, _ in columns])


def _arrow_to_series(array: pa.ChunkedArray, column: ColumnType) -> pd.Series:
    if column.base == "Array":
        return pd.Series(array.to_pylist(), dtype=object)
    if column.nullable:
        # Without a mapper, pandas turns an integer column with nulls into float64.
        return array.to_pandas(types_mapper=_NULLABLE_PANDAS_TYPES.get)
    return array.to_pandas()


def _index_label(series: pd.Series, position: int) -> Any:
    """Return the DataFrame index label of a row, as a plain Python value."""
    label = series.index[position]
    return label.item() if hasattr(label, "item") else label
