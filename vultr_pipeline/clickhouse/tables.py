"""Table DDL, schema changes and atomic replacement of tables and partitions.

Nothing here imports Dagster: `TableSpec` describes a table, and the functions take a
`ClickHouseEngine`. Every write goes to a staging table first, so a failed insert leaves
the target as it was:

- `replace_table` swaps the staging table in with ``EXCHANGE TABLES``;
- `replace_partitions` moves each written partition in with ``ALTER TABLE ... REPLACE
  PARTITION ... FROM staging`` and drops the partitions that received no rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vultr_pipeline.clickhouse.column_types import (
    ColumnType,
    arrow_to_frame,
    frame_to_arrow,
    parse_column_type,
)
from vultr_pipeline.clickhouse.engine import ClickHouseEngine, quote_identifier, quote_string
from vultr_pipeline.clickhouse.errors import ClickHouseDataError, ClickHouseSchemaError

logger = logging.getLogger(__name__)

_EXISTING_COLUMNS_SQL = (
    "SELECT name, type, comment FROM system.columns "
    "WHERE database = {database:String} AND table = {table:String} ORDER BY position"
)
_TABLE_KEYS_SQL = (
    "SELECT partition_key, sorting_key FROM system.tables "
    "WHERE database = {database:String} AND name = {table:String}"
)
_STAGING_TABLES_SQL = (
    "SELECT name FROM system.tables WHERE database = {database:String} "
    "AND startsWith(name, {prefix:String})"
)
# How many offending rows an error message lists.
_MAX_REPORTED_ROWS = 5


@dataclass(frozen=True)
class TableSpec:
    """A ClickHouse table declared by its owner, not inferred from data.

    Attributes:
        database: Database name.
        table: Table name.
        columns: Column names with their parsed ClickHouse types, in table order.
        comments: Column comments by column name.
        order_by: Columns of the MergeTree sort key; empty means ``tuple()``.
        partition_column: Column named in ``PARTITION BY``, or None.
    """

    database: str
    table: str
    columns: tuple[tuple[str, ColumnType], ...]
    comments: Mapping[str, str] = field(default_factory=dict)
    order_by: tuple[str, ...] = ()
    partition_column: str | None = None

    @property
    def qualified_name(self) -> str:
        """Return ``database.table``."""
        return f"{self.database}.{self.table}"

    @property
    def column_names(self) -> list[str]:
        """Return the declared column names in order."""
        return [name for name, _ in self.columns]

    def column_type(self, name: str) -> ColumnType:
        """Return the parsed type of a declared column."""
        return dict(self.columns)[name]


def quoted_table(database: str, table: str) -> str:
    """Return ```database`.`table``` with both names validated."""
    return f"{quote_identifier(database)}.{quote_identifier(table)}"


def create_table_sql(spec: TableSpec) -> str:
    """Build the ``CREATE TABLE IF NOT EXISTS`` statement for `spec`."""
    definitions = [_column_definition(spec, name, column) for name, column in spec.columns]
    if spec.order_by:
        order_by = "(" + ", ".join(quote_identifier(name) for name in spec.order_by) + ")"
    else:
        order_by = "tuple()"
    partition_by = ""
    if spec.partition_column:
        partition_by = f"\nPARTITION BY {quote_identifier(spec.partition_column)}"
    return (
        f"CREATE TABLE IF NOT EXISTS {quoted_table(spec.database, spec.table)} (\n    "
        + ",\n    ".join(definitions)
        + f"\n)\nENGINE = MergeTree{partition_by}\nORDER BY {order_by}"
    )


def _column_definition(spec: TableSpec, name: str, column: ColumnType) -> str:
    definition = f"{quote_identifier(name)} {column.name}"
    comment = spec.comments.get(name)
    if comment:
        definition += f" COMMENT {quote_string(comment)}"
    return definition


def ensure_table(engine: ClickHouseEngine, spec: TableSpec) -> None:
    """Create the database and table if missing, and add newly declared columns.

    Raises:
        ClickHouseSchemaError: An existing column has another type than declared, or the
            existing table is partitioned by another expression.
    """
    engine.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(spec.database)}")
    existing = _existing_columns(engine, spec.database, spec.table)
    if not existing:
        engine.command(create_table_sql(spec))
        logger.info("Created table %s", spec.qualified_name)
        return

    _check_partition_key(engine, spec)
    for name, column in spec.columns:
        if name not in existing:
            _add_column(engine, spec, name, column)
            continue
        existing_type, existing_comment = existing[name]
        _check_column_type(spec, name, column, existing_type)
        comment = spec.comments.get(name, "")
        if comment and comment != existing_comment:
            engine.command(
                f"ALTER TABLE {quoted_table(spec.database, spec.table)} "
                f"COMMENT COLUMN {quote_identifier(name)} {quote_string(comment)}"
            )

    undeclared = sorted(set(existing) - set(spec.column_names))
    if undeclared:
        logger.warning(
            "Table %s has columns that the schema no longer declares: %s. New rows get "
            "their default values; drop the columns if they are no longer needed.",
            spec.qualified_name,
            ", ".join(undeclared),
        )


def _existing_columns(
    engine: ClickHouseEngine, database: str, table: str
) -> dict[str, tuple[str, str]]:
    result = engine.query_arrow(_EXISTING_COLUMNS_SQL, {"database": database, "table": table})
    rows = result.to_pylist()
    return {row["name"]: (row["type"], row["comment"]) for row in rows}


def _add_column(engine: ClickHouseEngine, spec: TableSpec, name: str, column: ColumnType) -> None:
    engine.command(
        f"ALTER TABLE {quoted_table(spec.database, spec.table)} ADD COLUMN IF NOT EXISTS "
        + _column_definition(spec, name, column)
    )
    logger.info("Added column %s %s to %s", name, column.name, spec.qualified_name)


def _check_column_type(spec: TableSpec, name: str, column: ColumnType, existing: str) -> None:
    try:
        existing_name = parse_column_type(existing).name
    except ClickHouseSchemaError:
        existing_name = existing
    if existing_name != column.name:
        raise ClickHouseSchemaError(
            f"Column {spec.qualified_name}.{name} has type {existing_name} in ClickHouse, "
            f"but the asset declares {column.name}. ClickHouse tables keep column types: "
            f"drop the table (DROP TABLE {spec.qualified_name}) and materialize again to "
            "rebuild it, or declare the new type under a new column name."
        )


def _check_partition_key(engine: ClickHouseEngine, spec: TableSpec) -> None:
    rows = engine.query_arrow(
        _TABLE_KEYS_SQL, {"database": spec.database, "table": spec.table}
    ).to_pylist()
    if not rows:
        return
    existing = _strip_key(rows[0]["partition_key"])
    expected = spec.partition_column or ""
    if existing != expected:
        raise ClickHouseSchemaError(
            f"Table {spec.qualified_name} is partitioned by {existing or 'nothing'!r}, but the "
            f"asset declares {expected or 'no partitions'!r}. Drop the table (DROP TABLE "
            f"{spec.qualified_name}) and materialize again to rebuild it."
        )
    if _strip_key(rows[0]["sorting_key"]) != ", ".join(spec.order_by):
        logger.warning(
            "Table %s keeps its sort key %r; the declared order %r applies only to a new table.",
            spec.qualified_name,
            rows[0]["sorting_key"],
            ", ".join(spec.order_by),
        )


def _strip_key(key: str) -> str:
    key = key.strip()
    if key.startswith("(") and key.endswith(")"):
        key = key[1:-1]
    return key.replace("`", "").strip()


def replace_table(engine: ClickHouseEngine, spec: TableSpec, frame: pd.DataFrame) -> int:
    """Replace all rows of the table with `frame`, atomically; return the rows written.

    The rows go into a staging table with the target's structure, which then trades
    places with the target in one ``EXCHANGE TABLES``. The old rows are dropped with the
    staging table. A failed insert drops the staging table and leaves the target as it was.

    ``EXCHANGE TABLES`` needs an Atomic database (the server default). In chDB 4.4.0 the
    ``default`` database uses the Overlay engine and new databases are Atomic; the exchange
    works in both, which the IO manager tests check.
    """
    data = frame_to_arrow(frame, spec.columns, spec.qualified_name)
    ensure_table(engine, spec)
    target = quoted_table(spec.database, spec.table)
    with _staging_table(engine, spec) as staging_name:
        staging = quoted_table(spec.database, staging_name)
        engine.insert_arrow(spec.database, staging_name, data)
        engine.command(f"EXCHANGE TABLES {staging} AND {target}")
    return data.num_rows


def replace_partitions(
    engine: ClickHouseEngine,
    spec: TableSpec,
    frame: pd.DataFrame,
    partition_values: Sequence[Any],
) -> int:
    """Replace the given partitions with the rows of `frame`; return the rows written.

    Each partition value is moved in with one ``REPLACE PARTITION`` from a staging table,
    or dropped when `frame` has no rows for it. Other partitions stay untouched.

    Raises:
        ClickHouseDataError: A row's partition column contains a value outside
            `partition_values`.
    """
    if spec.partition_column is None:
        raise ClickHouseSchemaError(f"Table {spec.qualified_name} declares no partition column.")
    data = frame_to_arrow(frame, spec.columns, spec.qualified_name)
    column_type = spec.column_type(spec.partition_column)
    allowed = pa.array(partition_values, type=column_type.arrow_type)
    present = _check_partition_values(data, spec, allowed)

    ensure_table(engine, spec)
    target = quoted_table(spec.database, spec.table)
    partition_parameter = f"{{partition:{column_type.partition_type}}}"
    with _staging_table(engine, spec) as staging_name:
        staging = quoted_table(spec.database, staging_name)
        if data.num_rows:
            engine.insert_arrow(spec.database, staging_name, data)
        for value in partition_values:
            parameters = {"partition": partition_parameter_text(value)}
            if value in present:
                engine.command(
                    f"ALTER TABLE {target} REPLACE PARTITION {partition_parameter} FROM {staging}",
                    parameters,
                )
            else:
                engine.command(
                    f"ALTER TABLE {target} DROP PARTITION {partition_parameter}", parameters
                )
    return data.num_rows


def _check_partition_values(data: pa.Table, spec: TableSpec, allowed: pa.Array) -> set[Any]:
    """Return the partition values present in `data`, rejecting values not in `allowed`."""
    assert spec.partition_column is not None
    column = data.column(spec.partition_column)
    outside = pc.invert(pc.is_in(column, value_set=allowed))
    outside = pc.fill_null(outside, True)
    if pc.any(outside).as_py():
        positions = pc.indices_nonzero(outside).to_pylist()
        examples = ", ".join(
            f"row {position}: {column[position].as_py()!r}"
            for position in positions[:_MAX_REPORTED_ROWS]
        )
        raise ClickHouseDataError(
            f"{len(positions)} rows of {spec.qualified_name} have a {spec.partition_column} "
            f"outside the partitions of this run ({examples}). This run writes "
            f"{allowed.to_pylist()!r}; set {spec.partition_column} to the partition's value "
            "(for time windows, the window start in UTC)."
        )
    return set(pc.unique(column).to_pylist())


def partition_parameter_text(value: Any) -> str:
    """Render a partition value as text for a ``{partition:Type}`` query parameter."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@contextlib.contextmanager
def _staging_table(engine: ClickHouseEngine, spec: TableSpec) -> Iterator[str]:
    """Create a staging table shaped like the target, yield its name, then drop it."""
    name = f"{spec.table}__staging_{uuid.uuid4().hex[:12]}"
    staging = quoted_table(spec.database, name)
    engine.command(f"CREATE TABLE {staging} AS {quoted_table(spec.database, spec.table)}")
    try:
        yield name
    finally:
        # SYNC frees the name and the disk space now, not after the Atomic database's delay.
        engine.command(f"DROP TABLE IF EXISTS {staging} SYNC")


def staging_tables(engine: ClickHouseEngine, database: str, table: str) -> list[str]:
    """Return the names of staging tables left for `table`, for checks and cleanup."""
    result = engine.query_arrow(
        _STAGING_TABLES_SQL, {"database": database, "prefix": f"{table}__staging_"}
    )
    return [row["name"] for row in result.to_pylist()]


def read_table(
    engine: ClickHouseEngine,
    database: str,
    table: str,
    column_names: Sequence[str] | None = None,
    where: str = "",
    parameters: Mapping[str, Any] | None = None,
    order_by: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a table into a DataFrame with exact types taken from the table's columns.

    Args:
        engine: Engine to read with.
        database: Database name.
        table: Table name.
        column_names: Columns to read, in order; None reads all columns.
        where: Optional SQL condition with ``{name:Type}`` placeholders.
        parameters: Values for the placeholders in `where`.
        order_by: Columns to sort the rows by.

    Raises:
        ClickHouseSchemaError: The table does not exist, lacks a requested column, or has a
            column type the IO manager cannot convert exactly.
    """
    existing = _existing_columns(engine, database, table)
    if not existing:
        raise ClickHouseSchemaError(
            f"Table {database}.{table} does not exist. Materialize its asset first."
        )
    names = list(column_names) if column_names is not None else list(existing)
    missing = [name for name in names if name not in existing]
    if missing:
        raise ClickHouseSchemaError(
            f"Table {database}.{table} has no columns {missing}. Materialize its asset again "
            "to add them."
        )
    columns = [(name, parse_column_type(existing[name][0])) for name in names]

    select = ", ".join(quote_identifier(name) for name in names)
    sql = f"SELECT {select} FROM {quoted_table(database, table)}"
    if where:
        sql += f" WHERE {where}"
    if order_by:
        sql += " ORDER BY " + ", ".join(quote_identifier(name) for name in order_by)
    return arrow_to_frame(engine.query_arrow(sql, parameters), columns)
