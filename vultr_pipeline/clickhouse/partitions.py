"""Translate a Dagster partition selection into partition column values and a filter.

A time-window partition is stored as its window start in UTC (a ``Date`` for windows
that start at midnight UTC, else a ``DateTime``/``DateTime64``). A static or dynamic
partition is stored as its key. A `MultiPartitionsDefinition` maps each dimension to its
own column, and a partition is the tuple of its dimensions' values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from vultr_pipeline.clickhouse.column_types import ColumnType
from vultr_pipeline.clickhouse.engine import quote_identifier
from vultr_pipeline.clickhouse.errors import ClickHouseSchemaError
from vultr_pipeline.clickhouse.tables import TableSpec, partition_parameter_text

_DATE_BASES = ("Date", "Date32")
_DATETIME_BASES = ("DateTime", "DateTime64")
_INTEGER_BASES = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")

PARTITION_EXPR_KEY = "partition_expr"


@dataclass(frozen=True)
class PartitionSelection:
    """The partitions of one run or one input.

    Attributes:
        partitions: Partition column values of each selected partition by Dagster
            partition key, in the order of `TableSpec.partition_columns`.
        where: SQL condition that selects their rows, with ``{name:Type}`` placeholders.
        parameters: Values for the placeholders in `where`.
    """

    partitions: dict[str, tuple[Any, ...]]
    where: str
    parameters: dict[str, Any] = field(default_factory=dict)


def partition_columns(
    asset: str, partitions_def: dg.PartitionsDefinition | None, partition_expr: Any
) -> tuple[str, ...]:
    """Return the partition columns named by `partition_expr`, in partition key order.

    A single-dimension definition takes a column name. A `MultiPartitionsDefinition`
    takes a dict from each dimension name to its column. The columns come back in the
    order of Dagster's sorted dimension names, which is also the order of the values in
    a `PartitionSelection`.

    Raises:
        ClickHouseSchemaError: `partition_expr` does not fit the partitions definition.
    """
    if not isinstance(partitions_def, dg.MultiPartitionsDefinition):
        if not isinstance(partition_expr, str):
            raise ClickHouseSchemaError(
                f"Asset {asset} has single-dimension partitions, so its {PARTITION_EXPR_KEY!r} "
                f"metadata must be the name of the partition column, not {partition_expr!r}."
            )
        return (partition_expr,)

    dimensions = partitions_def.partition_dimension_names
    example = ", ".join(f'"{name}": "<column>"' for name in dimensions)
    if not isinstance(partition_expr, Mapping):
        raise ClickHouseSchemaError(
            f"Asset {asset} has multi-dimensional partitions {dimensions}, so its "
            f"{PARTITION_EXPR_KEY!r} metadata must map each dimension to its column, such as "
            f"{{{example}}}, not {partition_expr!r}."
        )
    if set(partition_expr) != set(dimensions):
        raise ClickHouseSchemaError(
            f"Asset {asset} has partition dimensions {dimensions}, but its "
            f"{PARTITION_EXPR_KEY!r} metadata maps {sorted(partition_expr)}. Map exactly the "
            f"dimensions: {{{example}}}."
        )
    columns = tuple(partition_expr[name] for name in dimensions)
    if len(set(columns)) != len(columns) or not all(isinstance(name, str) for name in columns):
        raise ClickHouseSchemaError(
            f"Asset {asset} maps its partition dimensions to {dict(partition_expr)!r}. Map "
            "each dimension to its own column name."
        )
    return columns


def select_partitions(
    context: dg.OutputContext | dg.InputContext, spec: TableSpec
) -> PartitionSelection:
    """Return the partition values and row filter for the context's partitions.

    Raises:
        ClickHouseSchemaError: The partitions definition or a partition column type is
            not supported.
    """
    partitions_def = context.asset_partitions_def
    asset = context.asset_key.to_user_string()
    keys = list(context.asset_partition_keys)

    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return _multi_selection(partitions_def, keys, spec, asset)
    column = spec.partition_columns[0]
    column_type = spec.column_type(column)
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return _time_window_selection(context, partitions_def, keys, column, column_type, asset)
    partitions = {key: (_key_value(key, column, column_type, asset),) for key in keys}
    return PartitionSelection(partitions, *_values_filter(spec, list(partitions.values())))


def _time_window_selection(
    context: dg.OutputContext | dg.InputContext,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    keys: Sequence[str],
    column: str,
    column_type: ColumnType,
    asset: str,
) -> PartitionSelection:
    partitions = {
        key: (_time_value(partitions_def, key, column, column_type, asset),) for key in keys
    }
    window = context.asset_partitions_time_window
    start = _window_bound(window.start, column, column_type, asset)
    end = _window_bound(window.end, column, column_type, asset)

    quoted = quote_identifier(column)
    placeholder_type = column_type.partition_type
    where = (
        f"{quoted} >= {{partition_start:{placeholder_type}}} "
        f"AND {quoted} < {{partition_end:{placeholder_type}}}"
    )
    parameters = {
        "partition_start": partition_parameter_text(start),
        "partition_end": partition_parameter_text(end),
    }
    return PartitionSelection(partitions, where, parameters)


def _multi_selection(
    partitions_def: dg.MultiPartitionsDefinition,
    keys: Sequence[str],
    spec: TableSpec,
    asset: str,
) -> PartitionSelection:
    dimensions = partitions_def.partition_dimension_names
    partitions: dict[str, tuple[Any, ...]] = {}
    for key in keys:
        keys_by_dimension = partitions_def.get_partition_key_from_str(str(key)).keys_by_dimension
        partitions[key] = tuple(
            _dimension_value(
                partitions_def.get_partitions_def_for_dimension(dimension),
                keys_by_dimension[dimension],
                column,
                spec.column_type(column),
                asset,
            )
            for dimension, column in zip(dimensions, spec.partition_columns, strict=True)
        )
    return PartitionSelection(partitions, *_values_filter(spec, list(partitions.values())))


def _dimension_value(
    partitions_def: dg.PartitionsDefinition,
    key: str,
    column: str,
    column_type: ColumnType,
    asset: str,
) -> Any:
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return _time_value(partitions_def, key, column, column_type, asset)
    return _key_value(key, column, column_type, asset)


def _time_value(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    key: str,
    column: str,
    column_type: ColumnType,
    asset: str,
) -> Any:
    """Return the window start of partition `key` in UTC, as the column stores it."""
    start = partitions_def.time_window_for_partition_key(key).start
    return _window_bound(start, column, column_type, asset)


def _window_bound(value: dt.datetime, column: str, column_type: ColumnType, asset: str) -> Any:
    start = _utc(value)
    if column_type.base in _DATE_BASES:
        if start.time() != dt.time(0):
            raise ClickHouseSchemaError(
                f"Asset {asset} has a time window starting at {start.isoformat()} in UTC, "
                f"which the Date column {column} cannot hold. Partition boundaries are "
                "stored in UTC: give the partitions definition timezone='UTC' (the default), "
                f"or declare {column} as DateTime64(3, 'UTC') to store each window's start."
            )
        return start.date()
    if column_type.base in _DATETIME_BASES:
        return start
    raise ClickHouseSchemaError(
        f"Asset {asset} is partitioned by time, so its partition column {column} must be a "
        f"Date or DateTime64 column, not {column_type.name}."
    )


def _key_value(key: str, column: str, column_type: ColumnType, asset: str) -> Any:
    if column_type.base in _INTEGER_BASES:
        try:
            return int(key)
        except ValueError as error:
            raise ClickHouseSchemaError(
                f"Asset {asset} has partition key {key!r}, which does not fit its integer "
                f"partition column {column}. Use integer keys or a String column."
            ) from error
    if column_type.base == "String":
        return key
    raise ClickHouseSchemaError(
        f"Asset {asset} has partition keys, so its partition column {column} must be a "
        f"String or integer column, not {column_type.name}."
    )


def _values_filter(
    spec: TableSpec, partitions: Sequence[tuple[Any, ...]]
) -> tuple[str, dict[str, Any]]:
    """Build a condition matching exactly the rows of the given partition value tuples.

    When the partitions are every combination of their columns' values (a rectangle,
    as a Dagster key range is), one ``IN`` list per column suffices. Otherwise each
    partition gets its own condition.
    """
    columns = spec.partition_columns
    distinct = [
        list(dict.fromkeys(values[index] for values in partitions)) for index in range(len(columns))
    ]
    types = [spec.column_type(name).partition_type for name in columns]
    parameters: dict[str, Any] = {}

    if math.prod(len(values) for values in distinct) == len(set(partitions)):
        conditions = []
        for index, (name, values) in enumerate(zip(columns, distinct, strict=True)):
            placeholder = f"partition_values_{index}"
            conditions.append(
                f"{quote_identifier(name)} IN {{{placeholder}:Array({types[index]})}}"
            )
            parameters[placeholder] = [_parameter_value(value) for value in values]
        return " AND ".join(conditions), parameters

    alternatives = []
    for row, values in enumerate(partitions):
        equalities = []
        for index, (name, value) in enumerate(zip(columns, values, strict=True)):
            placeholder = f"partition_{row}_{index}"
            equalities.append(f"{quote_identifier(name)} = {{{placeholder}:{types[index]}}}")
            parameters[placeholder] = _parameter_value(value)
        alternatives.append("(" + " AND ".join(equalities) + ")")
    return "(" + " OR ".join(alternatives) + ")", parameters


def _parameter_value(value: Any) -> Any:
    """Keep integers for integer arrays, and render dates and times as ClickHouse text."""
    if isinstance(value, int):
        return value
    return partition_parameter_text(value)


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
