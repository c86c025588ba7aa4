"""Translate a Dagster partition selection into partition column values and a filter.

A time-window partition is stored as its window start in UTC (a ``Date`` for windows
that start at midnight, else a ``DateTime``/``DateTime64``). A static or dynamic
partition is stored as its key.
"""

from __future__ import annotations

import datetime as dt
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


@dataclass(frozen=True)
class PartitionSelection:
    """The partitions of one run or one input.

    Attributes:
        values: Partition column value of each selected partition.
        where: SQL condition that selects their rows, with ``{name:Type}`` placeholders.
        parameters: Values for the placeholders in `where`.
    """

    values: list[Any]
    where: str
    parameters: dict[str, Any] = field(default_factory=dict)


def select_partitions(
    context: dg.OutputContext | dg.InputContext, spec: TableSpec
) -> PartitionSelection:
    """Return the partition values and row filter for the context's partitions.

    Raises:
        ClickHouseSchemaError: The partitions definition or the partition column type is
            not supported.
    """
    assert spec.partition_column is not None
    column_type = spec.column_type(spec.partition_column)
    partitions_def = context.asset_partitions_def
    asset = context.asset_key.to_user_string()

    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        raise ClickHouseSchemaError(
            f"Asset {asset} uses a MultiPartitionsDefinition, which ClickHouseIOManager does "
            "not support. Use a time-window, static or dynamic partitions definition."
        )
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return _time_window_selection(context, partitions_def, spec, column_type, asset)
    return _key_selection(context, spec, column_type, asset)


def _time_window_selection(
    context: dg.OutputContext | dg.InputContext,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    spec: TableSpec,
    column_type: ColumnType,
    asset: str,
) -> PartitionSelection:
    starts = [
        _utc(partitions_def.time_window_for_partition_key(key).start)
        for key in context.asset_partition_keys
    ]
    window = context.asset_partitions_time_window
    bounds = [_utc(window.start), _utc(window.end)]

    if column_type.base in _DATE_BASES:
        for start in (*starts, *bounds):
            if start.time() != dt.time(0):
                raise ClickHouseSchemaError(
                    f"Asset {asset} has time windows starting at {start.isoformat()}, which a "
                    f"Date column cannot hold. Declare {spec.partition_column} as "
                    "DateTime64(3, 'UTC')."
                )
        values: list[Any] = [start.date() for start in starts]
        bounds_values: list[Any] = [bound.date() for bound in bounds]
    elif column_type.base in _DATETIME_BASES:
        values = starts
        bounds_values = bounds
    else:
        raise ClickHouseSchemaError(
            f"Asset {asset} is partitioned by time, so its partition column "
            f"{spec.partition_column} must be a Date or DateTime64 column, not "
            f"{column_type.name}."
        )

    column = quote_identifier(spec.partition_column or "")
    placeholder_type = column_type.partition_type
    where = (
        f"{column} >= {{partition_start:{placeholder_type}}} "
        f"AND {column} < {{partition_end:{placeholder_type}}}"
    )
    parameters = {
        "partition_start": partition_parameter_text(bounds_values[0]),
        "partition_end": partition_parameter_text(bounds_values[1]),
    }
    return PartitionSelection(values, where, parameters)


def _key_selection(
    context: dg.OutputContext | dg.InputContext,
    spec: TableSpec,
    column_type: ColumnType,
    asset: str,
) -> PartitionSelection:
    keys = list(context.asset_partition_keys)
    if column_type.base in _INTEGER_BASES:
        try:
            values: list[Any] = [int(key) for key in keys]
        except ValueError as error:
            raise ClickHouseSchemaError(
                f"Asset {asset} has partition keys {keys} that do not fit its integer "
                f"partition column {spec.partition_column}."
            ) from error
    elif column_type.base == "String":
        values = keys
    else:
        raise ClickHouseSchemaError(
            f"Asset {asset} has partition keys, so its partition column "
            f"{spec.partition_column} must be a String or integer column, not "
            f"{column_type.name}."
        )
    column = quote_identifier(spec.partition_column or "")
    where = f"{column} IN {{partition_keys:Array({column_type.partition_type})}}"
    return PartitionSelection(values, where, {"partition_keys": values})


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
